"""Online learning from shoppers' accept/reject clicks (a contextual-bandit update).

Each item the walk added was an action taken in a logged state (its candidates'
features). Feedback gives it a reward: +1 accepted, −1 rejected, 0 no answer. The
update is one policy-gradient step on those logged decisions,

    w ← w + lr / sqrt(1 + n) · Σ_items r_item · ∇ log π(item | its state),

with ``n`` the number of feedback calls so far (a decaying step, so a few clicks
cannot undo what RL learned). Weights and ``n`` are saved with the builder.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from cartgraph.bundles.features import FEATURES
from cartgraph.bundles.policy import LinearPolicy
from cartgraph.bundles.walk import Step
from cartgraph.errors import ConfigError

__all__ = ["feedback_gradient", "apply_feedback"]


def feedback_gradient(policy: LinearPolicy, steps: Sequence[Step], accepted: Iterable[int],
                      rejected: Iterable[int]) -> np.ndarray:
    """``Σ r · ∇ log π`` ``(F,)`` over the logged steps; items are indices."""
    acc, rej = set(int(i) for i in accepted), set(int(i) for i in rejected)
    both = acc & rej
    if both:
        raise ConfigError(f"feedback: items {sorted(both)} are both accepted and rejected")
    grad = np.zeros(len(FEATURES))
    for s in steps:
        r = 1.0 if s.item in acc else -1.0 if s.item in rej else 0.0
        if r and not s.opening:  # the opening item was picked by relevance, not by the policy
            grad += r * policy.grad_log_prob(s.feats, s.action)
    return grad


def apply_feedback(policy: LinearPolicy, steps: Sequence[Step], accepted: Iterable[int],
                   rejected: Iterable[int], lr: float, n_updates: int) -> LinearPolicy:
    """A new policy after one feedback step (see the module doc); ``policy`` is unchanged."""
    grad = feedback_gradient(policy, steps, accepted, rejected)
    return LinearPolicy(policy.weights + lr / np.sqrt(1.0 + n_updates) * grad, policy.temperature)
