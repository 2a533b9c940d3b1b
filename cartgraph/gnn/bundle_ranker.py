"""Ranking existing bundles for a user: a two-view graph model with cross-view contrast.

Two views of every user and bundle (in the spirit of CrossCBR, Ma et al. KDD 2022):

- **item view**: light propagation on the user–item graph gives user and item
  vectors; a bundle is the mean of its items' vectors (bundle–item membership);
- **bundle view**: light propagation on the user–bundle graph of training choices.

Each propagation returns ``E⁰ + Σ_l normalize(Â^l E⁰)``. The score is the sum of the
two views' dot products, ``s(u, b) = ⟨u_I, b_I⟩ + ⟨u_B, b_B⟩``. Training: BPR on
(user, chosen bundle, random other bundle) plus ``contrast_weight`` × an in-batch
InfoNCE loss that pulls the two views of the same user (and of the same bundle)
together (temperature ``temperature``; the batch's distinct users and bundles, so
a repeated id is never its own negative); edges of the three graphs are dropped at
random each epoch (``edge_dropout``) as augmentation; Adam with coupled weight decay.

Hybrid with a linear co-choice model: the graph score is fused with EASE (Steck 2019)
fitted on the same training choices, after standardising both per user:
``s = z(s_graph) + w * z(s_EASE)``. The weight ``w`` is chosen on the validation split
among :data:`FUSION_GRID` (``fusion_weight="auto"``); the linear model catches
bundle-to-bundle co-choice patterns that two smoothed views blur. It needs a dense
``n_bundles x n_bundles`` matrix, so it is skipped above :data:`MAX_FUSION_BUNDLES`.

With ``contrast_weight=0``, ``edge_dropout=0`` and ``fusion_weight=0`` the same model
is a BGCN-style two-view baseline (item view + bundle view, BPR only).

Item text vectors, when given, enter the item view as a learned projection added to
the item id embeddings; a user described only by a few items (no history, e.g. the
Steam catalogue) is scored from those items' item-view vectors and, when the model
has text, their text vectors.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from cartgraph.baselines.base import MatrixRecommender
from cartgraph.errors import ConfigError
from cartgraph.evaluation.topk import topk
from cartgraph.gnn.propagation import EdgeGraph, SpMM, SymmetricSpMM
from cartgraph.gnn.score_fusion import row_zscore
from cartgraph.gnn.state_file import load_state, save_state
from cartgraph.gnn.trainer import TrainConfig, TrainHistory, train_bpr

__all__ = ["BundleRanker", "bgcn_style", "FUSION_GRID", "MAX_FUSION_BUNDLES"]

FUSION_GRID: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3)
"""Weights of the EASE score tried on the validation split when ``fusion_weight="auto"``."""

MAX_FUSION_BUNDLES = 20_000
"""Above this many bundles the dense EASE matrix is not built (fusion off)."""




def _propagate(adj: torch.Tensor, x: torch.Tensor, layers: int) -> torch.Tensor:
    out, layer = x, x
    for _ in range(layers):
        layer = SymmetricSpMM.apply(adj, layer)
        out = out + F.normalize(layer, dim=1)
    return out


def _info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    logits = a @ b.T / temperature
    return F.cross_entropy(logits, torch.arange(len(a), device=a.device))


class _TwoViews(torch.nn.Module):
    """The trainable part; graphs are plain tensors, rebuilt each epoch when dropping edges."""

    def __init__(self, ui: tuple[torch.Tensor, torch.Tensor], ub: tuple[torch.Tensor, torch.Tensor],
                 bi: tuple[torch.Tensor, torch.Tensor], sizes: tuple[int, int, int], ranker: "BundleRanker",
                 text: torch.Tensor | None, gen: torch.Generator) -> None:
        super().__init__()
        self.n_users, self.n_bundles, self.n_items = sizes
        self.ui = EdgeGraph(*ui, self.n_users, self.n_items)
        self.ub = EdgeGraph(*ub, self.n_users, self.n_bundles)
        self.bi = EdgeGraph(*bi, self.n_bundles, self.n_items)
        self.r = ranker
        d = ranker.embedding_dim
        device = ui[0].device

        def xavier(n: int) -> torch.nn.Parameter:
            std = (2.0 / (n + d)) ** 0.5
            return torch.nn.Parameter((torch.randn(n, d, generator=gen) * std).to(device))

        self.users, self.bundles, self.items = xavier(self.n_users), xavier(self.n_bundles), xavier(self.n_items)
        self.text = text
        self.proj = None if text is None else torch.nn.Linear(text.shape[1], d, bias=False).to(device)
        self.set_graphs(None)

    def set_graphs(self, gen: torch.Generator | None) -> None:
        """Build the three normalised graphs, dropping edges when ``gen`` is given."""
        p = self.r.edge_dropout
        self.adj_ui = self.ui.adjacency(self.ui.keep_mask(p, gen))
        self.adj_ub = self.ub.adjacency(self.ub.keep_mask(p, gen))
        self.agg, self.agg_t = self.bi.row_mean(self.bi.keep_mask(p, gen))

    def on_epoch_start(self, gen: torch.Generator) -> None:
        if self.r.edge_dropout > 0:
            self.set_graphs(gen)

    def item_ego(self) -> torch.Tensor:
        return self.items if self.proj is None else self.items + self.proj(self.text)

    def views(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(u_item_view, b_item_view, u_bundle_view, b_bundle_view, item_vectors)``."""
        layers = self.r.num_layers
        iv = _propagate(self.adj_ui, torch.cat([self.users, self.item_ego()]), layers)
        u_i, items = iv[: self.n_users], iv[self.n_users:]
        b_i = SpMM.apply(self.agg, self.agg_t, items)
        bv = _propagate(self.adj_ub, torch.cat([self.users, self.bundles]), layers)
        return u_i, b_i, bv[: self.n_users], bv[self.n_users:], items

    def bpr_terms(self, users, pos, neg):
        u_i, b_i, u_b, b_b, _ = self.views()
        ui, ub = u_i[users], u_b[users]
        s_pos = (ui * b_i[pos]).sum(-1) + (ub * b_b[pos]).sum(-1)
        s_neg = (ui * b_i[neg]).sum(-1) + (ub * b_b[neg]).sum(-1)
        zero = s_pos.new_zeros(())
        if self.r.contrast_weight <= 0:
            return s_pos, s_neg, zero
        t = self.r.temperature
        uu, bb = torch.unique(users), torch.unique(pos)  # a repeated id is no negative of itself
        c = 0.5 * (_info_nce(u_i[uu], u_b[uu], t) + _info_nce(b_i[bb], b_b[bb], t))
        return s_pos, s_neg, zero, self.r.contrast_weight * c


