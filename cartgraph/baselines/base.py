"""Shared machinery of recommenders that score from the binary user × item matrix.

A subclass implements ``_fit_matrix(X)`` (learn from ``X``, shape ``(n_users, n_items)``
csr float32 with 1 where the user interacted) and ``_score(users)`` (dense scores,
shape ``(b, n_items)``). :class:`MatrixRecommender` supplies ``fit``, ``recommend``
(batching, masking of seen items, the protocol's top-k tie rule) and the checks.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, NotFittedError
from cartgraph.evaluation.topk import topk

__all__ = ["MatrixRecommender"]


class MatrixRecommender:
    """Base of the matrix-based baselines (implements the ``RecommenderModel`` contract).

    Args:
        batch_size: users scored at once inside :meth:`recommend` (bounds memory to
            about ``batch_size × n_items`` floats).
    """

    def __init__(self, batch_size: int = 512) -> None:
        self.batch_size = batch_size

    def fit(self, dataset: Dataset) -> "MatrixRecommender":
        """Learn from ``dataset.interactions()`` (binary, every event kind); return ``self``."""
        if self.batch_size < 1:
            raise ConfigError(f"{type(self).__name__}: batch_size must be ≥ 1, got {self.batch_size}")
        return self.fit_matrix(dataset.interactions())

    def fit_matrix(self, matrix: sp.spmatrix) -> "MatrixRecommender":
        """Learn from a binary user × item matrix, shape ``(n_users, n_items)``; return ``self``."""
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        self._fit_matrix(matrix)
        self.user_items_ = matrix
        return self

    def scores(self, users: ArrayLike) -> np.ndarray:
        """Raw scores of every item for user indices, shape ``(b, n_items)`` (no masking);
        for fusing several models."""
        self._check_fitted()
        return np.asarray(self._score(np.atleast_1d(np.asarray(users, dtype=np.int64))))

    def _recommend_batch_size(self) -> int:
        """Users scored at once in :meth:`recommend` (models whose ``batch_size`` means a
        training batch override this)."""
        return self.batch_size

    def _fit_matrix(self, X: sp.csr_matrix) -> None:
        raise NotImplementedError

    def _score(self, users: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def n_items_(self) -> int:
        self._check_fitted()
        return self.user_items_.shape[1]

    def _check_fitted(self) -> None:
        if not hasattr(self, "user_items_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(dataset) first")

    def recommend(self, users: ArrayLike, k: int = 10,
                  exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items per user (see ``RecommenderModel.recommend``).

        Shapes:
            users ``(b,)`` → items ``(b, k)`` int64, scores ``(b, k)`` float32; a scalar
            user gives ``(k,)`` arrays. ``k`` larger than the catalogue is clipped.
        """
        self._check_fitted()
        scalar = np.ndim(users) == 0
        users = np.atleast_1d(np.asarray(users))
        if users.ndim != 1 or (users.size and not np.issubdtype(users.dtype, np.integer)):
            raise ConfigError(f"users must be integer user indices (scalar or 1-D), got dtype {users.dtype}")
        n_users = self.user_items_.shape[0]
        if users.size and (users.min() < 0 or users.max() >= n_users):
            raise ConfigError(f"user indices must be in 0..{n_users - 1}; got {users.min()}..{users.max()}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        k = min(int(k), self.n_items_)
        items = np.empty((len(users), k), dtype=np.int64)
        scores = np.empty((len(users), k), dtype=np.float32)
        step = self._recommend_batch_size()
        for start in range(0, len(users), step):
            batch = users[start:start + step]
            items[start:start + len(batch)], scores[start:start + len(batch)] = self._recommend_rows(batch, k, exclude_seen)
        return (items[0], scores[0]) if scalar else (items, scores)

    def _recommend_rows(self, batch: np.ndarray, k: int, exclude_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` of one batch of validated user indices, shapes ``(b, k)``; models
        that score on a GPU override this (see ``LightGCN``)."""
        s = np.array(self._score(batch), dtype=np.float64)
        if exclude_seen:
            rows, cols = self._seen_entries(batch)
            s[rows, cols] = -np.inf
        return topk(s, k)

    def _seen_entries(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row in batch, item) pairs of the batch users' training interactions."""
        seen = self.user_items_[batch]
        return np.repeat(np.arange(len(batch)), np.diff(seen.indptr)), seen.indices
