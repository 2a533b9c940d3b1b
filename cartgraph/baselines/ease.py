"""EASE (Steck, 2019): a closed-form linear item-item model.

With ``G = XᵀX + λI`` and ``P = G⁻¹`` the weights are ``B = I − P·diag(P)⁻¹``
(``B_ij = −P_ij / P_jj``, zero diagonal) and a user's scores are ``x_u B``.

Two exact ways to get there, picked by ``solver="auto"`` (the smaller dense matrix):

- primal: invert the ``m × m`` item Gram matrix (Cholesky, float64) — ``O(m³)``;
- dual (Woodbury), when there are fewer users than items: with ``K = λI + XXᵀ``,
  ``P = (I − Xᵀ K⁻¹ X) / λ``, so only a ``u × u`` system and a ``u × m`` matrix
  ``Z = K⁻¹X`` are stored, and ``x_u P = (x_u − (x_u Xᵀ) Z) / λ``.

Only items and users with at least one interaction take part (the others form an
independent ``λI`` block whose weights are 0). When neither form fits in
``max_bytes`` the fit raises :class:`~cartgraph.errors.ConfigError` saying so
(Gowalla's 40,981 items and 29,858 users need ~13 GB either way).
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from cartgraph.baselines.base import MatrixRecommender
from cartgraph.errors import ConfigError

__all__ = ["EASE", "ease_memory_bytes"]

_SOLVERS = ("auto", "primal", "dual")


def ease_memory_bytes(n_users: int, n_items: int) -> dict[str, int]:
    """Bytes of the dense float64 matrices of each solver (``{"primal": .., "dual": ..}``)."""
    return {"primal": 8 * n_items * n_items, "dual": 8 * (n_users * n_users + n_users * n_items)}


class EASE(MatrixRecommender):
    """Embarrassingly shallow autoencoder with L2 weight ``lam``.

    Args:
        lam: the ridge weight λ (EVALUATION.md tunes it on validation among
            50, 200, 500, 1000, 3000; see :func:`cartgraph.baselines.tune_ease`).
        solver: ``"auto"`` (default), ``"primal"`` or ``"dual"``.
        max_bytes: largest dense working set allowed (default 4 GiB).
        batch_size: users scored at once in ``recommend``.

    Attributes:
        solver_: the solver used. ``items_``: the active item indices (≥ 1 interaction).
        weights_: primal only, ``(len(items_), len(items_))`` float64 ``B``.
    """

    def __init__(self, lam: float = 500.0, *, solver: str = "auto", max_bytes: int = 4 << 30,
                 batch_size: int = 512) -> None:
        super().__init__(batch_size=batch_size)
        self.lam = lam
        self.solver = solver
        self.max_bytes = max_bytes

    def _fit_matrix(self, X: sp.csr_matrix) -> None:
        if not self.lam > 0:
            raise ConfigError(f"EASE: lam must be > 0, got {self.lam!r}")
        if self.solver not in _SOLVERS:
            raise ConfigError(f"EASE: solver must be one of {_SOLVERS}, got {self.solver!r}")
        items = np.flatnonzero(np.diff(X.tocsc().indptr) > 0)
        users = np.flatnonzero(np.diff(X.indptr) > 0)
        Xa = X[users][:, items].astype(np.float64).tocsr()
        need = ease_memory_bytes(len(users), len(items))
        solver = min(need, key=need.get) if self.solver == "auto" else self.solver
        if need[solver] > self.max_bytes:
            raise ConfigError(
                f"EASE: {len(items)} items and {len(users)} users need {need[solver] / 2**30:.1f} GiB of dense "
                f"float64 for the {solver} solver (primal {need['primal'] / 2**30:.1f}, dual "
                f"{need['dual'] / 2**30:.1f}); max_bytes allows {self.max_bytes / 2**30:.1f} GiB")
        self.items_, self.solver_ = items, solver
        if solver == "primal":
            self.weights_ = _primal_weights(Xa, self.lam)
        else:
            self.basis_ = Xa
            self.dual_, self.pdiag_ = _dual_factors(Xa, self.lam)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.score_rows(self.user_items_[users])

    def score_rows(self, rows: sp.spmatrix) -> np.ndarray:
        """Scores ``x B`` of arbitrary user rows (e.g. recency-weighted histories):
        ``(b, n_items)`` sparse → ``(b, n_items)`` float64 (0 for items outside the model)."""
        xb = sp.csr_matrix(rows)[:, self.items_].astype(np.float64)
        if self.solver_ == "primal":
            active = np.asarray(xb @ self.weights_)
        else:
            dense = xb.toarray()
            xp = (dense - np.asarray((xb @ self.basis_.T).toarray() @ self.dual_)) / self.lam
            active = dense - xp / self.pdiag_
        out = np.zeros((xb.shape[0], self.user_items_.shape[1]))
        out[:, self.items_] = active
        return out


def _inverse_spd(G: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix via Cholesky (in place on ``G``)."""
    chol, info = la.lapack.dpotrf(G, lower=False, overwrite_a=True)
    if info != 0:
        raise ConfigError(f"EASE: Gram matrix is not positive definite (LAPACK potrf info={info})")
    inv, info = la.lapack.dpotri(chol, lower=False, overwrite_c=True)
    if info != 0:
        raise ConfigError(f"EASE: inversion failed (LAPACK potri info={info})")
    upper = np.triu(inv)
    return upper + np.triu(upper, 1).T


def _primal_weights(X: sp.csr_matrix, lam: float) -> np.ndarray:
    """``B = I − P/diag(P)`` with ``P = (XᵀX + λI)⁻¹``; shape ``(m, m)``."""
    G = np.asarray((X.T @ X).toarray(), dtype=np.float64)
    G[np.diag_indices_from(G)] += lam
    P = _inverse_spd(G)
    B = -P / np.diag(P)[None, :]
    B[np.diag_indices_from(B)] = 0.0
    return B


def _dual_factors(X: sp.csr_matrix, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """``Z = (λI + XXᵀ)⁻¹ X`` (dense ``u × m``) and ``diag(P)`` (``m``)."""
    K = np.asarray((X @ X.T).toarray(), dtype=np.float64)
    K[np.diag_indices_from(K)] += lam
    Z = la.cho_solve(la.cho_factor(K, lower=False, overwrite_a=True), X.toarray())
    pdiag = (1.0 - np.asarray(X.multiply(Z).sum(axis=0)).ravel()) / lam
    return Z, pdiag
