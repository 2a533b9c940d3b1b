"""Which RL validation slice predicts the BundleRec test? A diagnostic, not a tuning step.

The RL walk picks its start, reward weight and epoch on a validation slice inside the
training period (``cartgraph.bundles.episodes``). This script takes fixed moves away
from the text-kNN start (one or two weights changed; chosen before looking at any
figure, none is used to pick anything) and scores each, greedily, on three validation
slices and on the test (each user's last bundle, exactly as ``benchmarks/bundles.py``):

- ``time``: the default ``time_split`` (walk reads the first 60% of the training
  period; validation = the last 25% of the later sources);
- ``last``: ``last_split`` (validation = each user's last *training* bundle, read
  against everything else: the test protocol one step earlier);
- ``users``: a seeded fifth of the users; the walk reads the other users' data only
  and serves these users as anonymous shoppers.

For every slice and metric (recall, complement precision, substitute rate) it reports
how often the sign of a move's change against the start agrees with its sign on the
test (``sign_agreement``), and Spearman's rank correlation of the changes.

    CARTGRAPH_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 PYTHONPATH=. \\
        .venv/bin/python benchmarks/bundle_validation.py --only electronic,clothing

Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bundles import DATA, bundlerec_cases, vectors  # noqa: E402

import cartgraph  # noqa: E402
from cartgraph.bundles import BundleBuilder, Constraints, RLConfig  # noqa: E402
from cartgraph.bundles.builder import _resolve  # noqa: E402
from cartgraph.bundles.episodes import episode_sources, last_split, time_split, to_episodes  # noqa: E402
from cartgraph.bundles.metrics import bundle_metrics, mean_metrics, pair_matrix  # noqa: E402
from cartgraph.bundles.policy import STARTS, LinearPolicy  # noqa: E402
from cartgraph.bundles.walk import decode  # noqa: E402
from cartgraph.evaluation import splits  # noqa: E402

METRICS = ("recall", "complement_precision", "substitute_rate")
MOVES = {f"{f} {s:+g}": {f: s} for f in ("popularity", "complement", "complement_mean", "anchor_complement",
                                          "similarity", "mean_similarity", "user_similarity", "substitute",
                                          "same_leaf", "new_category", "relevance", "via_category")
         for s in (-2.0, 2.0)} | {"popularity -2, complement +1": {"popularity": -2.0, "complement": 1.0},
                                  "popularity -1, complement +1": {"popularity": -1.0, "complement": 1.0}}
"""Moves from the text-kNN start (``anchor_similarity`` 5), fixed in advance."""


def _users_slice(train, max_size: int, seed: int, folds: int = 5):
    """(graph, episodes, pairs): a seeded 1/``folds`` of the users, read against the others' data."""
    users = train.user_vocab.ids
    mine = set(users[np.random.default_rng(seed).integers(0, folds, size=len(users)) == 0].tolist())
    ev, ub = train.events, train.user_bundles
    graph = train.replace(events=ev[~ev["user_id"].isin(mine)], user_bundles=ub[~ub["user_id"].isin(mine)])
    src = episode_sources(train, "both")
    src = src[[users[int(u)] in mine for u in src["user"]]]
    episodes = [dataclasses.replace(e, user=None) for e in to_episodes(src, max_size)]
    return graph, episodes, pair_matrix([list(dict.fromkeys(x)) for x in src["items"]], train.n_items)


def _score(requests, targets, anchors, pairs, policy) -> dict[str, float]:
    rows = []
    for req, target, n_anchor in zip(requests, targets, anchors):
        items, _ = decode(req, policy)
        rows.append(bundle_metrics(items, n_anchor, set(target), pairs, req.tables.vectors, req.tables.leaf))
    m = mean_metrics(rows)
    return {k: float(np.nan_to_num(m[k])) for k in METRICS}


def run(domain: str, seed: int) -> dict:
    ds = cartgraph.load("bundlerec-amazon", DATA / "bundlerec-amazon" / domain)
    split = splits.last_bundle(ds, mode="new")
    train, rl = split.train, RLConfig(max_size=10)
    cases, held = bundlerec_cases(ds, split, rl.max_size)
    vec = vectors(train)
    builder = BundleBuilder(size=rl.max_size, rl=None, avoid_substitutes=False).fit(train, vec, seed=seed)
    slices = {"test": ([builder.request(c.user, c.anchors, Constraints(size=c.size, exclude=c.exclude)) for c in cases],
                       [c.target for c in cases], [len(c.anchors) for c in cases], pair_matrix(held, train.n_items))}
    graph, _, valid, pairs = time_split(train, rl.graph_fraction, rl.valid_fraction, rl.max_episodes, rl.max_size,
                                        seed, rl.sources, rl.max_valid)
    cut = last_split(train, rl.graph_fraction, rl.max_episodes, rl.max_size, seed, rl.sources, max_valid=10_000)
    for name, (data, episodes, pm) in {"time": (graph, valid, pairs),
                                       "last": (cut.valid_graphs[0], cut.valid, cut.valid_pairs[0]),
                                       "users": _users_slice(train, rl.max_size, seed)}.items():
        make = builder._maker(data, vec, None, lambda d: _resolve(None, d))
        slices[name] = ([make(e) for e in episodes], [e.target for e in episodes], [len(e.anchors) for e in episodes], pm)
    start = dict(STARTS["text_knn"])
    table = {}
    for move, change in ({"start": {}} | MOVES).items():
        policy = LinearPolicy.from_dict({**start, **change})
        table[move] = {name: _score(*s, policy) for name, s in slices.items()}
        print(f"{domain} {move}: {json.dumps(table[move])}", file=sys.stderr, flush=True)
    agreement = {}
    for name in ("time", "last", "users"):
        agreement[name] = {}
        for metric in METRICS:
            d_val = np.array([table[m][name][metric] - table["start"][name][metric] for m in MOVES])
            d_test = np.array([table[m]["test"][metric] - table["start"]["test"][metric] for m in MOVES])
            both = (np.abs(d_val) > 1e-12) & (np.abs(d_test) > 1e-12)
            rho = spearmanr(d_val, d_test).statistic if np.ptp(d_val) > 0 and np.ptp(d_test) > 0 else float("nan")
            agreement[name][metric] = {"sign_agreement": float(np.mean(np.sign(d_val[both]) == np.sign(d_test[both])))
                                       if both.any() else float("nan"), "moves_compared": int(both.sum()),
                                       "spearman": round(float(rho), 3)}
    sizes = {name: len(s[0]) for name, s in slices.items()}
    return {"episodes": sizes, "agreement": agreement, "table": table}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="electronic,clothing")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0, out = time.perf_counter(), {}
    for domain in args.only.split(","):
        out[f"bundlerec-{domain}"] = run(domain, args.seed)
    out["total_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
