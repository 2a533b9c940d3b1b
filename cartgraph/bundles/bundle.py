"""What a builder returns: :class:`Bundle`, and the sentence that explains each item."""
from __future__ import annotations

import dataclasses

import numpy as np

from cartgraph.bundles.features import FEATURES
from cartgraph.bundles.tables import ItemTables

__all__ = ["Bundle", "explain"]


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A built bundle.

    Attributes:
        items: external item ids, anchors first, then in the order the walk added them.
        indices: the same as item indices ``(len(items),)``.
        titles: display names.
        explanations: one sentence per item ("complements Espresso Machine (0.83), new
            category Milk Frothers, fits the budget").
        features: per item, the feature values that chose it (empty for anchors).
        total_price: sum of known prices (NaN when no item has a price).
        score: sum of the policy's scores of the chosen actions.
        user: the user index it was built for (None: anonymous).
        anchors: how many leading items were given (the cart), not chosen.
    """

    items: tuple[str, ...]
    indices: tuple[int, ...]
    titles: tuple[str, ...]
    explanations: tuple[str, ...]
    features: tuple[dict[str, float], ...]
    total_price: float
    score: float
    user: int | None = None
    anchors: int = 0
    steps: tuple = dataclasses.field(default=(), repr=False, compare=False)
    """Internal: the walk's :class:`~cartgraph.bundles.walk.Step` per added item (for feedback)."""

    def __len__(self) -> int:
        return len(self.items)

    def describe(self) -> str:
        """The bundle as text, one item per line with its reason."""
        price = "" if np.isnan(self.total_price) else f", total {self.total_price:.2f}"
        lines = [f"bundle of {len(self)} items{price}:"]
        lines += [f"  {t}: {e}" for t, e in zip(self.titles, self.explanations)]
        return "\n".join(lines)


def explain(tables: ItemTables, item: int, chosen: list[int], feats: np.ndarray,
            budget_left: float | None) -> str:
    """The edge that brought ``item`` in (strongest first) plus its notable features.

    ``chosen``: items before it; ``feats``: its feature row ``(F,)``.
    """
    f = dict(zip(FEATURES, feats.tolist()))
    reasons = [_edge_reason(tables, item, chosen, f)]
    if f["new_category"] > 0 and chosen and tables.leaf[item] >= 0:
        reasons.append(f"new category {tables.category_names[tables.leaf[item]]}")
    if budget_left is not None and np.isfinite(tables.price[item]):
        reasons.append(f"fits the budget ({tables.price[item]:.2f} of {budget_left:.2f} left)")
    return ", ".join(reasons)


def _edge_reason(tables: ItemTables, item: int, chosen: list[int], f: dict[str, float]) -> str:
    for kind in ("complements", "similar", "lexical", "category"):
        idx, score = tables.neighbours[kind]
        best = None
        for s in chosen:
            hit = np.flatnonzero(idx[s] == item)
            if len(hit) and (best is None or score[s, hit[0]] > best[1]):
                best = (s, float(score[s, hit[0]]))
        if best is not None:
            name = tables.titles[best[0]]
            if kind == "complements":
                return f"complements {name} ({best[1] / tables.comp_scale:.2f})"
            if kind == "similar":
                return f"similar to {name} (cosine {best[1]:.2f})"
            if kind == "lexical":
                return f"named like {name} (title TF-IDF cosine {best[1]:.2f})"
            return f"same category as {name}"
    return f"recommended for you (relevance {f['relevance']:.2f})"
