"""ItemKNN: item-based collaborative filtering with cosine similarity.

``sim(i, j) = |U_i ∩ U_j| / sqrt(|U_i| · |U_j|)`` on the binary user × item matrix
(self-similarity 0). A user's score for item ``j`` is the sum of the similarities
between ``j`` and the user's items, restricted to a neighbourhood of ``n_neighbors``:

- ``neighborhood="target"`` (default, EVALUATION.md's reference): only the top
  neighbours *of the item being scored* count — ``score(u, j) = Σ_{i ∈ I_u ∩ N(j)} sim(i, j)``;
- ``neighborhood="history"``: each history item ``i`` votes only for its own top
  neighbours — ``score(u, j) = Σ_{i ∈ I_u, j ∈ N(i)} sim(i, j)`` (moves results by up to 0.03).

Neighbour ties go to the lower item index (the shared top-k rule).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cartgraph.baselines.base import MatrixRecommender
from cartgraph.errors import ConfigError
from cartgraph.evaluation.topk import topk

__all__ = ["ItemKNN"]

_NEIGHBORHOODS = ("target", "history")


class ItemKNN(MatrixRecommender):
    """Cosine item-kNN on co-occurrence.

    Args:
        n_neighbors: neighbours kept per item (default 100).
        neighborhood: ``"target"`` (default) or ``"history"``, see the module docstring.
        block_size: items whose similarity column is computed at once (memory
            ``block_size × n_items`` floats).
        batch_size: users scored at once in ``recommend``.

    Attributes:
        similarity_: ``(n_items, n_items)`` csr, ``similarity_[i, j]`` = weight of
            history item ``i`` when scoring item ``j`` (pruned to the neighbourhood).
    """

    def __init__(self, n_neighbors: int = 100, neighborhood: str = "target", *, block_size: int = 1024,
                 batch_size: int = 512) -> None:
        super().__init__(batch_size=batch_size)
        self.n_neighbors = n_neighbors
        self.neighborhood = neighborhood
        self.block_size = block_size

    def _fit_matrix(self, X: sp.csr_matrix) -> None:
        if self.neighborhood not in _NEIGHBORHOODS:
            raise ConfigError(f"ItemKNN: neighborhood must be one of {_NEIGHBORHOODS}, got {self.neighborhood!r}")
        if self.n_neighbors < 1:
            raise ConfigError(f"ItemKNN: n_neighbors must be ≥ 1, got {self.n_neighbors}")
        pruned = _top_cosine(X, self.n_neighbors, self.block_size)  # row j = item j's neighbours
        # pruned[j, i] = sim(j, i) for i in N(j). "target": weight of history i for target j is
        # pruned[j, i], i.e. the transpose; "history": i votes for j in N(i), i.e. pruned itself.
        self.similarity_ = (pruned.T if self.neighborhood == "target" else pruned).tocsr()

    def _score(self, users: np.ndarray) -> np.ndarray:
        return (self.user_items_[users] @ self.similarity_).toarray()


def _top_cosine(X: sp.csr_matrix, n_neighbors: int, block_size: int) -> sp.csr_matrix:
    """Row ``j``: the ``n_neighbors`` largest positive cosine similarities of item ``j``."""
    Xc = X.T.tocsr().astype(np.float64)  # items × users
    norms = np.sqrt(np.asarray(Xc.multiply(Xc).sum(axis=1)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    Xn = sp.diags(inv) @ Xc
    XnT = Xn.T.tocsc()
    n = X.shape[1]
    k = min(n_neighbors, max(n - 1, 1))
    rows, cols, vals = [], [], []
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        sim = (Xn[start:stop] @ XnT).toarray()
        sim[np.arange(stop - start), np.arange(start, stop)] = 0.0
        idx, top = topk(sim, k)
        keep = top > 0
        rows.append(np.repeat(np.arange(start, stop), keep.sum(axis=1)))
        cols.append(idx[keep])
        vals.append(top[keep])
    data = np.concatenate(vals) if vals else np.zeros(0)
    return sp.csr_matrix((data, (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
