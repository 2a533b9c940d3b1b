"""Would the shopper's own history help lexical kNN complete BundleRec bundles? (issue 6 diagnostic)

In ``benchmarks/bundles.py --episodes users`` the walk's training episodes are anonymous
(each user group read against the other users' data), so the shopper features
(``relevance``: ItemKNN of the user's items; ``user_similarity``) are frozen at the start's
weight, 0 for the lexical kNN start. This script asks what a small weight on them would do,
on two slices, with the weights fixed in advance (no RL):

- ``valid``: the training data's own last bundles (``splits.last_bundle`` applied to the
  test split's training data: the slice the RL stage validates on);
- ``test``: the benchmark's test bundles. **It reads the test**: it diagnoses, it must
  not choose. A weight is only usable if ``valid`` alone would have chosen it.

Walk weights: ``anchor_lexical = 5`` (the lexical kNN start) plus ``relevance = β`` or
``user_similarity = β``. Same cases and metrics as ``benchmarks/bundles.py``.

    CARTGRAPH_DATA_DIR=../shared/data python benchmarks/bundle_shopper.py [--only electronic]

Last line: one JSON object.
"""
from __future__ import annotations

import os
from pathlib import Path

import cartgraph
from cartgraph.bundles import BundleBuilder
from cartgraph.bundles.evaluation import evaluate_bundles
from cartgraph.bundles.metrics import pair_matrix
from cartgraph.bundles.policy import STARTS, LinearPolicy
from cartgraph.bundles.walk import decode
from cartgraph.evaluation import splits

from bundle_signals import domain_main
from bundles import bundlerec_cases, vectors

DATA = Path(os.environ.get("CARTGRAPH_DATA_DIR", "../shared/data"))
KEYS = ("recall", "complement_precision", "substitute_rate")


def grid() -> dict[str, dict[str, float]]:
    base = dict(STARTS["lexical_knn"])
    out = {"lexical_knn": base}
    for beta in (0.25, 0.5, 1.0, 2.0):
        out[f"+relevance {beta:g}"] = base | {"relevance": beta}
    for beta in (0.5, 1.0, 2.0):
        out[f"+user_similarity {beta:g}"] = base | {"user_similarity": beta}
    return out


def run(domain: str) -> dict:
    ds = cartgraph.load("bundlerec-amazon", DATA / "bundlerec-amazon" / domain)
    out = {}
    for name, data in (("valid", splits.last_bundle(ds, mode="new").train), ("test", ds)):
        split = splits.last_bundle(data, mode="new")
        cases, held = bundlerec_cases(data, split, 10)
        builder = BundleBuilder(size=10, rl=None, avoid_substitutes=False).fit(split.train, vectors(split.train))
        methods = {k: (lambda req, p=LinearPolicy.from_dict(w): decode(req, p)[0]) for k, w in grid().items()}
        res = evaluate_bundles(builder, cases, pair_matrix(held, split.train.n_items), methods=methods)
        out[name] = {"cases": len(cases), "methods": {m: {k: round(r[k], 4) for k in KEYS} for m, r in res.items()}}
        for m, r in res.items():
            print(f"{domain} {name:5s} ({len(cases)} cases) {m:22s} " + "  ".join(f"{k} {r[k]:.4f}" for k in KEYS),
                  flush=True)
    return out


def main() -> None:
    domain_main(__doc__, "bundle_shopper", run, reads_test=True)


if __name__ == "__main__":
    main()