class BundleRanker(MatrixRecommender):
    """Recommend existing bundles (packs, curated sets) to users.

    Args:
        embedding_dim: vector size ``d`` (default 64).
        num_layers: propagation depth of both views (default 1).
        contrast_weight: weight of the cross-view InfoNCE loss (default 0.04; 0 = off).
        temperature: InfoNCE temperature (default 0.25).
        edge_dropout: share of edges dropped per epoch in each graph (default 0.2).
        epochs, batch_size, lr, weight_decay (Adam's), eval_every, patience, seed,
            checkpoint, progress: training settings (:class:`~cartgraph.gnn.trainer.TrainConfig`).
        device: ``"cpu"``, ``"cuda"`` or None (CUDA when available).
        fusion_weight: weight of the EASE co-choice score: a number, or ``"auto"``
            (default) to choose it on ``valid`` (0.1 without a validation split).
        ease_lambda: EASE's L2 regularisation (default 200).

    Data used by :meth:`fit`: ``dataset.user_bundles`` (rows whose ``split`` is
    ``"train"``, or every row when no split is set), ``dataset.events`` (user–item
    graph) and ``dataset.bundles`` (bundle contents).

    Shapes: ``recommend(users (b,), k)`` → bundle indices ``(b, k)`` and scores ``(b, k)``.
    """

    def __init__(self, embedding_dim: int = 64, num_layers: int = 1, *, contrast_weight: float = 0.04,
                 temperature: float = 0.25, edge_dropout: float = 0.2, epochs: int = 100, batch_size: int = 2048,
                 lr: float = 1e-3, weight_decay: float = 1e-4, eval_every: int = 5, patience: int = 4,
                 seed: int = 0, checkpoint: str | None = None, progress: bool = True,
                 device: str | None = None, fusion_weight: float | str = "auto", ease_lambda: float = 200.0) -> None:
        if fusion_weight != "auto" and not (isinstance(fusion_weight, (int, float)) and fusion_weight >= 0):
            raise ConfigError(f"fusion_weight must be 'auto' or a number >= 0, got {fusion_weight!r}")
        if not 0 <= edge_dropout < 1:
            raise ConfigError(f"edge_dropout must be in [0, 1), got {edge_dropout}")
        if temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {temperature}")
        self.embedding_dim, self.num_layers = embedding_dim, num_layers
        self.contrast_weight, self.temperature, self.edge_dropout = contrast_weight, temperature, edge_dropout
        self.config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=0.0,
                                  adam_weight_decay=weight_decay, eval_every=eval_every, patience=patience,
                                  seed=seed, checkpoint=checkpoint, progress=progress)
        self.device = device
        self.fusion_weight, self.ease_lambda = fusion_weight, ease_lambda

    # ------------------------------------------------------------------ training
    def fit(self, dataset, valid=None, item_vectors: np.ndarray | None = None) -> "BundleRanker":
        """Learn from ``dataset`` (see the class docstring).

        Args:
            valid: a :class:`~cartgraph.evaluation.splits.Split` over bundles (e.g.
                ``splits.youshu(ds, stage="valid")``) for early stopping on Recall@20.
            item_vectors: optional text vectors, shape ``(n_items, t)``, rows in
                ``dataset.item_vocab`` order.
        """
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.item_vocab_, self.bundle_vocab_, self.user_vocab_ = dataset.item_vocab, dataset.bundle_vocab, dataset.user_vocab
        n_users, n_bundles, n_items = len(self.user_vocab_), len(self.bundle_vocab_), len(self.item_vocab_)
        ub = dataset.user_bundles
        if ub["split"].notna().any():
            ub = ub[ub["split"] == "train"]
        self.user_items_ = self._matrix(self.user_vocab_.indices(ub["user_id"]), self.bundle_vocab_.indices(ub["bundle_id"]),
                                  (n_users, n_bundles))
        ev = dataset.events[dataset.events["user_id"].notna()]
        ui = self._matrix(self.user_vocab_.indices(ev["user_id"]), self.item_vocab_.indices(ev["item_id"]), (n_users, n_items))
        members = dataset.bundle_items()
        bi = self._matrix(self.bundle_vocab_.indices(members["bundle_id"]), self.item_vocab_.indices(members["item_id"]),
                          (n_bundles, n_items))
        self.members_ = bi
        if item_vectors is not None and item_vectors.shape[0] != n_items:
            raise ConfigError(f"item_vectors has {item_vectors.shape[0]} rows but the dataset has {n_items} items")
        text = None if item_vectors is None else torch.as_tensor(np.asarray(item_vectors, np.float32), device=device)
        self.text_ = None if item_vectors is None else np.asarray(item_vectors, np.float32)

        def edges(m: sp.csr_matrix):
            c = m.tocoo()
            return (torch.as_tensor(c.row, dtype=torch.long, device=device),
                    torch.as_tensor(c.col, dtype=torch.long, device=device))

        gen = torch.Generator().manual_seed(self.config.seed)
        self.module_ = _TwoViews(edges(ui), edges(self.user_items_), edges(bi), (n_users, n_bundles, n_items), self, text, gen)
        pairs = edges(self.user_items_)
        validate = None
        if valid is not None:
            from cartgraph.evaluation import evaluate

            def validate() -> float:
                self._cache()
                return evaluate(self, valid, ks=(20,), progress=False)["recall@20"]

        if len(pairs[0]):
            self.history_: TrainHistory = train_bpr(self.module_, pairs[0], pairs[1], n_bundles, self.config, validate)
        else:
            self.history_ = TrainHistory()
        self._cache()
        self._fit_fusion(valid)
        return self

    def _fit_fusion(self, valid) -> None:
        """Fit the EASE co-choice model and set ``fusion_weight_`` (chosen on ``valid`` when auto)."""
        self.ease_, self.fusion_weight_ = None, 0.0
        n_bundles = self.user_items_.shape[1]
        if self.fusion_weight == 0 or n_bundles > MAX_FUSION_BUNDLES or self.user_items_.nnz == 0:
            return
        from cartgraph.baselines import EASE

        self.ease_ = EASE(self.ease_lambda).fit_matrix(self.user_items_)
        if self.fusion_weight != "auto":
            self.fusion_weight_ = float(self.fusion_weight)
            return
        if valid is None:
            self.fusion_weight_ = 0.1
            return
        from cartgraph.evaluation import evaluate

        best, chosen = -1.0, 0.0
        for w in FUSION_GRID:
            self.fusion_weight_ = w
            score = evaluate(self, valid, ks=(20,), progress=False)["recall@20"]
            if score > best + 1e-12:
                best, chosen = score, w
        self.fusion_weight_ = chosen

    @staticmethod
    def _matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
        m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
        m.data[:] = 1.0
        return m

    def _cache(self) -> None:
        self.module_.set_graphs(None)
        with torch.no_grad():
            u_i, b_i, u_b, b_b, items = (t.float().cpu().numpy() for t in self.module_.views())
        self.user_factors_ = np.hstack([u_i, u_b])
        self.bundle_factors_ = np.hstack([b_i, b_b])
        self.item_factors_ = items

    # ------------------------------------------------------------------ serving
    def _recommend_batch_size(self) -> int:
        return 1024

    def _score(self, users: np.ndarray) -> np.ndarray:
        graph = self.user_factors_[users] @ self.bundle_factors_.T
        if getattr(self, "ease_", None) is None or not getattr(self, "fusion_weight_", 0.0):
            return graph
        return row_zscore(graph) + self.fusion_weight_ * row_zscore(self.ease_.scores(users))

    def recommend_bundles(self, users, k: int = 10, exclude_seen: bool = True):
        """Like :meth:`recommend` with external user ids in and external bundle ids out."""
        self._check_fitted()
        scalar = np.ndim(users) == 0
        idx = self.user_vocab_.indices(np.atleast_1d(np.asarray(users, dtype=object)))
        items, scores = self.recommend(idx, k, exclude_seen)
        ids = self.bundle_vocab_.ids[items]
        return (ids[0], scores[0]) if scalar else (ids, scores)

    def recommend_for_items(self, item_ids, k: int = 10, exclude_containing: bool = False):
        """Bundles for a new user described by a few items (external ids), best first.

        The user's item-view vector is the mean of the items' item-view vectors (one
        propagation step from those items); with text vectors, the cosine between the
        mean text of the items and each bundle's mean text is added. Returns
        ``(bundle_ids, scores)``, 1-D.
        """
        self._check_fitted()
        idx = self.item_vocab_.indices(list(item_ids))
        if len(idx) == 0:
            raise ConfigError("recommend_for_items needs at least one item id")
        d = self.embedding_dim
        user = self.item_factors_[idx].mean(axis=0)
        scores = self.bundle_factors_[:, :d] @ user
        if self.text_ is not None:
            t = self.text_[idx].mean(axis=0)
            bt = self.members_ @ self.text_ / np.maximum(self.members_.sum(axis=1), 1)
            bt = np.asarray(bt)
            cos = bt @ t / np.maximum(np.linalg.norm(bt, axis=1) * np.linalg.norm(t), 1e-12)
            scores = scores / max(np.abs(scores).max(), 1e-12) + cos
        if exclude_containing:
            has = np.asarray(self.members_[:, idx].sum(axis=1)).ravel() > 0
            scores = np.where(has, -np.inf, scores)
        order, vals = topk(scores.astype(np.float64), k)
        return self.bundle_vocab_.ids[order], vals.astype(np.float32)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write settings, factors, vocabularies and the seen matrix to one file (atomic)."""
        self._check_fitted()
        settings = {k: getattr(self, k) for k in ("embedding_dim", "num_layers", "contrast_weight", "temperature",
                                                   "edge_dropout", "device", "fusion_weight", "ease_lambda")}
        state = {"settings": settings,
                 "config": dataclasses.asdict(self.config),
                 "factors": (self.user_factors_, self.bundle_factors_, self.item_factors_), "text": self.text_,
                 "vocabs": (list(self.user_vocab_.ids), list(self.bundle_vocab_.ids), list(self.item_vocab_.ids)),
                 "seen": self.user_items_, "members": self.members_, "fusion_weight_": self.fusion_weight_}
        save_state(path, "cartgraph-bundle-ranker", 1, state)

    @classmethod
    def load(cls, path: str | Path) -> "BundleRanker":
        """Read a file written by :meth:`save`."""
        from cartgraph.vocab import Vocabulary

        state = load_state(path, "cartgraph-bundle-ranker", 1)
        cfg = state["config"]
        model = cls(**state["settings"], epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"],
                    weight_decay=cfg["adam_weight_decay"], eval_every=cfg["eval_every"], patience=cfg["patience"],
                    seed=cfg["seed"], progress=cfg["progress"])
        model.user_factors_, model.bundle_factors_, model.item_factors_ = state["factors"]
        model.text_ = state["text"]
        users, bundles, items = state["vocabs"]
        model.user_vocab_, model.bundle_vocab_ = Vocabulary(users, "user"), Vocabulary(bundles, "bundle")
        model.item_vocab_ = Vocabulary(items, "item")
        model.user_items_, model.members_ = state["seen"], state["members"]
        model.fusion_weight_, model.ease_ = state["fusion_weight_"], None
        if model.fusion_weight_:  # EASE is a deterministic closed form: refit rather than store n_bundles^2
            from cartgraph.baselines import EASE

            model.ease_ = EASE(model.ease_lambda).fit_matrix(model.user_items_)
        return model


def bgcn_style(**kwargs) -> BundleRanker:
    """The BGCN-style baseline: the same two views, BPR only (no contrast, no edge dropout, no fusion)."""
    return BundleRanker(contrast_weight=0.0, edge_dropout=0.0, fusion_weight=0.0, **kwargs)
