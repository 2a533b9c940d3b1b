"""Reasons for one (user, item) pair from a fitted :class:`~cartgraph.Recommender`.

The reasons come in a fixed order of evidence, the most specific first:

1. ``complement`` — the item is a learned complement of an item in the history;
2. ``co_purchase`` — customers who bought a history item also bought it
   (:func:`cartgraph.reasons.co_occurrence_reason`);
3. ``similar_text`` — its text is close to a history item's (cosine of text vectors);
4. ``category`` — it sits in a category the user buys from;
5. ``popular`` — only when nothing above applies: how many customers bought it.
"""
from __future__ import annotations

import numpy as np

from cartgraph.reasons import co_occurrence_reason

__all__ = ["explanations", "TEXT_MIN_COSINE"]

TEXT_MIN_COSINE = 0.3
"""Text similarity below this is not offered as a reason."""


def explanations(rec, user: str, item: str) -> list:
    """:class:`~cartgraph.recommender.Explanation` list for ``user`` and ``item`` (≥ 1 entry)."""
    from cartgraph.recommender import Explanation

    u, i = rec.user_vocab_.index(user), rec.item_vocab_.index(item)
    history = rec.seen_.indices[rec.seen_.indptr[u]:rec.seen_.indptr[u + 1]]
    history = history[history != i]
    found = [r for r in (_complement(rec, history, i), _co_purchase(rec, history, i), _text(rec, history, i),
                         _category(rec, history, i)) if r is not None]
    if not found:
        buyers = int(np.diff(rec.csc_().indptr)[i])
        found.append(Explanation("popular", f"bought by {buyers} customers", None, float(buyers)))
    return found


def _title(rec, idx: int) -> str:
    return rec.title(rec.item_vocab_.ids[idx])


def _complement(rec, history: np.ndarray, i: int):
    from cartgraph.recommender import Explanation

    if rec.complements_ is None or not len(history):
        return None
    from cartgraph.pipeline_stages import complement_score

    scores = complement_score(rec, history, i)
    best = int(np.argmax(scores))
    if not scores[best] > 0:
        return None
    anchor = int(history[best])
    return Explanation("complement", f"goes with {_title(rec, anchor)} (complement score {scores[best]:.2f})",
                       rec.item_vocab_.ids[anchor], float(scores[best]))


def _co_purchase(rec, history: np.ndarray, i: int):
    from cartgraph.recommender import Explanation

    reason = co_occurrence_reason(rec.csc_(), history, i)
    if reason.anchor is None or reason.common == 0:
        return None
    return Explanation("co_purchase", reason.text(lambda j: _title(rec, j)), rec.item_vocab_.ids[reason.anchor],
                       reason.cosine)


def _text(rec, history: np.ndarray, i: int):
    from cartgraph.recommender import Explanation

    vec = rec.item_vectors_
    if vec is None or not len(history):
        return None
    norms = np.linalg.norm(vec[history], axis=1) * np.linalg.norm(vec[i])
    cos = np.divide(vec[history] @ vec[i], norms, out=np.zeros(len(history)), where=norms > 0)
    best = int(np.argmax(cos))
    if cos[best] < TEXT_MIN_COSINE:
        return None
    anchor = int(history[best])
    return Explanation("similar_text", f"described like {_title(rec, anchor)} (text cos {cos[best]:.2f})",
                       rec.item_vocab_.ids[anchor], float(cos[best]))


def _category(rec, history: np.ndarray, i: int):
    from cartgraph.recommender import Explanation

    cats = rec.items_["category"].to_numpy()
    if cats[i] is None or not len(history):
        return None
    same = int(np.sum(cats[history] == cats[i]))
    if same == 0:
        return None
    return Explanation("category", f"in {cats[i]}, like {same} of your {len(history)} items", None,
                       same / len(history))
