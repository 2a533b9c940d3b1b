"""Learned COMPLEMENTS edges: a directed item → item complementarity model.

Trained on items bought together (baskets) and explicit bundles, with negatives that
separate complements from substitutes (look-alikes of the anchor in its own leaf
category that were never bought with it); see
:class:`~cartgraph.gnn.complement_net.ComplementNet` for the math and
:mod:`~cartgraph.gnn.complement_pairs` for the training pairs. Uses the shared seeded
BPR trainer; items without any training pair get scores from their text.

Example::

    model = ComplementModel(epochs=30).fit(dataset, item_vectors=vectors)
    idx, scores = model.complements([3, 17], k=10)       # (2, 10) each
    edges = model.top_edges(10)                           # src, dst (item ids), score
    model.write(store, m=10)                              # COMPLEMENTS, model=model.name
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from numpy.typing import ArrayLike

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, NotFittedError
from cartgraph.evaluation.topk import topk
from cartgraph.gnn.complement_edges import ComplementEdges
from cartgraph.gnn.complement_metrics import group_precision
from cartgraph.gnn.complement_net import ComplementNet
from cartgraph.gnn.complement_pairs import co_occurrence, group_matrix, leaf_categories, look_alikes, positive_pairs
from cartgraph.gnn.item_features import text_features
from cartgraph.gnn.score_fusion import row_zscore
from cartgraph.gnn.state_file import save_state
from cartgraph.gnn.trainer import TrainConfig, TrainHistory, train_bpr

__all__ = ["ComplementModel", "COUNT_WEIGHTS"]

_FORMAT = "cartgraph-complements"

COUNT_WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
"""Weights of the observed co-occurrence tried on validation when ``count_weight="auto"``."""




class ComplementModel(ComplementEdges):
    """Directed complementarity scorer ``s(a → b)`` over a catalogue.

    Args:
        embedding_dim: ``d`` (default 64).
        per_item: positive partners kept per anchor, most frequent first (default 50).
        min_count: a pair needs at least this co-occurrence (default 1).
        bundle_weight: weight of one shared bundle relative to one shared basket (default 2).
        weight_by_count: list a pair ``1 + floor(log2(count))`` times in each epoch, so
            frequent partners weigh more (default True).
        count_weight: serve ``z(s(a → ·)) + w · z(log(1 + count(a, ·)))`` (per-anchor
            z-scores; the observed co-occurrence the model learned from), ``w`` this
            value, or ``"auto"``: chosen among :data:`COUNT_WEIGHTS` by precision@10 on
            ``fit``'s ``valid`` groups (required then). Default 0: the learned score alone.
        hard_fraction: share of negatives drawn among the anchor's look-alikes (default 0.3).
        look_alike_k, look_alike_cosine: look-alike candidates: this many text neighbours
            with at least this cosine, same leaf category when categories exist.
        item_ids: add id embeddings for items with training pairs (default True).
        name: the ``model`` property of written COMPLEMENTS edges.
        epochs, batch_size, lr, weight_decay, eval_every, patience, seed, checkpoint,
            progress, tensorboard: see :class:`~cartgraph.gnn.trainer.TrainConfig`.
        device: ``"cpu"``, ``"cuda"`` or None (CUDA when available).
    """

    def __init__(self, embedding_dim: int = 64, *, per_item: int = 50, min_count: float = 1.0,
                 bundle_weight: float = 2.0, weight_by_count: bool = True, hard_fraction: float = 0.3,
                 look_alike_k: int = 20, look_alike_cosine: float = 0.8, item_ids: bool = True,
                 count_weight: float | str = 0.0, name: str = "complement-gnn",
                 epochs: int = 30, batch_size: int = 8192, lr: float = 5e-3, weight_decay: float = 1e-4,
                 eval_every: int = 2, patience: int = 3, seed: int = 0, checkpoint: str | None = None,
                 progress: bool = True, tensorboard: str | None = None, device: str | None = None) -> None:
        _check(embedding_dim, per_item, min_count, bundle_weight, hard_fraction, look_alike_k, name, epochs,
               batch_size, lr)
        self.embedding_dim, self.per_item, self.min_count = embedding_dim, per_item, min_count
        self.bundle_weight, self.hard_fraction, self.weight_by_count = bundle_weight, hard_fraction, weight_by_count
        self.look_alike_k, self.look_alike_cosine = look_alike_k, look_alike_cosine
        self.item_ids, self.name, self.device = item_ids, name, device
        if not (count_weight == "auto" or (isinstance(count_weight, (int, float)) and count_weight >= 0)):
            raise ConfigError(f"count_weight must be a number >= 0 or 'auto', got {count_weight!r}")
        self.count_weight = count_weight
        self.config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                                  eval_every=eval_every, patience=patience, seed=seed, checkpoint=checkpoint,
                                  progress=progress, tensorboard=tensorboard)

    # ------------------------------------------------------------------ training
    def fit(self, dataset: Dataset, *, item_vectors: np.ndarray | None = None, valid: pd.DataFrame | None = None,
            exclude_bundles: ArrayLike | None = None) -> "ComplementModel":
        """Learn from ``dataset``'s baskets and bundles.

        Args:
            item_vectors: ``(n_items, dim)`` text vectors in item-index order
                (default: encode the items, cached).
            valid: held-out groups, columns ``group_id`` and ``item_id`` (e.g. baskets
                of a later period); precision@10 on them drives early stopping.
            exclude_bundles: bundle ids not to learn from (e.g. held-out test bundles).
        """
        if self.count_weight == "auto" and valid is None:
            raise ConfigError("count_weight='auto' chooses the weight on held-out groups: pass valid=")
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        vectors = text_features(dataset, item_vectors)
        counts = co_occurrence(dataset, bundle_weight=self.bundle_weight,
                               exclude_bundles=None if exclude_bundles is None else np.asarray(exclude_bundles))
        src, dst = positive_pairs(counts, self.per_item, self.min_count, repeat_log2=self.weight_by_count)
        if not len(src):
            raise ConfigError(f"{dataset.name}: no item pair shares a basket or bundle "
                              f"(min_count={self.min_count}); nothing to learn complements from")
        alike = look_alikes(vectors, leaf_categories(dataset), self.look_alike_k, self.look_alike_cosine)
        s, d = (torch.as_tensor(a, device=device) for a in (src, dst))
        self.module_ = ComplementNet(torch.as_tensor(vectors, device=device), s, d, alike, self.embedding_dim,
                                     self.item_ids, self.hard_fraction, self.config.seed)
        self.item_ids_ = np.asarray(dataset.item_vocab.ids, dtype=object)
        self.n_pairs_ = len(src)  # with repeats
        self.counts_ = counts
        self.count_weight_ = 0.0 if self.count_weight == "auto" else float(self.count_weight)
        validate = None
        if valid is not None:
            groups = group_matrix(_check_groups(valid), dataset, "group_id")

            def validate() -> float:
                self._cache_factors()
                return group_precision(self.complements(np.arange(dataset.n_items), k=10)[0], groups)

        self.history_: TrainHistory = train_bpr(self.module_, s, d, dataset.n_items, self.config, validate)
        self._cache_factors()
        if self.count_weight == "auto":
            self.count_weight_scores_ = {}
            for w in COUNT_WEIGHTS:
                self.count_weight_ = w
                self.count_weight_scores_[w] = validate()
            best = max(self.count_weight_scores_.values())
            self.count_weight_ = min(w for w, v in self.count_weight_scores_.items() if v == best)
        return self

    def _cache_factors(self) -> None:
        with torch.no_grad():
            s, t, b = self.module_.encode()
        self.src_factors_, self.dst_factors_ = s.float().cpu().numpy(), t.float().cpu().numpy()
        self.dst_bias_ = b.float().cpu().numpy()

    # ------------------------------------------------------------------ serving
    def _check_fitted(self) -> None:
        if not hasattr(self, "src_factors_"):
            raise NotFittedError("ComplementModel is not fitted yet; call fit(dataset) first")

    def score(self, src: ArrayLike, dst: ArrayLike) -> np.ndarray:
        """The learned ``s(src[k] → dst[k])`` (without ``count_weight`` fusion, which is
        per anchor) for index arrays of equal shape ``(n,)``, float32."""
        self._check_fitted()
        a, b = self._indices(src, "src"), self._indices(dst, "dst")
        if a.shape != b.shape:
            raise ConfigError(f"src and dst must have the same shape, got {a.shape} and {b.shape}")
        s = np.einsum("ij,ij->i", self.src_factors_[a], self.dst_factors_[b]) + self.dst_bias_[b]
        return s.astype(np.float32)

    def complements(self, items: ArrayLike, k: int = 10, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best complements of each item index, best first (the item itself excluded).

        Shapes: ``items (b,)`` → ``(b, k)`` int64 indices and float32 scores; a scalar
        gives ``(k,)``. Ties go to the lower item index.
        """
        self._check_fitted()
        scalar = np.ndim(items) == 0
        a = np.atleast_1d(self._indices(items, "items"))
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        k = min(int(k), max(len(self.item_ids_) - 1, 1))
        idx, vals = np.empty((len(a), k), np.int64), np.empty((len(a), k), np.float32)
        for start in range(0, len(a), batch_size):
            rows = a[start:start + batch_size]
            s = self._served_rows(rows)
            s[np.arange(len(rows)), rows] = -np.inf
            idx[start:start + len(rows)], vals[start:start + len(rows)] = topk(s, k)
        return (idx[0], vals[0]) if scalar else (idx, vals)

    def served_score(self, src: ArrayLike, dst: ArrayLike) -> np.ndarray:
        """The score :meth:`complements` ranks by (the learned score, fused per anchor with the
        observed co-occurrence when ``count_weight_`` > 0) for index arrays of equal shape
        ``(n,)``, float32."""
        self._check_fitted()
        a, b = self._indices(src, "src"), self._indices(dst, "dst")
        if a.shape != b.shape:
            raise ConfigError(f"src and dst must have the same shape, got {a.shape} and {b.shape}")
        if not self.count_weight_:
            return self.score(a, b)
        rows, inv = np.unique(a, return_inverse=True)
        return self._served_rows(rows)[inv.ravel(), b.ravel()].reshape(a.shape).astype(np.float32)

    def _served_rows(self, rows: np.ndarray) -> np.ndarray:
        """Served scores ``(len(rows), n_items)`` of anchors ``rows`` (see :meth:`served_score`)."""
        s = self.src_factors_[rows] @ self.dst_factors_.T + self.dst_bias_
        if self.count_weight_:
            s = row_zscore(s) + self.count_weight_ * row_zscore(np.log1p(self.counts_[rows].toarray()))
        return s

    # ------------------------------------------------------------------ persistence
    def _settings(self) -> dict:
        return {"embedding_dim": self.embedding_dim, "per_item": self.per_item, "min_count": self.min_count,
                "bundle_weight": self.bundle_weight, "weight_by_count": self.weight_by_count,
                "hard_fraction": self.hard_fraction,
                "look_alike_k": self.look_alike_k, "look_alike_cosine": self.look_alike_cosine,
                "item_ids": self.item_ids, "count_weight": self.count_weight, "name": self.name,
                "config": dataclasses.asdict(self.config)}

    def save(self, path: str | Path) -> None:
        """Write settings, item ids and learned factors to one file (atomic)."""
        self._check_fitted()
        save_state(path, _FORMAT, 1, {"settings": self._settings(), "item_ids": list(self.item_ids_),
                                      "src_factors": self.src_factors_, "dst_factors": self.dst_factors_,
                                      "dst_bias": self.dst_bias_, "count_weight_": self.count_weight_,
                                      "counts": (self.counts_.indptr, self.counts_.indices, self.counts_.data,
                                                 self.counts_.shape)})

    @classmethod
    def load(cls, path: str | Path) -> "ComplementModel":
        """Read a file written by :meth:`save` (serving only)."""
        model, state = cls._restore(path, _FORMAT)
        model.src_factors_, model.dst_factors_ = state["src_factors"], state["dst_factors"]
        model.dst_bias_, model.count_weight_ = state["dst_bias"], state["count_weight_"]
        indptr, indices, data, shape = state["counts"]
        model.counts_ = sp.csr_matrix((data, indices, indptr), shape=shape)
        return model


def _check_groups(valid: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(valid, pd.DataFrame) or not {"group_id", "item_id"} <= set(valid.columns):
        found = list(valid.columns) if isinstance(valid, pd.DataFrame) else type(valid).__name__
        raise ConfigError(f"valid must be a DataFrame with columns group_id, item_id; found {found}")
    return valid


def _check(dim, per_item, min_count, bundle_weight, hard_fraction, look_alike_k, name, epochs, batch_size, lr) -> None:
    if dim < 1 or per_item < 1 or epochs < 1 or batch_size < 1:
        raise ConfigError(f"embedding_dim, per_item, epochs and batch_size must be >= 1, got "
                          f"{dim}, {per_item}, {epochs}, {batch_size}")
    if not min_count > 0 or bundle_weight < 0 or look_alike_k < 0 or not lr > 0:
        raise ConfigError(f"min_count and lr must be > 0, bundle_weight and look_alike_k >= 0; got "
                          f"{min_count}, {lr}, {bundle_weight}, {look_alike_k}")
    if not 0.0 <= hard_fraction <= 1.0:
        raise ConfigError(f"hard_fraction must be in [0, 1], got {hard_fraction}")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"name must be a non-empty string, got {name!r}")
