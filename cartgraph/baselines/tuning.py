"""Choosing EASE's λ on a validation split, as EVALUATION.md requires."""
from __future__ import annotations

from typing import Any

from cartgraph.baselines.ease import EASE
from cartgraph.errors import ConfigError
from cartgraph.evaluation.harness import fit_and_evaluate
from cartgraph.evaluation.splits import Split

__all__ = ["EASE_LAMBDAS", "tune_ease"]

EASE_LAMBDAS: tuple[float, ...] = (50.0, 200.0, 500.0, 1000.0, 3000.0)
"""The λ grid of the protocol."""


def tune_ease(split_valid: Split, lambdas: tuple[float, ...] = EASE_LAMBDAS, *,
              metric: str = "recall@20", **ease_options: Any) -> tuple[float, dict[float, dict[str, Any]]]:
    """Fit EASE for every λ on ``split_valid`` and pick the best by ``metric``.

    Args:
        split_valid: a ``stage="valid"`` split (never the test split).
        lambdas: candidates; ties go to the first listed.
        metric: a key of :func:`~cartgraph.evaluation.evaluate`'s result (``"recall@20"``).
        **ease_options: passed to :class:`EASE` (``solver``, ``max_bytes`` ...).

    Returns:
        ``(best_lambda, {λ: metrics})``.
    """
    if split_valid.meta.get("stage") == "test":
        raise ConfigError(f"tune_ease: {split_valid.name!r} is a test split; tune on stage='valid'")
    k = int(metric.split("@")[1]) if "@" in metric else 20
    results = {lam: fit_and_evaluate(EASE(lam, **ease_options), split_valid, ks=(k,)) for lam in lambdas}
    if metric not in next(iter(results.values())):
        raise ConfigError(f"tune_ease: unknown metric {metric!r}; valid: {sorted(next(iter(results.values())))}")
    best = max(lambdas, key=lambda lam: results[lam][metric])
    return best, results
