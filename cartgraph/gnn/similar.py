"""Nearest items by cosine of learned item factors (``similar_items`` of the graph models)."""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from cartgraph.errors import ConfigError
from cartgraph.evaluation.topk import topk

__all__ = ["cosine_neighbours"]


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
