"""Evaluate the walk and the baselines on the same held-out bundles (:func:`evaluate_bundles`)."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable

import numpy as np
import scipy.sparse as sp

from cartgraph.bundles.baselines import BASELINES
from cartgraph.bundles.builder import BundleBuilder
from cartgraph.bundles.constraints import Constraints
from cartgraph.bundles.metrics import bundle_metrics, mean_metrics
from cartgraph.bundles.walk import Request, decode

__all__ = ["Case", "evaluate_bundles"]


@dataclasses.dataclass(frozen=True)
class Case:
    """One held-out bundle: ``user`` index, revealed ``anchors``, the ``target`` items to find,
    and the request's ``size``, ``budget`` and ``exclude`` (e.g. the user's owned items)."""

    user: int | None
    anchors: tuple[int, ...]
    target: frozenset[int]
    size: int
    budget: float | None = None
    exclude: frozenset[int] = frozenset()


def evaluate_bundles(builder: BundleBuilder, cases: Iterable[Case], heldout_pairs: sp.csr_matrix,
                     methods: dict[str, Callable[[Request], list[int]]] | None = None,
                     progress: bool = False) -> dict[str, dict[str, float]]:
    """Mean :mod:`~cartgraph.bundles.metrics` per method over ``cases``, plus ``ms`` per bundle.

    ``methods`` defaults to the builder's own walk (``walk_rl``: its current weights,
    greedy) and every baseline of :data:`~cartgraph.bundles.baselines.BASELINES`.
    """
    from tqdm.auto import tqdm

    methods = methods or {"walk_rl": lambda req: decode(req, builder.policy_)[0], **BASELINES}
    t = builder.tables_
    rows: dict[str, list] = {m: [] for m in methods}
    secs = dict.fromkeys(methods, 0.0)
    cases = list(cases)
    for case in tqdm(cases, desc="bundles", disable=not progress):
        c = Constraints(size=case.size, budget=case.budget, exclude=case.exclude)
        req = builder.request(case.user, case.anchors, c)
        for name, fn in methods.items():
            start = time.perf_counter()
            items = fn(req)
            secs[name] += time.perf_counter() - start
            bad = len(c.violations(items, t.price, t.leaf, anchors=case.anchors))
            rows[name].append(bundle_metrics(items, len(case.anchors), set(case.target), heldout_pairs,
                                             t.vectors, t.leaf, bad))
    out = {}
    for name in methods:
        out[name] = mean_metrics(rows[name])
        out[name]["ms"] = 1000.0 * secs[name] / max(len(cases), 1)
    return out
