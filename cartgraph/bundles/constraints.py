"""Hard constraints on a bundle: the walk can only take actions that keep them.

A bundle built under :class:`Constraints` never breaks them: candidates that would
are masked out before the policy scores anything (the walk then stops early rather
than break a rule). :meth:`Constraints.violations` checks a finished bundle, for
tests and for baselines that do not use the walk.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from cartgraph.errors import ConfigError

__all__ = ["Constraints", "Availability"]

Availability = Callable[[np.ndarray], np.ndarray]
"""Stock hook: item indices ``(m,)`` → boolean mask ``(m,)``, True where the item can be sold now."""


@dataclasses.dataclass(frozen=True)
class Constraints:
    """What every bundle must satisfy.

    Args:
        size: the most items in the bundle (anchors included), ≥ 1.
        budget: the most the bundle may cost (sum of known prices; an item without a
            price cannot be added under a budget); None for no budget.
        max_per_category: the most items of one leaf category; None for no cap.
        exclude: item indices never to add (already owned, hidden, ...).
        available: stock hook (:data:`Availability`); None means everything is in stock.
    """

    size: int = 5
    budget: float | None = None
    max_per_category: int | None = None
    exclude: frozenset[int] = frozenset()
    available: Availability | None = None

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, (int, np.integer)) or self.size < 1:
            raise ConfigError(f"size must be an integer ≥ 1, got {self.size!r}")
        if self.budget is not None and not (np.isfinite(self.budget) and self.budget >= 0):
            raise ConfigError(f"budget must be a finite number ≥ 0 or None, got {self.budget!r}")
        if self.max_per_category is not None and self.max_per_category < 1:
            raise ConfigError(f"max_per_category must be ≥ 1 or None, got {self.max_per_category!r}")
        object.__setattr__(self, "exclude", frozenset(int(i) for i in self.exclude))

    def allowed(self, candidates: np.ndarray, chosen: Sequence[int], price: np.ndarray,
                leaf: np.ndarray) -> np.ndarray:
        """Mask ``(m,)``: True where adding ``candidates[i]`` to ``chosen`` keeps every rule.

        Args:
            candidates: item indices ``(m,)`` (distinct, none of them in ``chosen``).
            chosen: item indices already in the bundle.
            price: ``(n_items,)`` prices (NaN unknown).  leaf: ``(n_items,)`` leaf ids.
        """
        ok = np.ones(len(candidates), dtype=bool)
        if len(chosen) >= self.size:
            return ~ok
        if self.exclude:
            ok &= ~np.isin(candidates, np.fromiter(self.exclude, np.int64, len(self.exclude)))
        if self.budget is not None:
            spent = float(np.nansum(price[np.asarray(chosen, dtype=np.int64)])) if len(chosen) else 0.0
            p = price[candidates]
            ok &= np.isfinite(p) & (p <= self.budget - spent + 1e-9)
        if self.max_per_category is not None and len(chosen):
            leaves, counts = np.unique(leaf[np.asarray(chosen, dtype=np.int64)], return_counts=True)
            full = leaves[(counts >= self.max_per_category) & (leaves >= 0)]
            ok &= ~np.isin(leaf[candidates], full)
        if self.available is not None and ok.any():
            stock = np.asarray(self.available(candidates[ok]), dtype=bool)
            if stock.shape != (int(ok.sum()),):
                raise ConfigError(f"available: expected a boolean mask of shape ({int(ok.sum())},), found {stock.shape}")
            ok[np.flatnonzero(ok)] = stock
        return ok

    def violations(self, items: Sequence[int], price: np.ndarray, leaf: np.ndarray,
                   anchors: Sequence[int] = ()) -> list[str]:
        """Every rule a finished bundle breaks, as sentences (empty when it keeps them all).

        ``anchors`` (items the caller put in the cart) are exempt from exclusion,
        stock and category rules but count towards size and budget.
        """
        items = [int(i) for i in items]
        out = []
        if len(items) > self.size:
            out.append(f"{len(items)} items exceed size {self.size}")
        if len(set(items)) != len(items):
            out.append("an item appears twice")
        added = np.array([i for i in items if i not in set(anchors)], dtype=np.int64)
        if self.budget is not None:
            p = price[np.array(items, dtype=np.int64)] if items else np.zeros(0)
            if not np.isfinite(p[np.isin(items, added)]).all() or float(np.nansum(p)) > self.budget + 1e-9:
                out.append(f"total price {float(np.nansum(p)):.2f} exceeds budget {self.budget:.2f} or has unknown prices")
        bad = sorted(set(added.tolist()) & self.exclude)
        if bad:
            out.append(f"excluded items {bad} included")
        if self.max_per_category is not None and len(added):
            leaves, counts = np.unique(leaf[np.array(items, dtype=np.int64)], return_counts=True)
            over = np.intersect1d(leaves[(counts > self.max_per_category) & (leaves >= 0)], leaf[added])
            if len(over):
                out.append(f"leaf categories {over.tolist()} hold more than {self.max_per_category} items")
        if self.available is not None and len(added):
            stock = np.asarray(self.available(added), dtype=bool)
            if not stock.all():
                out.append(f"items {added[~stock].tolist()} are out of stock")
        return out
