"""Fixed item–item base scores for :class:`~cartgraph.gnn.hetero.TextHeteroGNN` (``base="ease"``).

The GNN can learn a *residual* on top of a linear co-occurrence model: with EASE's
item–item weights ``B`` (Steck, 2019; zero diagonal, fitted on the same training
matrix ``X``) a user's base scores are ``b(u, ·) = x_u B``, and the model scores

    ``s(u, i) = a · b(u, i) + g · ⟨x_u, x_i⟩``

with a learned base scale ``a > 0`` and a learned gate ``g`` that starts at 0, so the
untrained model ranks exactly as EASE does and training (end to end, through the
softmax loss) adds what the text, category and graph signals know beyond it.

EASE has no column for an item nobody bought (cold start). Its column is imputed from
the item's ``k`` nearest warm items by text cosine, weighted by that cosine (positive
part, normalised): ``B[:, c] = Σ_j w_cj B[:, j]``. A new colour of a known product
inherits the known product's co-purchase column; the GNN's text/category path adds to
it like for any other item.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cartgraph.errors import ConfigError
from cartgraph.gnn.similar import text_neighbours

__all__ = ["ease_item_weights", "impute_cold_columns", "BASES"]

BASES = (None, "ease")


def ease_item_weights(interactions: sp.csr_matrix, lam: float) -> np.ndarray:
    """EASE's ``B``, shape ``(I, I)`` float32, zero diagonal; rows and columns of items
    without interactions are zero.

    Args:
        interactions: binary user × item matrix ``(U, I)``.
        lam: the ridge weight λ (> 0).
    """
    from cartgraph.baselines import EASE

    if not lam > 0:
        raise ConfigError(f"base_lambda must be > 0, got {lam!r}")
    X = sp.csr_matrix(interactions, dtype=np.float32)
    ease = EASE(lam, solver="primal").fit_matrix(X)
    n = X.shape[1]
    full = np.zeros((n, n), dtype=np.float32)
    items = ease.items_
    full[np.ix_(items, items)] = ease.weights_.astype(np.float32)
    return full


def impute_cold_columns(weights: np.ndarray, text: np.ndarray, warm: np.ndarray, k: int) -> np.ndarray:
    """``weights`` (``(I, I)``) with each cold item's column set to the cosine-weighted
    mean of its ``k`` nearest warm items' columns (by text vector); in place, returned.

    Args:
        text: ``(I, D)`` item text vectors.
        warm: ``(I,)`` bool, items with training interactions.
        k: neighbours per cold item (0: cold columns stay 0).
    """
    if k < 0:
        raise ConfigError(f"base_neighbours must be >= 0, got {k}")
    cold, hot = np.flatnonzero(~warm), np.flatnonzero(warm)
    if k == 0 or not len(cold) or not len(hot):
        return weights
    nbrs, sims = text_neighbours(text, cold, hot, k)              # (n_cold, k) warm items, cosines
    w_all = np.maximum(sims, 0.0)
    w_all /= np.maximum(w_all.sum(axis=1, keepdims=True), 1e-12)
    for start in range(0, len(cold), 256):                        # (I, 256, k) gathers at a time
        c, nbr, w = cold[start:start + 256], nbrs[start:start + 256], w_all[start:start + 256]
        # B[:, c] = Σ_j w_cj B[:, nbr]  →  (I, b)
        weights[:, c] = np.einsum("ibk,bk->ib", weights[:, nbr], w.astype(np.float32))
    return weights
