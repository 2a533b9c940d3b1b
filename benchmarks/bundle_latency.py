"""Latency of one 5-item bundle over the whole Instacart catalogue (49,688 items).

Times the public call ``BundleBuilder.build(user, size=5, anchor=...)`` end to end
(relevance vector of the user, the walk, explanations), for seeded random requests:
half with an anchor item (a cart), half without; a tenth anonymous. Beside it, in the
same run and on the same prepared requests, the baselines a shop would use instead
(top-k by relevance, co-purchase lift, MMR), timed from a prepared request.

The walk's cost does not depend on its weights (same frontier, same features), so
the builder runs with hand-set weights here; the RL-tuned weights cost the same.
Targets (issue 6): p50 ≤ 20 ms, p99 ≤ 100 ms. Last line: one JSON object.

    CARTGRAPH_DATA_DIR=../shared/data .venv/bin/python benchmarks/bundle_latency.py
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

import cartgraph
from cartgraph.bundles import BundleBuilder, Constraints
from cartgraph.bundles.baselines import BASELINES
from cartgraph.text import TextEncoder, item_vectors

DATA = Path(os.environ.get("CARTGRAPH_DATA_DIR", "../shared/data"))


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)), "mean_ms": float(a.mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    ds = cartgraph.load("instacart", DATA / "instacart")
    start = time.perf_counter()
    vec = item_vectors(ds, TextEncoder(cache=True))
    enc_s = time.perf_counter() - start
    start = time.perf_counter()
    builder = BundleBuilder(size=5, rl=None).fit(ds, vec)
    fit_s = time.perf_counter() - start
    rng = np.random.default_rng(args.seed)
    users = ds.user_vocab.ids
    items = builder.tables_.item_ids
    reqs = []
    for i in range(args.requests):
        user = None if rng.random() < 0.1 else str(users[rng.integers(len(users))])
        anchor = str(items[rng.integers(len(items))]) if rng.random() < 0.5 else None
        reqs.append((user, anchor))
    for user, anchor in reqs[:50]:  # warm-up
        builder.build(user, size=5, anchor=anchor)
    walk_ms, sizes = [], []
    for user, anchor in reqs:
        t0 = time.perf_counter()
        [b] = builder.build(user, size=5, anchor=anchor)
        walk_ms.append(1000 * (time.perf_counter() - t0))
        sizes.append(len(b))
    prep_ms, base_ms = [], {k: [] for k in BASELINES}
    uidx = {u: i for i, u in enumerate(users)}
    iidx = {it: k for k, it in enumerate(items)}
    for user, anchor in reqs:
        t0 = time.perf_counter()
        req = builder.request(None if user is None else uidx[user], [] if anchor is None else [iidx[anchor]],
                              Constraints(size=5))
        prep = 1000 * (time.perf_counter() - t0)
        prep_ms.append(prep)
        for name, fn in BASELINES.items():
            t0 = time.perf_counter()
            fn(req)
            base_ms[name].append(prep + 1000 * (time.perf_counter() - t0))
    out = {"catalogue_items": int(ds.n_items), "users": int(ds.n_users), "requests": args.requests,
           "bundle_size": 5, "full_bundles": float(np.mean(np.array(sizes) == 5)),
           "walk_build": percentiles(walk_ms), "request_prep": percentiles(prep_ms),
           "baselines": {k: percentiles(v) for k, v in base_ms.items()},
           "ratio_p50_walk_vs_top_relevance": float(np.percentile(walk_ms, 50) / np.percentile(base_ms["top_relevance"], 50)),
           "fit_seconds": fit_s, "encode_seconds": enc_s, "targets": {"p50_ms": 20, "p99_ms": 100}}
    out["meets_targets"] = out["walk_build"]["p50_ms"] <= 20 and out["walk_build"]["p99_ms"] <= 100
    print(json.dumps(out))


if __name__ == "__main__":
    main()
