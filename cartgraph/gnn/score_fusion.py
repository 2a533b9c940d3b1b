"""A recommender that adds the per-user standardised scores of fitted recommenders.

``s(u, ·) = Σ_m w_m · z(s_m(u, ·))`` with ``z`` the per-user z-score over all items, so
models on different scales (a GNN's dot products, EASE's regression weights) mix by
rank-ish strength. Used to fuse :class:`~cartgraph.gnn.hetero.TextHeteroGNN` with a
linear co-occurrence model; choose the weights on a validation split
(:func:`choose_weight`), never on test.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cartgraph.baselines.base import MatrixRecommender
from cartgraph.errors import ConfigError

__all__ = ["ScoreFusion", "choose_weight", "FUSION_WEIGHTS", "row_zscore"]

FUSION_WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
"""Weights of the second model tried by :func:`choose_weight` (the first weighs 1)."""


def row_zscore(x: np.ndarray) -> np.ndarray:
    """Each row standardised to mean 0 and standard deviation 1: ``(n, m)`` → ``(n, m)``.

    How scores of different models (or per-anchor complement scores) are put on one scale
    before they are added; a constant row becomes zeros.
    """
    return (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-9)


class ScoreFusion(MatrixRecommender):
    """Weighted sum of z-scored scores of fitted :class:`MatrixRecommender` models.

    Args:
        models: fitted on the same dataset (same users, items and seen matrix).
        weights: one per model.

    The seen-item mask is the first model's.
    """

    def __init__(self, models: Sequence[MatrixRecommender], weights: Sequence[float]) -> None:
        super().__init__(batch_size=1024)
        if not models or len(models) != len(weights):
            raise ConfigError(f"models and weights must be non-empty and of equal length, got "
                              f"{len(models)} and {len(weights)}")
        shapes = {m.user_items_.shape for m in models}
        if len(shapes) != 1:
            raise ConfigError(f"models were fitted on different data: user × item shapes {sorted(shapes)}")
        self.models, self.weights = list(models), [float(w) for w in weights]
        self.user_items_ = models[0].user_items_

    def _score(self, users: np.ndarray) -> np.ndarray:
        total = np.zeros((len(users), self.user_items_.shape[1]))
        for model, w in zip(self.models, self.weights):
            if w:
                s = np.asarray(model.scores(users), dtype=np.float64)
                total += w * row_zscore(s)
        return total


def choose_weight(first: MatrixRecommender, second: MatrixRecommender, valid, *,
                  weights: Sequence[float] = FUSION_WEIGHTS, metric: str = "ndcg@20") -> tuple[float, dict]:
    """The weight of ``second`` (``first`` weighs 1) with the best ``metric`` on ``valid``
    (a validation split both models were fitted for); ties go to the smaller weight.

    Returns ``(weight, {weight: metric value})``.
    """
    from cartgraph.evaluation import evaluate

    if valid.meta.get("stage") == "test":
        raise ConfigError(f"choose_weight: {valid.name!r} is a test split; choose on stage='valid'")
    scores = {float(w): evaluate(ScoreFusion([first, second], [1.0, w]), valid, ks=(20,), progress=False)[metric]
              for w in weights}
    return max(scores, key=lambda w: (scores[w], -w)), scores
