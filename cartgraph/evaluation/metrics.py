"""Ranking metrics of the evaluation protocol (EVALUATION.md).

All metrics start from a *hit matrix*: ``hits[i, r]`` is True when the item ranked
``r`` (0-based) for evaluated user ``i`` is one of the user's held-out relevant items.
``n_relevant[i]`` is the size of that user's held-out set (always ≥ 1).

- Recall@K = hits in the top K / ``n_relevant`` (not / min(n, K)).
- NDCG@K: binary gains, DCG = Σ hit_r / log2(r + 2), ideal DCG over
  ``min(n_relevant, K)`` positions (the LightGCN convention).
- Hit@K: 1 if any hit in the top K.
- MRR@K: 1 / (rank of the first hit + 1), 0 without a hit in the top K.
- Coverage@K: share of the catalogue recommended (top K) to at least one user.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cartgraph.errors import ConfigError

__all__ = ["METRICS", "hit_matrix", "recall", "ndcg", "hit_rate", "mrr", "ranking_metrics", "coverage"]

METRICS: tuple[str, ...] = ("recall", "ndcg", "hit", "mrr")
"""Per-user metrics :func:`ranking_metrics` returns (``"<name>@<k>"``)."""


def hit_matrix(items: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Which recommended items are relevant.

    Args:
        items: shape ``(b, k)`` int item indices, ``-1`` for "no recommendation".
        relevant: shape ``(b, n_items)`` sparse, nonzero = relevant (row i ↔ items[i]).

    Returns:
        bool array, shape ``(b, k)``.
    """
    items = np.asarray(items, dtype=np.int64)
    if items.ndim != 2 or items.shape[0] != relevant.shape[0]:
        raise ConfigError(f"hit_matrix: items has shape {items.shape}, expected ({relevant.shape[0]}, k)")
    dense = relevant.toarray() != 0
    valid = items >= 0
    hits = np.take_along_axis(dense, np.where(valid, items, 0), axis=1)
    return hits & valid


def _top(hits: np.ndarray, k: int) -> np.ndarray:
    if k < 1 or k > hits.shape[1]:
        raise ConfigError(f"cut-off k={k} outside 1..{hits.shape[1]} (ranked lists have {hits.shape[1]} items)")
    return hits[:, :k]


def recall(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Recall@k per user, shape ``(b,)``."""
    return _top(hits, k).sum(axis=1) / np.asarray(n_relevant, dtype=np.float64)


def ndcg(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k per user (binary gains, ideal DCG over min(n_relevant, k))."""
    discounts = 1.0 / np.log2(np.arange(k) + 2.0)
    dcg = (_top(hits, k) * discounts).sum(axis=1)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])
    return dcg / ideal[np.minimum(np.asarray(n_relevant), k)]


def hit_rate(hits: np.ndarray, k: int) -> np.ndarray:
    """Hit@k per user: 1.0 if any relevant item is in the top k."""
    return _top(hits, k).any(axis=1).astype(np.float64)


def mrr(hits: np.ndarray, k: int) -> np.ndarray:
    """MRR@k per user: reciprocal rank of the first hit in the top k (0 if none)."""
    top = _top(hits, k)
    first = top.argmax(axis=1)
    return np.where(top.any(axis=1), 1.0 / (first + 1.0), 0.0)


def ranking_metrics(hits: np.ndarray, n_relevant: np.ndarray, ks: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` at every cut-off: ``{"recall@20": (b,) array, ...}``."""
    n_relevant = np.asarray(n_relevant)
    if (n_relevant < 1).any():
        raise ConfigError("ranking_metrics: every evaluated user needs at least one relevant item")
    out: dict[str, np.ndarray] = {}
    for k in ks:
        out[f"recall@{k}"] = recall(hits, n_relevant, k)
        out[f"ndcg@{k}"] = ndcg(hits, n_relevant, k)
        out[f"hit@{k}"] = hit_rate(hits, k)
        out[f"mrr@{k}"] = mrr(hits, k)
    return out


def coverage(items: np.ndarray, n_items: int, k: int) -> float:
    """Share of the ``n_items`` catalogue that appears in some user's top ``k``.

    Args:
        items: shape ``(n_users, >= k)`` recommended indices (``-1`` = none).
    """
    top = np.asarray(items)[:, :k].ravel()
    return float(np.unique(top[top >= 0]).size / n_items) if n_items else 0.0
