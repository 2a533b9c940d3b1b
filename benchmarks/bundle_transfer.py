"""Do other shoppers' bundles transfer to never-bought items through their titles? (issue 6 diagnostic)

On BundleRec electronic the walk has not beaten lexical kNN (the anchor's title TF-IDF
cosine). Most items of a test bundle were never bought, so a collaborative signal can
only reach them through what they look like. Two such transfers, each added to the
lexical cosine ``L[a]`` with weight ``γ`` (after scaling to a maximum of 1 per anchor):

- ``hop k``: the anchor's ``k`` closest titles, their partners in the other groups'
  bundles, and the catalogue items whose titles are close to those partners:
  ``L · Bᵀ · L_k[a]`` (``B`` the bundle co-membership of the other groups, ``L_k`` the
  top-``k`` rows of ``L``).
- ``translate``: title words that co-occur across the two sides of the other groups'
  bundle pairs, ``x_a · (Xᵀ B X) · x_cᵀ`` (``X`` the TF-IDF matrix): "a battery title
  goes with a charger title".

Protocol as ``benchmarks/bundle_signals.py``: every training bundle of
``splits.last_bundle`` (test bundles never read), cross-fitted over 5 seeded user groups,
completed from its first item; recall of its other items in the top ``size − 1``; paired
differences against ``lexical`` with their standard error.

    CARTGRAPH_DATA_DIR=../shared/data python benchmarks/bundle_transfer.py [--only electronic]

Last line: one JSON object.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import cartgraph
from cartgraph.bundles.lexical import title_tfidf
from cartgraph.bundles.tables import item_titles
from cartgraph.evaluation import splits

from bundle_signals import bundles_of, cross_fit_args, paired_report, recall_per_bundle

DATA = Path(os.environ.get("CARTGRAPH_DATA_DIR", "../shared/data"))
GAMMAS = (0.1, 0.3, 1.0)


def top_rows(m: np.ndarray, k: int) -> np.ndarray:
    """``m`` with all but each row's ``k`` largest entries set to 0."""
    out = np.zeros_like(m)
    idx = np.argpartition(-m, k, axis=1)[:, :k]
    rows = np.arange(len(m))[:, None]
    out[rows, idx] = m[rows, idx]
    return out


def co_membership(members: list[list[int]], fold: np.ndarray, g: int, n: int) -> sp.csr_matrix:
    """``(n, n)`` 0/1: two items share a bundle of a group other than ``g``."""
    r = [i for m, f in zip(members, fold) if f != g for i in m for j in m if i != j]
    c = [j for m, f in zip(members, fold) if f != g for i in m for j in m if i != j]
    b = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, n))
    b.data[:] = 1.0
    return b


def added(base: np.ndarray, extra: np.ndarray, gamma: float) -> np.ndarray:
    top = extra.max()
    return base + gamma * (extra / top if top > 0 else extra)


def run(domain: str, folds: int, seed: int) -> dict:
    ds = cartgraph.load("bundlerec-amazon", DATA / "bundlerec-amazon" / domain)
    train = splits.last_bundle(ds, mode="new").train
    members, _, users = bundles_of(train)
    rng = np.random.default_rng(seed)
    uniq = np.unique(users)
    group_of = dict(zip(uniq, rng.integers(0, folds, len(uniq))))
    fold = np.array([group_of[u] for u in users])
    t0 = time.perf_counter()
    x = title_tfidf(item_titles(train))
    lex = (x @ x.T).toarray()
    np.fill_diagonal(lex, 0.0)
    n = train.n_items
    together = {g: co_membership(members, fold, g, n) for g in range(folds)}
    words = {g: (x.T @ together[g] @ x).tocsr() for g in range(folds)}
    rows = {"lexical": recall_per_bundle(members, fold, lambda a, g: lex[a])}
    for k in (5, 20):
        near = top_rows(lex, k)
        for gamma in GAMMAS:
            rows[f"hop k{k} γ{gamma:g}"] = recall_per_bundle(
                members, fold, lambda a, g, near=near, gamma=gamma: added(lex[a], lex @ (together[g].T @ near[a]), gamma))
    for gamma in GAMMAS:
        rows[f"translate γ{gamma:g}"] = recall_per_bundle(
            members, fold, lambda a, g, gamma=gamma: added(lex[a], (x @ (x[a] @ words[g]).T).toarray().ravel(), gamma))
    return {"bundles": len(members), "items": int(n), "seconds": round(time.perf_counter() - t0, 1),
            "methods": paired_report(domain, rows, "lexical")}


def main() -> None:
    args = cross_fit_args(__doc__.split("\n")[0])
    result = {"benchmark": "bundle_transfer", "protocol": "cross-fitted user groups over the training bundles of "
              "splits.last_bundle (test bundles never read)", "folds": args.folds, "seed": args.seed}
    for domain in args.only.split(","):
        result[domain] = run(domain, args.folds, args.seed)
    result["machine"] = f"{platform.machine()} {os.cpu_count()} cpus"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
