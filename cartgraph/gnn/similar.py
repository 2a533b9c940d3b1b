"""Nearest items by cosine: of learned item factors (``similar_items`` of the graph models),
and of text vectors within a pool of items (e.g. a cold item's nearest warm items)."""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from cartgraph.errors import ConfigError
from cartgraph.evaluation.topk import topk

__all__ = ["cosine_neighbours", "text_neighbours"]


def cosine_neighbours(factors: np.ndarray, items: ArrayLike, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` items whose rows of ``factors`` are closest by cosine; the item itself excluded.

    Shapes: ``factors (n_items, d)``, ``items (b,)`` → ``(b, k)`` indices and scores; a
    scalar item gives ``(k,)``. Ties go to the lower item index.
    """
    scalar = np.ndim(items) == 0
    i = np.atleast_1d(np.asarray(items))
    n = len(factors)
    if i.size and (not np.issubdtype(i.dtype, np.integer) or i.min() < 0 or i.max() >= n):
        raise ConfigError(f"items must be item indices in 0..{n - 1}, got {items!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    f = factors / np.maximum(np.linalg.norm(factors, axis=1, keepdims=True), 1e-12)
    scores = f[i] @ f.T
    scores[np.arange(len(i)), i] = -np.inf
    idx, vals = topk(scores, min(int(k), max(n - 1, 1)))
    return (idx[0], vals[0]) if scalar else (idx, vals)


def text_neighbours(text: np.ndarray, query: np.ndarray, pool: np.ndarray, k: int,
                    block: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` items of ``pool`` closest by cosine to each item of ``query``.

    Args:
        text: ``(I, D)`` item text vectors (any norm).
        query, pool: item indices, shapes ``(q,)`` and ``(p,)``; an item is never its own
            neighbour.
        k: neighbours per query item (clipped to the pool size).

    Returns:
        ``(neighbours, cosines)``, shapes ``(q, k)`` int64 (item indices) and ``(q, k)``
        float32, best first.
    """
    t = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)
    t = t.astype(np.float32)
    k = min(k, len(pool) - 1 if np.isin(query, pool).any() else len(pool))
    nbr = np.zeros((len(query), max(k, 0)), np.int64)
    cos = np.zeros((len(query), max(k, 0)), np.float32)
    if k <= 0:
        return nbr, cos
    for start in range(0, len(query), block):
        q = query[start:start + block]
        sim = t[q] @ t[pool].T                                          # (b, p)
        sim[q[:, None] == pool[None, :]] = -np.inf
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sim, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        nbr[start:start + len(q)] = pool[top]
        cos[start:start + len(q)] = np.take_along_axis(sim, top, axis=1)
    return nbr, cos
