"""The bundle walk: states, frontier, and greedy / beam / sampled decoding.

A state is (user, partial bundle, frontier). The frontier is every item one edge away
from a chosen item in the precomputed lists of :class:`~cartgraph.bundles.tables.ItemTables`
(complements, similar, same category) plus the user's ``top_user`` most relevant
items (the edge from the user node). An action adds one allowed frontier item; the
walk stops when the bundle is full or no allowed item is left. Nothing is built per
request beyond gathering ``≤ size × Σk`` neighbour entries, so a 5-item bundle costs
the same on 5,000 or 50,000 items apart from one relevance vector.

Ties between equal scores go to the lower item index; sampling uses the caller's
``numpy`` generator, so a seed fixes the result.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from cartgraph.bundles.constraints import Constraints
from cartgraph.bundles.features import FEATURES, VIA_KINDS, action_features
from cartgraph.bundles.policy import LinearPolicy, softmax
from cartgraph.bundles.tables import ItemTables

__all__ = ["Request", "Step", "frontier", "decode", "beam_decode", "opening_scores"]

_SUB, _REL = FEATURES.index("substitute"), FEATURES.index("relevance")


@dataclasses.dataclass
class Request:
    """One bundle request, prepared once.

    Attributes:
        tables: the catalogue's arrays.  rel: ``(n_items,)`` standardised relevance.
        user_top: ``(t,)`` the user's most relevant items (the walk's user edges).
        constraints: the rules.  anchors: items that start the bundle (the cart).
        profile: ``(dim,)`` the user's unit text profile, or None.
        avoid_substitutes: never add an item that is a substitute of a chosen one (same
            leaf category, text cosine > 0.9): a bundle of look-alikes is not a bundle.
    """

    tables: ItemTables
    rel: np.ndarray
    user_top: np.ndarray
    constraints: Constraints
    anchors: tuple[int, ...] = ()
    profile: np.ndarray | None = None
    avoid_substitutes: bool = True


@dataclasses.dataclass
class Step:
    """One decision: the candidates' features ``(m, F)``, their ids ``(m,)``, the pick.
    ``opening``: the first item of a bundle without anchors, picked by relevance (see
    :func:`opening_scores`), not by the policy."""

    cands: np.ndarray
    feats: np.ndarray
    action: int
    opening: bool = False

    @property
    def item(self) -> int:
        return int(self.cands[self.action])


def frontier(req: Request, chosen: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Allowed candidates ``(m,)`` (sorted) and their features ``(m, F)`` in state ``chosen``."""
    t = req.tables
    ch = np.asarray(chosen, dtype=np.int64)
    user = VIA_KINDS.index("user")
    ids, kinds, scores = [req.user_top.astype(np.int64)], [np.full(len(req.user_top), user)], [np.zeros(len(req.user_top))]
    for kind_name, (idx, sc) in t.neighbours.items():
        k = VIA_KINDS.index(kind_name)
        if len(ch):
            rows, vals = idx[ch].ravel(), sc[ch].ravel()
            keep = rows >= 0
            ids.append(rows[keep].astype(np.int64))
            kinds.append(np.full(int(keep.sum()), k))
            scores.append(vals[keep].astype(np.float64))
    cand, kind, score = np.concatenate(ids), np.concatenate(kinds), np.concatenate(scores)
    keep = ~np.isin(cand, ch) if len(ch) else np.ones(len(cand), bool)
    cand, kind, score = cand[keep], kind[keep], score[keep]
    uniq, inv = np.unique(cand, return_inverse=True)
    ok = req.constraints.allowed(uniq, chosen, t.price, t.leaf)
    comp_max = np.zeros(len(uniq))
    comp_sum = np.zeros(len(uniq))
    is_comp = kind == VIA_KINDS.index("complements")
    np.maximum.at(comp_max, inv[is_comp], score[is_comp])
    np.add.at(comp_sum, inv[is_comp], score[is_comp])
    via = np.zeros((len(uniq), len(VIA_KINDS)), np.float32)
    via[inv, kind] = 1.0
    uniq, comp_max, comp_sum, via = uniq[ok], comp_max[ok], comp_sum[ok], via[ok]
    comp_anchor = _anchor_complements(t, int(ch[0]), uniq) if len(ch) else None
    c = req.constraints
    budget_left = None
    if c.budget is not None:
        budget_left = c.budget - (float(np.nansum(t.price[ch])) if len(ch) else 0.0)
    feats = action_features(t, req.rel, ch, uniq, comp_max, comp_sum, via, budget_left, c.size - len(chosen),
                            req.profile, comp_anchor)
    if req.avoid_substitutes:
        keep = feats[:, _SUB] == 0
        uniq, feats = uniq[keep], feats[keep]
    return uniq, feats


