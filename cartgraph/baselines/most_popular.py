"""MostPopular: the same ranking for everyone, by number of distinct users per item."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cartgraph.baselines.base import MatrixRecommender

__all__ = ["MostPopular"]


class MostPopular(MatrixRecommender):
    """Rank items by how many distinct users interacted with them in the fitted data.

    Popularity counts distinct users (the binary matrix's column sums), not events or
    quantities: that is the definition that reproduces EVALUATION.md's reference
    numbers. Ties go to the lower item index.

    Attributes:
        popularity_: shape ``(n_items,)`` float64, distinct users per item.
    """

    def _fit_matrix(self, X: sp.csr_matrix) -> None:
        self.popularity_ = np.asarray(X.sum(axis=0), dtype=np.float64).ravel()

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(users), len(self.popularity_)))
