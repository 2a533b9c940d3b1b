"""The walk's policy: a linear scorer over action features, softmax for sampling.

``score(a) = w · φ(a)``; serving takes the best action (greedy/beam), training samples
from ``π(a) = softmax(score / temperature)``. With a linear score the gradient of
``log π(a)`` is ``(φ(a) − E_π[φ]) / temperature``, which both the RL trainer and the
online feedback update use.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from cartgraph.bundles.features import FEATURES
from cartgraph.errors import ConfigError

__all__ = ["LinearPolicy", "HAND_WEIGHTS", "STARTS", "softmax"]

HAND_WEIGHTS = {"relevance": 1.0, "complement": 1.0, "complement_mean": 0.5, "similarity": -0.5,
                "anchor_similarity": 0.5, "user_similarity": 0.5,
                "substitute": -1.0, "same_leaf": 0.0, "new_category": 0.3, "price_fit": 0.5,
                "popularity": 0.2, "via_complements": 0.0, "via_similar": 0.0, "via_category": 0.0,
                "via_user": 0.0}
"""Hand-set weights: the "RL off" walk and the default starting point of RL tuning."""

STARTS = {"text_knn": {"anchor_similarity": 5.0},
          "lexical_knn": {"anchor_lexical": 5.0},
          "text_lexical_knn": {"anchor_similarity": 2.5, "anchor_lexical": 2.5},
          "co_purchase": {"complement_mean": 5.0, "popularity": 0.5},
          "top_relevance": {"relevance": 5.0}}
"""The baselines as points of the walk's weight space (other RL starting points).

Greedy on ``anchor_similarity`` alone picks the anchor's nearest text neighbours
(text kNN of the anchor: its neighbour list is in every frontier), on ``anchor_lexical``
its nearest title TF-IDF neighbours (lexical kNN, likewise), on both at equal weight the
midpoint of the two (not a baseline: the walk's own use of both signals, which RL then
tunes); ``complement_mean``
ranks by summed co-purchase score with the chosen items (association-rule lift, ties
to popular items); ``relevance`` is top-k by relevance (the user's top list is in every
frontier). They coincide with the baselines when the walk does not mask substitutes.
Scaled ×5 so that sampling at the RL temperature still prefers the baseline's choice.
"""


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """``(m,)`` probabilities ``∝ exp(scores / temperature)`` (shifted by the max: no overflow)."""
    z = np.asarray(scores, dtype=np.float64) / temperature
    e = np.exp(z - z.max())
    return e / e.sum()


@dataclasses.dataclass
class LinearPolicy:
    """Weights ``(len(FEATURES),)`` float64 and a sampling temperature."""

    weights: np.ndarray
    temperature: float = 0.2

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights, dtype=np.float64).copy()
        if self.weights.shape != (len(FEATURES),):
            raise ConfigError(f"policy weights: expected shape ({len(FEATURES)},) for {FEATURES}, "
                              f"found {self.weights.shape}")
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature!r}")

    @classmethod
    def from_dict(cls, weights: dict[str, float], temperature: float = 0.2) -> "LinearPolicy":
        unknown = sorted(set(weights) - set(FEATURES))
        if unknown:
            raise ConfigError(f"policy weights: unknown features {unknown}; valid: {list(FEATURES)}")
        return cls(np.array([weights.get(f, 0.0) for f in FEATURES]), temperature)

    def as_dict(self) -> dict[str, float]:
        return {f: float(w) for f, w in zip(FEATURES, self.weights)}

    def scores(self, feats: np.ndarray) -> np.ndarray:
        """``(m,)`` action scores for features ``(m, F)``."""
        return feats.astype(np.float64) @ self.weights

    def probs(self, feats: np.ndarray) -> np.ndarray:
        """``(m,)`` softmax probabilities at the policy's temperature."""
        return softmax(self.scores(feats), self.temperature)

    def grad_log_prob(self, feats: np.ndarray, action: int, probs: np.ndarray | None = None) -> np.ndarray:
        """``∇_w log π(action)`` ``(F,)`` for features ``(m, F)``."""
        p = self.probs(feats) if probs is None else probs
        return (feats[action].astype(np.float64) - p @ feats) / self.temperature
