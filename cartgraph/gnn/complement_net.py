"""The trainable part of :class:`~cartgraph.gnn.complements.ComplementModel`.

Item features ``x_i = W·t_i + m_i·v_i`` (text projection plus an id embedding masked
to 0 for items without training pairs, so an unseen item is scored from its text);
one mean-aggregation SAGE layer over the training co-occurrence graph gives
``h_i = W₁ x_i + W₂ mean_{j ∈ N(i)} x_j``. Two heads make the score directed:

    s(a → b) = ⟨A h_a, B h_b⟩ + β(h_b)

(``β``: a learned per-target bias, e.g. batteries complement many things).
BPR against sampled negatives: uniform ones from the trainer and, with probability
``hard_fraction``, a *look-alike* of the anchor (same leaf category, similar text)
that was never bought with it, so that substitutes rank below complements.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from cartgraph.gnn.mean_sage import MeanSAGEConv, mean_adjacency
from cartgraph.gnn.sampling import PairIndex

__all__ = ["ComplementNet"]


class ComplementNet(torch.nn.Module):
    """Directed item → item scorer.

    Args:
        text: ``(I, D)`` item text vectors; src, dst: positive pairs ``(P,)`` (graph edges);
        look_alike: ``(I, I)`` binary csr of hard-negative candidates per anchor;
        dim: ``d``; item_ids: add id embeddings; hard_fraction: share of hard negatives;
        seed: initialisation.
    """

    def __init__(self, text: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, look_alike: sp.csr_matrix,
                 dim: int, item_ids: bool, hard_fraction: float, seed: int) -> None:
        super().__init__()
        n, device = text.shape[0], text.device
        self.text, self.hard_fraction = text, hard_fraction
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.proj = torch.nn.Linear(text.shape[1], dim)
            self.item = torch.nn.Parameter(torch.randn(n, dim) * 0.1) if item_ids else None
            self.conv = MeanSAGEConv(dim, dim)
            self.head_src = torch.nn.Linear(dim, dim, bias=False)
            self.head_dst = torch.nn.Linear(dim, dim, bias=False)
            self.bias = torch.nn.Linear(dim, 1)
        self.to(device)
        warm = torch.zeros(n, device=device)
        warm[src] = 1.0
        warm[dst] = 1.0
        self.register_buffer("warm", warm[:, None])
        self.adj = mean_adjacency(torch.stack([dst, src]), n, n)  # a aggregates its partners b
        self.positives = PairIndex(src, dst, n)
        self.alike_ptr = torch.as_tensor(look_alike.indptr.astype(np.int64), device=device)
        self.alike_idx = torch.as_tensor(look_alike.indices.astype(np.int64), device=device)
        self.gen = torch.Generator(device=device).manual_seed(seed)

    def on_epoch_start(self, generator: torch.Generator) -> None:
        """Derive this epoch's hard-negative stream from the trainer's generator (resumable)."""
        self.gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)))

    def encode(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(src factors (I, d), dst factors (I, d), dst bias (I,))``."""
        x = self.proj(self.text)
        if self.item is not None:
            x = x + self.item * self.warm
        h = self.conv(x, self.adj)
        return self.head_src(h), self.head_dst(h), self.bias(h).squeeze(-1)

    def hard_negatives(self, anchors: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        """``neg`` with a ``hard_fraction`` share replaced by look-alikes of the anchor
        that are not its positives (anchors without any keep their uniform negative)."""
        if self.hard_fraction <= 0:
            return neg
        start, count = self.alike_ptr[anchors], self.alike_ptr[anchors + 1] - self.alike_ptr[anchors]
        r = torch.rand(len(anchors), generator=self.gen, device=anchors.device)
        pick = torch.floor(torch.rand(len(anchors), generator=self.gen, device=anchors.device) * count.clamp(min=1))
        cand = self.alike_idx[(start + pick.long()).clamp(max=max(len(self.alike_idx) - 1, 0))] \
            if len(self.alike_idx) else neg
        use = (r < self.hard_fraction) & (count > 0)
        use = use & ~self.positives.contains(anchors, cand)
        return torch.where(use, cand, neg)

    def bpr_terms(self, anchors: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor):
        """Scores of ``a → pos`` and ``a → neg`` (shape ``(b,)``) and the L2 term on id embeddings."""
        neg = self.hard_negatives(anchors, neg)
        s, t, bias = self.encode()
        sa = s[anchors]
        l2 = torch.zeros((), device=anchors.device)
        if self.item is not None:
            l2 = 0.5 * sum((self.item[i].pow(2) * self.warm[i]).sum() for i in (anchors, pos, neg))
        return (sa * t[pos]).sum(-1) + bias[pos], (sa * t[neg]).sum(-1) + bias[neg], l2
