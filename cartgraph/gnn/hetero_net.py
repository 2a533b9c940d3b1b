"""The trainable part of :class:`~cartgraph.gnn.hetero.TextHeteroGNN`.

Inputs (layer 0): users have id embeddings ``U ∈ R^{U×d}``; an item is
``W·t_i + m_i·v_i`` — a learned projection of its text vector ``t_i`` plus an id
embedding ``v_i`` that is masked (``m_i = 0``) for items without training
interactions, so a cold-start item is represented by its text (and its categories)
alone, exactly as at serving time; categories have id embeddings.

Layers: ``L`` PyG ``HeteroConv`` layers (``SAGEConv`` with mean aggregation, run as
one sparse product per edge type by :class:`~cartgraph.gnn.mean_sage.MeanSAGEConv`, or
``GATConv`` without self loops, as bipartite GAT needs) over user→item, item→user,
item→category and category→item edges, summed per destination type. The final
embedding is the mean of the layer outputs ``x⁰..x^L`` (LightGCN's layer combination);
``score(u, i) = ⟨x_u, x_i⟩``.

With a fixed base (``base``, shape ``(U, I_warm)``: e.g. EASE scores of the training
users, see :mod:`cartgraph.gnn.hetero_base`) the score is
``a · base(u, i) + g · ⟨x_u, x_i⟩`` with a learned scale ``a = exp(log_base_scale)`` and a
gate ``g`` initialised to 0 (the untrained model ranks as the base does).

Without user ids (``user_ids=False``) a user's layer-0 feature is the mean of its bought
items' layer-0 features (``x_u⁰ = mean_{i ∈ N(u)} x_i⁰``), so a user is represented by
its items and nothing can memorise a user's pairs. Fold-out training
(:mod:`cartgraph.gnn.hetero_fold`) trains on one graph and serves on another
(:meth:`HeteroNet.set_graph`); ``columns``/``mask`` choose the softmax's items and hide
the items each user already had.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch_geometric.nn import GATConv, HeteroConv

from cartgraph.gnn.hetero_graph import BOUGHT, HeteroGraph
from cartgraph.gnn.mean_sage import MeanAdjacency, MeanSAGEConv, mean_adjacency
from cartgraph.gnn.propagation import EdgeGraph, SpMM

__all__ = ["HeteroNet", "CONVS"]

CONVS = ("sage", "gat")


def _conv(kind: str, dim: int, heads: int) -> torch.nn.Module:
    if kind == "sage":
        return MeanSAGEConv((dim, dim), dim)
    return GATConv((dim, dim), dim // heads, heads=heads, add_self_loops=False)


class HeteroNet(torch.nn.Module):
    """Heterogeneous message passing over users, items and categories.

    Args:
        graph: the fixed graph (edges on the model's device).
        text: item text vectors, shape ``(I, D)``.
        dim: embedding size ``d``; layers: ``L``; conv: ``"sage"`` or ``"gat"``;
        heads: GAT heads (``dim`` divisible by it); item_ids: add item id embeddings;
        dropout: on layer inputs during training; seed: initialisation.
        base: optional fixed base scores of the training users at the softmax's items,
            ``(U, I_c)``; base_scale: initial ``a``.
        user_ids: learn user id embeddings (default); False: users are the mean of
            their items' layer-0 features.
        columns: item indices of the softmax / BPR items, ``(I_c,)`` (default: the items
            with edges in ``graph``).
        mask: ``(U, I_c)`` bool, pairs left out of the softmax (items a user already had).
    """

    def __init__(self, graph: HeteroGraph, text: torch.Tensor, dim: int, layers: int, conv: str,
                 heads: int, item_ids: bool, dropout: float, seed: int,
                 base: torch.Tensor | None = None, base_scale: float = 1.0, *, user_ids: bool = True,
                 columns: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> None:
        super().__init__()
        device = text.device
        self.graph, self.text, self.dropout = graph, text, dropout
        n = graph.num_nodes
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            user = torch.randn(n["user"], dim) * 0.1  # drawn either way: same draws for the rest
            self.user = torch.nn.Parameter(user) if user_ids else None
            self.item = torch.nn.Parameter(torch.randn(n["item"], dim) * 0.1) if item_ids else None
            self.category = torch.nn.Parameter(torch.randn(n["category"], dim) * 0.1) if n["category"] else None
            self.proj = torch.nn.Linear(text.shape[1], dim)
            self.convs = torch.nn.ModuleList(
                HeteroConv({et: _conv(conv, dim, heads) for et in graph.edge_index}, aggr="sum")
                for _ in range(layers))
        self.base = base
        if base is not None:
            self.log_base_scale = torch.nn.Parameter(torch.tensor(float(base_scale)).log())
            self.gate = torch.nn.Parameter(torch.zeros(()))
        self.to(device)
        self.conv_kind = conv
        self.register_buffer("warm", torch.as_tensor(graph.item_degree > 0, device=device).float()[:, None])
        self.warm_items = (torch.as_tensor((graph.item_degree > 0).nonzero()[0], device=device)
                           if columns is None else columns.to(device))
        self.mask = mask
        self.id_mask = self.warm
        self.cold_dropout = 0.0
        self.set_graph(graph)

    def set_graph(self, graph: HeteroGraph) -> None:
        """Message passing over ``graph`` from now on (same node counts); the id mask
        (which items have trained id embeddings) stays that of the constructor's graph."""
        n = graph.num_nodes
        self.graph = graph
        self.full_edges = graph.edge_index if self.conv_kind == "gat" else {
            (s, r, d): mean_adjacency(e, n[s], n[d]) for (s, r, d), e in graph.edge_index.items()}
        self.edges = dict(self.full_edges)
        bought = graph.edge_index[BOUGHT]
        self._bought = EdgeGraph(bought[1], bought[0], n["item"], n["user"]) if self.conv_kind == "sage" else None
        self._user_mean = mean_adjacency(bought.flip(0), n["item"], n["user"]) if self.user is None else None

    def on_epoch_start(self, generator: torch.Generator) -> None:
        """Cold-start practice: for this epoch a random ``cold_dropout`` share of the warm
        items lose their id embedding and their buyers' messages, so the text and category
        path alone must score them — as it must for items nobody has bought yet."""
        if self.cold_dropout <= 0 or self._bought is None:
            return
        cold = (torch.rand(len(self.warm), generator=generator, device=generator.device) < self.cold_dropout)
        cold = cold.to(self.warm.device)
        self.id_mask = self.warm * (~cold).float()[:, None]
        keep = ~cold[self._bought.by_row[0]]  # edge k's item is row k of the item-side graph
        keep_by_edge = torch.empty_like(keep)
        keep_by_edge[self._bought.by_row[2]] = keep
        self.edges[BOUGHT] = MeanAdjacency(*self._bought.row_mean(keep_by_edge))

    def ego(self) -> dict[str, torch.Tensor]:
        """Layer-0 features per node type, shapes ``(n_type, d)``."""
        item = self.proj(self.text)
        if self.item is not None:
            item = item + self.item * (self.id_mask if self.training else self.warm)
        if self.user is None:  # a user is the mean of its items (no id to memorise pairs with)
            adj = self._user_mean
            user = SpMM.apply(adj.matrix, adj.transpose, item)
        else:
            user = self.user
        x = {"user": user, "item": item}
        if self.category is not None:
            x["category"] = self.category
        return x

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final ``(users (U, d), items (I, d))``."""
        x = self.ego()
        total = dict(x)
        for conv in self.convs:
            if self.training and self.dropout > 0:
                x = {k: F.dropout(v, self.dropout) for k, v in x.items()}
            x = conv(x, self.edges if self.training else self.full_edges)
            total = {k: total[k] + x[k] for k in total}
        scale = 1.0 / (len(self.convs) + 1)
        return total["user"] * scale, total["item"] * scale

    def bpr_terms(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor):
        """Scores of ``(u, pos)`` and ``(u, neg)``, shape ``(b,)`` each, and the L2 term on
        the batch's layer-0 id embeddings (see :class:`~cartgraph.gnn.trainer.BPRModel`).

        ``pos`` and ``neg`` index :attr:`warm_items` (items with training interactions):
        an item nobody has bought yet is never a negative, so it is not pushed down for
        being new; its score comes from its text and categories alone.
        """
        pos_w, neg_w = pos, neg
        pos, neg = self.warm_items[pos], self.warm_items[neg]
        eu, ei = self()
        u, i, j = eu[users], ei[pos], ei[neg]
        l2 = self.user[users].pow(2).sum() if self.user is not None else eu.new_zeros(())
        if self.item is not None:
            l2 = l2 + (self.item[pos].pow(2) * self.warm[pos]).sum() + (self.item[neg].pow(2) * self.warm[neg]).sum()
        sp, sn = (u * i).sum(-1), (u * j).sum(-1)
        if self.base is not None:
            a = self.log_base_scale.exp()
            sp = a * self.base[users, pos_w] + self.gate * sp
            sn = a * self.base[users, neg_w] + self.gate * sn
        return sp, sn, 0.5 * l2

    def softmax_terms(self, users: torch.Tensor, pos: torch.Tensor):
        """Scores of the batch's users against every warm item, shape ``(b, I_warm)``
        (columns in :attr:`warm_items` order, as the trainer's item indices), and the L2
        term on the batch's layer-0 id embeddings (users and positives).

        Cold items are not in the softmax: an item nobody has bought yet is never pushed
        down for being new (as in :meth:`bpr_terms`).
        """
        eu, ei = self()
        logits = eu[users] @ ei[self.warm_items].T
        if self.base is not None:
            logits = self.log_base_scale.exp() * self.base[users] + self.gate * logits
        if self.mask is not None:
            logits = logits.masked_fill(self.mask[users], float("-inf"))
        l2 = self.user[users].pow(2).sum() if self.user is not None else eu.new_zeros(())
        if self.item is not None:
            p = self.warm_items[pos]
            l2 = l2 + (self.item[p].pow(2) * self.warm[p]).sum()
        return logits, 0.5 * l2