def _anchor_complements(t: ItemTables, anchor: int, cands: np.ndarray) -> np.ndarray:
    """``(m,)`` complement score from ``anchor`` to each of the sorted ``cands`` (0: not in its list)."""
    idx, sc = t.neighbours["complements"]
    row, val = idx[anchor], sc[anchor]
    row, val = row[row >= 0], val[row >= 0]
    out = np.zeros(len(cands))
    if len(row) and len(cands):
        pos = np.minimum(np.searchsorted(cands, row), len(cands) - 1)
        hit = cands[pos] == row
        out[pos[hit]] = val[hit]
    return out


def opening_scores(feats: np.ndarray) -> np.ndarray:
    """Scores ``(m,)`` of the first item of a bundle without anchors: the shopper's
    standardised relevance (popularity for an anonymous one).

    The policy learns to *grow* a bundle: every training episode starts from a real
    anchor, so nothing teaches it which item to open with, and weights tuned for growing
    (e.g. complements and popularity) would open every shopper's bundle with the same
    popular item. A bundle for a user therefore opens with what the recommender ranks
    first for them, as a shop would, and the policy grows it from there.
    """
    return feats[:, _REL].astype(np.float64)


def _scores(policy: LinearPolicy, feats: np.ndarray, opening: bool) -> np.ndarray:
    return opening_scores(feats) if opening else policy.scores(feats)


def decode(req: Request, policy: LinearPolicy, rng: np.random.Generator | None = None) -> tuple[list[int], list[Step]]:
    """Walk from the anchors until full: greedy without ``rng``, sampled with one.

    Without anchors the first item is the most relevant allowed one (:func:`opening_scores`;
    with ``rng``, sampled from their softmax at the policy's temperature). Returns the
    bundle (anchors first) and one :class:`Step` per added item.
    """
    chosen, steps = list(req.anchors), []
    while len(chosen) < req.constraints.size:
        cands, feats = frontier(req, chosen)
        if not len(cands):
            break
        opening = not chosen
        if rng is None:
            action = int(np.argmax(_scores(policy, feats, opening)))
        elif opening:
            action = int(rng.choice(len(cands), p=softmax(opening_scores(feats), policy.temperature)))
        else:
            action = int(rng.choice(len(cands), p=policy.probs(feats)))
        steps.append(Step(cands, feats, action, opening))
        chosen.append(int(cands[action]))
    return chosen, steps


def beam_decode(req: Request, policy: LinearPolicy, n: int, width: int) -> list[tuple[list[int], list[Step], float]]:
    """The ``n`` best distinct bundles by total score (beam search of ``width ≥ n``).

    Returns ``(bundle, steps, score)`` best first; bundles holding the same items in
    another order count once.
    """
    beams: list[tuple[list[int], list[Step], float]] = [(list(req.anchors), [], 0.0)]
    done: list[tuple[list[int], list[Step], float]] = []
    while beams:
        grown = []
        for chosen, steps, total in beams:
            cands, feats = frontier(req, chosen) if len(chosen) < req.constraints.size else (np.zeros(0), None)
            if not len(cands):
                done.append((chosen, steps, total))
                continue
            opening = not chosen
            s = _scores(policy, feats, opening)
            for a in np.lexsort((cands, -s))[:width]:
                grown.append((chosen + [int(cands[a])], steps + [Step(cands, feats, int(a), opening)],
                              total + float(s[a])))
        grown.sort(key=lambda b: (-b[2], sorted(b[0])))
        seen, beams = set(), []
        for b in grown:
            key = frozenset(b[0])
            if key not in seen:
                seen.add(key)
                beams.append(b)
            if len(beams) == width:
                break
    done.sort(key=lambda b: (-b[2], sorted(b[0])))
    out, seen = [], set()
    for b in done:
        if frozenset(b[0]) not in seen:
            seen.add(frozenset(b[0]))
            out.append(b)
    return out[:n]
