"""EASE with text-imputed cold columns: a one-hop aggregation over text-kNN item–item edges.

EASE (Steck, 2019) scores ``s(u, ·) = x_u B``; an item nobody bought has an all-zero
column of ``B``, so it never ranks. :class:`TextEASE` gives each such *cold* item the
scores of its ``k`` nearest *warm* items by text cosine, weighted by that cosine
(positive part, normalised to sum 1):

    ``s(u, c) = Σ_j w_cj · s(u, j)``,  ``j`` over the ``k`` text neighbours of ``c``.

That is one message-passing hop over SIMILAR_TO (text kNN) edges from warm items to
cold ones; because it is linear it equals imputing ``B[:, c] = Σ_j w_cj B[:, j]``
(the imputation of :func:`cartgraph.gnn.hetero_base.impute_cold_columns`), but it
runs on scores, so EASE's dual (Woodbury) form works and no ``(I, I)`` matrix is built
when there are fewer users than items. ``neighbours=0`` is plain EASE.

:func:`tune_text_ease` chooses ``λ`` and ``k`` on a validation split (never on test).

Example::

    model = TextEASE(lam=500, neighbours=10).fit(split.train, item_vectors=vectors)
    items, scores = model.recommend([0, 1, 2], k=20)          # (3, 20) each
    s = model.scores_of(recency_weighted_rows)                # (b, n_items)
    model.save("text_ease.pt"); TextEASE.load("text_ease.pt")   # serving copy
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from cartgraph.baselines.base import MatrixRecommender
from cartgraph.baselines.ease import EASE
from cartgraph.baselines.tuning import EASE_LAMBDAS
from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError
from cartgraph.gnn.similar import text_neighbours
from cartgraph.gnn.state_file import load_state, save_state

_FORMAT = "cartgraph-text-ease"

__all__ = ["TextEASE", "tune_text_ease", "text_neighbours", "TEXT_EASE_NEIGHBOURS"]

TEXT_EASE_NEIGHBOURS: tuple[int, ...] = (0, 1, 3, 10, 30)
"""Values of ``k`` :func:`tune_text_ease` tries (0 = plain EASE)."""


class TextEASE(MatrixRecommender):
    """EASE whose cold items' scores come from their text neighbours (see the module docstring).

    Args:
        lam: EASE's ridge weight λ (> 0).
        neighbours: ``k`` warm text neighbours per cold item (≥ 0; 0 = plain EASE).
        batch_size: users scored at once in ``recommend``.

    Attributes (after ``fit``):
        ease_: the fitted :class:`~cartgraph.baselines.EASE`.
        cold_: ``(n_cold,)`` indices of items without interactions.
        cold_neighbours_, cold_weights_: ``(n_cold, k)`` warm neighbours and their
            normalised weights.
    """

    def __init__(self, lam: float = 500.0, neighbours: int = 10, *, batch_size: int = 512) -> None:
        super().__init__(batch_size=batch_size)
        if not lam > 0:
            raise ConfigError(f"TextEASE: lam must be > 0, got {lam!r}")
        if isinstance(neighbours, bool) or not isinstance(neighbours, (int, np.integer)) or neighbours < 0:
            raise ConfigError(f"TextEASE: neighbours must be an integer >= 0, got {neighbours!r}")
        self.lam, self.neighbours = float(lam), int(neighbours)

    def fit(self, dataset: Dataset, *, item_vectors: np.ndarray | None = None) -> "TextEASE":
        """Fit on ``dataset.interactions()`` and the items' text vectors ``(n_items, D)``
        (default: encoded with the bundled encoder, cached)."""
        from cartgraph.gnn.item_features import text_features

        return self.fit_text(dataset.interactions(), text_features(dataset, item_vectors))

    def fit_text(self, matrix: sp.spmatrix, text: np.ndarray) -> "TextEASE":
        """Fit on a binary user × item matrix ``(U, I)`` and text vectors ``(I, D)``."""
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        if text.ndim != 2 or text.shape[0] != matrix.shape[1] or not np.isfinite(text).all():
            raise ConfigError(f"TextEASE: text vectors must be finite, shape ({matrix.shape[1]}, D); "
                              f"got {text.shape}")
        self.ease_ = EASE(self.lam).fit_matrix(matrix)
        self.user_items_ = matrix
        self.cold_ = np.flatnonzero(np.diff(matrix.tocsc().indptr) == 0)
        self._set_neighbours(text)
        return self

    def _set_neighbours(self, text: np.ndarray) -> None:
        """Each cold item's ``k`` warm text neighbours and their normalised cosine weights."""
        warm = np.ones(self.user_items_.shape[1], bool)
        warm[self.cold_] = False
        nbr, cos = text_neighbours(text, self.cold_, np.flatnonzero(warm), self.neighbours if warm.any() else 0)
        w = np.maximum(cos, 0.0)
        self.cold_neighbours_ = nbr
        self.cold_weights_ = (w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)).astype(np.float64)

    def _fit_matrix(self, X: sp.csr_matrix) -> None:
        raise ConfigError("TextEASE needs item text: call fit(dataset, item_vectors=...) or fit_text(X, text)")

    def scores_of(self, rows: sp.spmatrix) -> np.ndarray:
        """Scores ``x B`` (cold columns imputed) of arbitrary user vectors: ``(b, I)`` → ``(b, I)``
        float64 (e.g. recency-weighted histories; the diagonal of ``B`` is 0)."""
        self._check_fitted()
        rows = sp.csr_matrix(rows, dtype=np.float64)
        if rows.shape[1] != self.user_items_.shape[1]:
            raise ConfigError(f"TextEASE.scores_of: rows must have {self.user_items_.shape[1]} columns, "
                              f"got {rows.shape[1]}")
        out = self.ease_.score_rows(rows)
        if self.cold_neighbours_.shape[1]:
            out[:, self.cold_] = np.einsum("bck,ck->bc", out[:, self.cold_neighbours_], self.cold_weights_)
        return out

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.scores_of(self.user_items_[users])

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, Any]:
        """Everything :meth:`from_state` needs: settings, the EASE fit, the history matrix and
        the cold items' neighbours (plain Python, NumPy and SciPy objects)."""
        self._check_fitted()
        ease = self.ease_
        return {"settings": {"lam": self.lam, "neighbours": self.neighbours, "batch_size": self.batch_size},
                "ease": {"settings": {"lam": ease.lam, "solver": ease.solver, "max_bytes": ease.max_bytes,
                                      "batch_size": ease.batch_size},
                         "learned": {k: v for k, v in vars(ease).items() if k.endswith("_")}},
                "user_items": self.user_items_, "cold": self.cold_, "cold_neighbours": self.cold_neighbours_,
                "cold_weights": self.cold_weights_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "TextEASE":
        """The fitted model :meth:`state` described."""
        model = cls(**state["settings"])
        model.ease_ = EASE(**state["ease"]["settings"])
        for key, value in state["ease"]["learned"].items():
            setattr(model.ease_, key, value)
        model.user_items_, model.cold_ = state["user_items"], state["cold"]
        model.cold_neighbours_, model.cold_weights_ = state["cold_neighbours"], state["cold_weights"]
        return model

    def save(self, path: str | Path) -> None:
        """Write the fitted model to one file (atomic)."""
        save_state(path, _FORMAT, 1, self.state())

    @classmethod
    def load(cls, path: str | Path) -> "TextEASE":
        """Read a file written by :meth:`save`."""
        return cls.from_state(load_state(path, _FORMAT, 1))


def tune_text_ease(valid, item_vectors: np.ndarray, lams: Sequence[float] = EASE_LAMBDAS,
                   neighbours: Sequence[int] = TEXT_EASE_NEIGHBOURS,
                   metric: str = "ndcg@20") -> tuple[float, int, dict[str, float]]:
    """Choose ``(λ, k)`` of :class:`TextEASE` on a validation split.

    Args:
        valid: a validation :class:`~cartgraph.evaluation.splits.Split`.
        item_vectors: ``(n_items, D)`` text vectors of ``valid.train``'s items.
        lams, neighbours: the grids.
        metric: what is maximised (``"ndcg@20"`` or ``"recall@20"``); ties: the earlier
            grid point.

    Returns:
        ``(lam, k, {"lam/k": metric})``.
    """
    from cartgraph.evaluation import evaluate

    if metric not in ("ndcg@20", "recall@20"):
        raise ConfigError(f"metric must be 'ndcg@20' or 'recall@20', got {metric!r}")
    X = valid.train.interactions()
    table: dict[str, float] = {}
    best: tuple[float, float, int] = (-1.0, 0.0, 0)
    for lam in lams:
        model = TextEASE(lam, 0).fit_text(X, item_vectors)
        for k in neighbours:
            model = _with_neighbours(model, item_vectors, k)
            v = float(evaluate(model, valid, ks=(20,), progress=False)[metric])
            table[f"{lam:g}/{k}"] = round(v, 4)
            if v > best[0]:
                best = (v, float(lam), int(k))
    return best[1], best[2], table


def _with_neighbours(model: TextEASE, text: np.ndarray, k: int) -> TextEASE:
    """``model`` with ``k`` cold neighbours, the EASE fit reused."""
    out = TextEASE(model.lam, k, batch_size=model.batch_size)
    out.ease_, out.cold_, out.user_items_ = model.ease_, model.cold_, model.user_items_
    out._set_neighbours(text)
    return out
