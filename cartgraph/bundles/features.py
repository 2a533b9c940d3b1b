"""Action features: why the policy would add a frontier item to a partial bundle.

For ``m`` candidate items and the items chosen so far, :func:`action_features`
returns a float32 matrix ``(m, len(FEATURES))``. Every feature is about 0..1 (or
-1..2 for relevance) so one set of weights works across shops:

=================== =====================================================================
relevance           the user's standardised relevance score (z / 3, clipped)
complement          max complement score from a chosen item to the candidate (/ scale)
complement_mean     the same, averaged over all chosen items (complements the whole set)
similarity          max text cosine to a chosen item
mean_similarity     mean text cosine to the chosen items (fits the whole partial bundle)
anchor_similarity   text cosine to the bundle's first item (the anchor: the bundle's theme)
anchor_complement   complement score from the anchor (first item) to the candidate (/ scale):
                    evidence about the bundle's theme, not about the last item added
user_similarity     text cosine to the user's profile (mean vector of their items); reaches
                    items nobody bought yet, which collaborative relevance cannot score
substitute          1 if some chosen item is in the same leaf category with cosine > 0.9
same_leaf           1 if some chosen item shares the candidate's leaf category
new_category        1 if the candidate's parent category is not among the chosen ones'
price_fit           with a budget: 1 − |price − remaining / slots| / (remaining / slots), ≥ 0
popularity          log-scaled buyer count, 0..1
via_*               1 if a chosen item reaches the candidate by that edge kind
                    (complements / similar / category / lexical) or it is in the user's
                    top list
anchor_lexical      TF-IDF cosine of the candidate's title to the anchor's: shared brand
                    and model words ("Canon LP-E6"), which a sentence vector weighs little
lexical             the same, max over the chosen items
=================== =====================================================================
"""
from __future__ import annotations

import numpy as np

from cartgraph.bundles.tables import ItemTables

__all__ = ["FEATURES", "USER_FEATURES", "SUBSTITUTE_COSINE", "VIA_KINDS", "action_features"]

FEATURES = ("relevance", "complement", "complement_mean", "similarity", "anchor_similarity", "user_similarity",
            "substitute", "same_leaf", "new_category", "price_fit", "popularity", "via_complements", "via_similar",
            "via_category", "via_user", "mean_similarity", "anchor_complement", "anchor_lexical", "lexical",
            "via_lexical")
USER_FEATURES = ("relevance", "user_similarity", "via_user")
"""Features about the shopper: without a known user (anonymous) they fall back to popularity
or vanish, so RL does not learn them from anonymous episodes."""
SUBSTITUTE_COSINE = 0.9
"""Same leaf category and text cosine above this: a substitute (EVALUATION.md)."""
VIA_KINDS = ("complements", "similar", "category", "lexical", "user")
"""Columns of the ``via`` matrix: the edge kinds of :data:`~cartgraph.bundles.tables.EDGE_KINDS`,
then the user's top list."""
_VIA = [FEATURES.index(f"via_{k}") for k in VIA_KINDS]
_ANCHOR_LEX, _LEX = FEATURES.index("anchor_lexical"), FEATURES.index("lexical")


def action_features(tables: ItemTables, rel: np.ndarray, chosen: np.ndarray, cands: np.ndarray,
                    comp_max: np.ndarray, comp_sum: np.ndarray, via: np.ndarray,
                    budget_left: float | None, slots_left: int, profile: np.ndarray | None = None,
                    comp_anchor: np.ndarray | None = None) -> np.ndarray:
    """Feature matrix ``(m, len(FEATURES))`` float32 for candidates ``cands`` ``(m,)``.

    Args:
        rel: ``(n_items,)`` standardised relevance of the user.
        chosen: ``(s,)`` items already in the bundle.
        comp_max, comp_sum: ``(m,)`` max and sum of complement scores from chosen items.
        via: ``(m, 5)`` edge-kind indicators, columns :data:`VIA_KINDS`.
        budget_left: money left under the budget, or None.  slots_left: items still to add.
        profile: ``(dim,)`` the user's unit profile vector, or None (anonymous / no history).
        comp_anchor: ``(m,)`` complement score from the first chosen item (0: none), or None.
    """
    m = len(cands)
    out = np.zeros((m, len(FEATURES)), np.float32)
    out[:, 0] = rel[cands]
    if len(chosen):
        scale = tables.comp_scale
        out[:, 1] = np.minimum(comp_max / scale, 2.0)
        out[:, 2] = np.minimum(comp_sum / (scale * len(chosen)), 2.0)
        sim = tables.vectors[cands] @ tables.vectors[chosen].T
        leaf_c, leaf_s = tables.leaf[cands], tables.leaf[chosen]
        same = (leaf_c[:, None] == leaf_s[None, :]) & (leaf_c[:, None] >= 0)
        out[:, 3] = sim.max(axis=1)
        out[:, 4] = sim[:, 0]
        out[:, 6] = (same & (sim > SUBSTITUTE_COSINE)).any(axis=1)
        out[:, 7] = same.any(axis=1)
        par_c = tables.parent[cands]
        out[:, 8] = (par_c >= 0) & ~np.isin(par_c, tables.parent[chosen])
        out[:, 15] = sim.mean(axis=1)
        if comp_anchor is not None:
            out[:, 16] = np.minimum(comp_anchor / scale, 2.0)
        if tables.lexical.shape[1]:
            lex = (tables.lexical[cands] @ tables.lexical[chosen].T).toarray()
            out[:, _ANCHOR_LEX] = lex[:, 0]
            out[:, _LEX] = lex.max(axis=1)
    else:
        out[:, 8] = tables.parent[cands] >= 0
    if profile is not None:
        out[:, 5] = tables.vectors[cands] @ profile
    if budget_left is not None and slots_left > 0 and budget_left > 0:
        ideal = budget_left / slots_left
        price = tables.price[cands]
        out[:, 9] = np.where(np.isfinite(price), np.clip(1.0 - np.abs(price - ideal) / ideal, 0.0, 1.0), 0.0)
    out[:, 10] = tables.popularity[cands]
    out[:, _VIA] = via
    return out
