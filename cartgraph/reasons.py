"""Plain-language reasons for a recommendation, from the interaction matrix alone.

Any model's output can be explained the ItemKNN way: the item of the user's history
most often bought by the same people as the recommended one. Model-specific
explanations (complements, walks) build on this in later stages.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["Reason", "co_occurrence_reason"]


@dataclass(frozen=True)
class Reason:
    """Why ``item`` suits a user: ``anchor`` (a history item) shares ``common`` buyers with it."""

    item: int
    anchor: int | None
    cosine: float
    common: int

    def text(self, title_of) -> str:
        """A sentence such as ``bought by 12 customers who also bought Milk Frother (cos 0.41)``."""
        if self.anchor is None or self.common == 0:
            return "popular with customers overall"
        return f"{self.common} customers also bought {title_of(self.anchor)} (cos {self.cosine:.2f})"


def co_occurrence_reason(matrix: sp.csc_matrix, history: np.ndarray, item: int) -> Reason:
    """The history item with the highest buyer-overlap cosine to ``item``.

    Args:
        matrix: binary user × item matrix in CSC form, shape ``(n_users, n_items)``.
        history: the user's item indices, shape ``(h,)``.
        item: the recommended item index.
    """
    if len(history) == 0:
        return Reason(item, None, 0.0, 0)
    target = matrix[:, [item]]
    hist = matrix[:, history]
    common = np.asarray((hist.T @ target).todense()).ravel()
    sizes = np.asarray(hist.sum(axis=0)).ravel() * float(target.sum())
    cos = np.divide(common, np.sqrt(sizes), out=np.zeros_like(common, dtype=float), where=sizes > 0)
    best = int(np.argmax(cos))
    return Reason(item, int(history[best]), float(cos[best]), int(common[best]))
