"""How much a user wants each item: the walk's relevance signal.

A relevance source is any object with ``scores(user) -> (n_items,)`` (higher is
better; ``user`` is a user index or ``None`` for an anonymous shopper). Three ship
here; a GNN or the facade can pass its own:

- :class:`MatrixRelevance` wraps a fitted :class:`~cartgraph.baselines.MatrixRecommender`
  (ItemKNN, EASE, LightGCN ...);
- :class:`VectorRelevance` is a dot product of user and item embeddings (text
  vectors, or GNN embeddings), cheap on large catalogues;
- :class:`PopularityRelevance` (the fallback for unknown users).
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from cartgraph.errors import ConfigError

__all__ = ["Relevance", "MatrixRelevance", "VectorRelevance", "PopularityRelevance", "standardize"]


class Relevance(Protocol):
    """``scores(user)``: float array ``(n_items,)`` for a user index, or for ``None`` (anonymous)."""

    def scores(self, user: int | None) -> np.ndarray: ...


def standardize(scores: np.ndarray) -> np.ndarray:
    """Scores as z-values over the catalogue, clipped to [-3, 6] and divided by 3, float32.

    Models score on different scales; the policy's weights must not depend on that.
    """
    s = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(s)
    if not finite.any():
        return np.zeros(len(s), np.float32)
    mu, sd = s[finite].mean(), s[finite].std()
    z = np.where(finite, (s - mu) / (sd if sd > 0 else 1.0), -3.0)
    return (np.clip(z, -3.0, 6.0) / 3.0).astype(np.float32)


class PopularityRelevance:
    """The same scores for every user: ``popularity`` ``(n_items,)``."""

    def __init__(self, popularity: np.ndarray) -> None:
        self.popularity = np.asarray(popularity, dtype=np.float32)

    def scores(self, user: int | None) -> np.ndarray:
        return self.popularity


class MatrixRelevance:
    """A fitted matrix recommender's raw scores; anonymous users get ``fallback``.

    Args:
        model: fitted, with ``scores(users) -> (b, n_items)`` (``MatrixRecommender``).
        fallback: ``(n_items,)`` scores for ``user=None`` (e.g. popularity).
    """

    def __init__(self, model, fallback: np.ndarray | None = None) -> None:
        self.model = model
        self.fallback = fallback

    def scores(self, user: int | None) -> np.ndarray:
        if user is None:
            if self.fallback is None:
                raise ConfigError("user=None (anonymous) needs MatrixRelevance(fallback=...)")
            return self.fallback
        return np.asarray(self.model.scores([int(user)]))[0]


class VectorRelevance:
    """``user_vectors[u] · item_vectors``: shapes ``(n_users, d)`` and ``(n_items, d)``.

    ``fallback`` (``(n_items,)``) serves ``user=None`` and users whose vector is zero.
    """

    def __init__(self, user_vectors: np.ndarray, item_vectors: np.ndarray, fallback: np.ndarray) -> None:
        self.user_vectors = np.asarray(user_vectors, dtype=np.float32)
        self.item_vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
        self.fallback = np.asarray(fallback, dtype=np.float32)
        if self.user_vectors.shape[1] != self.item_vectors.shape[1]:
            raise ConfigError(f"VectorRelevance: user vectors have dim {self.user_vectors.shape[1]}, "
                              f"item vectors {self.item_vectors.shape[1]}")

    def scores(self, user: int | None) -> np.ndarray:
        if user is None or not self.user_vectors[int(user)].any():
            return self.fallback
        return self.item_vectors @ self.user_vectors[int(user)]
