"""Bundle baselines, evaluated beside the walk on the same requests (EVALUATION.md).

Each baseline maps a prepared :class:`~cartgraph.bundles.walk.Request` (same relevance,
same neighbour arrays, same constraints) to a bundle (item indices, anchors first),
filling greedily and skipping items the constraints forbid:

- :func:`top_relevance`: the user's most relevant items;
- :func:`co_purchase`: association-rule lift — the items with the largest summed
  co-purchase score with the items already in the bundle (popularity when none);
- :func:`mmr`: maximal marginal relevance, ``λ·rel − (1 − λ)·max cosine to chosen``;
- :func:`text_knn`: the items whose text is nearest the anchors' (text-only kNN; the
  user's profile, then popularity, without anchors);
- :func:`lexical_knn`: the same with the titles' TF-IDF vectors (shared words: brand,
  model), the bag-of-words peer of text kNN;
- the walk with hand-set weights is :func:`cartgraph.bundles.walk.decode` with
  :data:`~cartgraph.bundles.policy.HAND_WEIGHTS` (see :func:`hand_walk`).
"""
from __future__ import annotations

import numpy as np

from cartgraph.bundles.policy import HAND_WEIGHTS, LinearPolicy
from cartgraph.bundles.walk import Request, decode

__all__ = ["top_relevance", "co_purchase", "mmr", "text_knn", "lexical_knn", "hand_walk", "BASELINES"]

_POOL = 300
"""Candidates a baseline ranks (the rest of the catalogue is never reached in practice)."""


def _fill(req: Request, order: np.ndarray) -> list[int]:
    """Anchors, then items of ``order`` (best first) the constraints allow, until full."""
    chosen = list(req.anchors)
    t, c = req.tables, req.constraints
    for item in order:
        if len(chosen) >= c.size:
            break
        item = int(item)
        if item not in chosen and c.allowed(np.array([item]), chosen, t.price, t.leaf)[0]:
            chosen.append(item)
    return chosen


def _ranked(scores: np.ndarray, pool: int = _POOL) -> np.ndarray:
    """Indices of the ``pool`` best scores, best first, ties by lower index."""
    k = min(pool, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.lexsort((top, -scores[top]))]


def top_relevance(req: Request) -> list[int]:
    """Anchors + the most relevant allowed items."""
    return _fill(req, _ranked(req.rel))


def co_purchase(req: Request) -> list[int]:
    """Greedy by summed co-purchase score with the chosen items; popularity breaks ties and fills."""
    t, c = req.tables, req.constraints
    chosen = list(req.anchors)
    idx, score = t.neighbours["complements"]
    fallback = _ranked(t.popularity.astype(np.float64))
    while len(chosen) < c.size:
        agg: dict[int, float] = {}
        for s in chosen:
            for j, v in zip(idx[s], score[s]):
                if j >= 0 and j not in chosen:
                    agg[int(j)] = agg.get(int(j), 0.0) + float(v)
        cands = np.array(sorted(agg, key=lambda j: (-agg[j], -t.popularity[j], j)), dtype=np.int64)
        ok = c.allowed(cands, chosen, t.price, t.leaf) if len(cands) else np.zeros(0, bool)
        if ok.any():
            chosen.append(int(cands[ok][0]))
            continue
        chosen = _fill(Request(t, req.rel, req.user_top, c, tuple(chosen), req.profile, req.avoid_substitutes), fallback)
        break
    return chosen


def mmr(req: Request, lam: float = 0.7) -> list[int]:
    """Maximal marginal relevance over the ``_POOL`` most relevant items (λ = 0.7)."""
    t, c = req.tables, req.constraints
    pool = _ranked(req.rel)
    chosen = list(req.anchors)
    pool = pool[~np.isin(pool, chosen)]
    while len(chosen) < c.size and len(pool):
        ok = c.allowed(pool, chosen, t.price, t.leaf)
        if not ok.any():
            break
        cand = pool[ok]
        sim = (t.vectors[cand] @ t.vectors[chosen].T).max(axis=1) if chosen else np.zeros(len(cand))
        s = lam * req.rel[cand] - (1 - lam) * sim
        best = int(cand[np.lexsort((cand, -s))[0]])
        chosen.append(best)
        pool = pool[pool != best]
    return chosen


def text_knn(req: Request) -> list[int]:
    """Anchors + the items nearest their mean text vector (no anchors: the user's profile)."""
    t = req.tables
    if req.anchors:
        query = t.vectors[list(req.anchors)].mean(axis=0)
    elif req.profile is not None:
        query = req.profile
    else:
        return _fill(req, _ranked(t.popularity.astype(np.float64)))
    return _fill(req, _ranked(t.vectors @ query))


def lexical_knn(req: Request) -> list[int]:
    """Anchors + the items whose title TF-IDF is nearest the anchors' (cosine to their mean
    row); without anchors, or without a lexical index, as :func:`text_knn`."""
    t = req.tables
    if not req.anchors or not t.lexical.shape[1]:
        return text_knn(req)
    query = np.asarray(t.lexical[list(req.anchors)].mean(axis=0)).ravel()
    scores = np.asarray(t.lexical @ query, dtype=np.float64).ravel()
    return _fill(req, _ranked(scores))


def hand_walk(req: Request) -> list[int]:
    """The walk with the hand-set weights (RL off), greedy."""
    return decode(req, LinearPolicy.from_dict(HAND_WEIGHTS))[0]


BASELINES = {"top_relevance": top_relevance, "co_purchase_lift": co_purchase, "mmr": mmr, "text_knn": text_knn,
             "lexical_knn": lexical_knn, "walk_hand": hand_walk}
"""Name → baseline, in the order reports list them."""
