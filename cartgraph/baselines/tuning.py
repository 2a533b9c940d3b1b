"""Choosing EASE's λ on a validation split, as EVALUATION.md requires."""
from __future__ import annotations

from typing import Any

from cartgraph.baselines.ease import EASE
from cartgraph.errors import ConfigError
from cartgraph.evaluation.harness import fit_and_evaluate
from cartgraph.evaluation.splits import Split

__all__ = ["EASE_LAMBDAS", "ease_grid", "tune_ease"]

EASE_LAMBDAS: tuple[float, ...] = (50.0, 200.0, 500.0, 1000.0, 3000.0)
"""The λ grid of the protocol."""


def ease_grid(split_valid: Split, lambdas: tuple[float, ...] = EASE_LAMBDAS, *, ks: tuple[int, ...] = (20,),
              **ease_options: Any) -> dict[float, dict[str, Any]]:
    """Validation metrics of EASE for every λ: ``{λ: fit_and_evaluate(...)}``.

    Args:
        split_valid: a ``stage="valid"`` split (never the test split).
        **ease_options: passed to :class:`EASE` (``solver``, ``max_bytes`` ...).
    """
    if split_valid.meta.get("stage") == "test":
        raise ConfigError(f"EASE tuning: {split_valid.name!r} is a test split; tune on stage='valid'")
    return {float(lam): fit_and_evaluate(EASE(lam, **ease_options), split_valid, ks=ks) for lam in lambdas}


def tune_ease(split_valid: Split, lambdas: tuple[float, ...] = EASE_LAMBDAS, *, metric: str = "recall@20",
              results: dict[float, dict[str, Any]] | None = None, **ease_options: Any) -> float:
    """The λ with the best validation ``metric`` (ties go to the first listed).

    Recall@20 is the criterion that reproduces the λ of EVALUATION.md's reference table.
    Pass ``results`` (from :func:`ease_grid`) to choose without refitting.
    """
    if results is None:
        k = int(metric.rsplit("@", 1)[1]) if "@" in metric else 20
        results = ease_grid(split_valid, lambdas, ks=(k,), **ease_options)
    first = next(iter(results.values()))
    if metric not in first:
        raise ConfigError(f"tune_ease: unknown metric {metric!r}; valid: {sorted(first)}")
    return max(results, key=lambda lam: results[lam][metric])
