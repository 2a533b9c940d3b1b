"""Learned COMPLEMENTS edges vs raw co-purchase counts and text similarity.

For every catalogue item ``a`` each method lists 10 partners; **precision@10** is, over
held-out groups ``g`` and items ``a ∈ g`` (groups of ≥ 2 items), the share of ``a``'s 10
partners that are other items of ``g``
(:func:`cartgraph.gnn.complement_metrics.group_precision`). **Substitute rate**
(EVALUATION.md): share of the listed pairs in the same leaf category with text
cosine > 0.9.

- **Online Retail** (identified customers' invoices): fit on invoices before
  2011-11-01, held-out groups = invoices from 2011-11-01 (the test period of the
  protocol). The epoch is chosen on the validation period (fit before 2011-09-01,
  precision@10 on 2011-09-01..2011-10-31 invoices), then refit on everything before
  2011-11-01. Leaf categories: the derived two-level tree (``derive_categories``).
- **BundleRec** (``electronic``, ``clothing``): held-out groups = each user's last
  bundle (``splits.last_bundle``); the model learns from the remaining sessions and
  bundles (test bundles excluded); fixed epoch count. Validation slice: the same split
  one step earlier (each user's last *training* bundle, held out of a first fit).

Row ``complement_ranker``: :class:`~cartgraph.gnn.ComplementRanker` (graph pair features +
a list scorer trained on holdouts inside the training data: Online Retail the library
default, the latest 20 % of the baskets rolled back once; BundleRec each user's last
training bundle), one fit per seed; ``untrained`` beside it = its candidate lists in their
start order (co-purchase count, then two-hop), what the scorer starts from.

Rows ``complement_gnn_plus_counts``: the same fitted models served with
``count_weight`` (per-anchor z-score of the learned score + w × z-score of
log(1 + count)); w is chosen on the validation slice (Online Retail: the validation
invoices; BundleRec: the last training bundles; ``--bundle-count-weight`` fixes it there).

Baselines from the same training data: ``co_purchase`` = the 10 partners with the
largest co-occurrence count (baskets + bundles, the matrix the model learns from);
``text`` = the 10 nearest items by text cosine. Learned model: mean ± std over seeds.

Usage::

    CARTGRAPH_DATA_DIR=../shared/data python benchmarks/complements.py [--seeds 0 1 2]

Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cartgraph.evaluation import splits
from cartgraph.evaluation.topk import topk
from cartgraph.gnn import ComplementModel, ComplementRanker
from cartgraph.gnn.complement_holdout import last_bundles
from cartgraph.gnn.complement_metrics import group_precision, substitute_rate
from cartgraph.gnn.complement_pairs import co_occurrence, group_matrix, leaf_categories
from cartgraph.gnn.similar import cosine_neighbours
from cartgraph.loaders import load
from cartgraph.text import TextEncoder, derive_categories, item_vectors

K = 10


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def sha16(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def period_baskets(ds, start, end) -> pd.DataFrame:
    ev = ds.events[ds.events["user_id"].notna() & (ds.events["ts"] >= start)]
    if end is not None:
        ev = ev[ev["ts"] < end]
    return ds.basket_items(events=ev).rename(columns={"basket_id": "group_id"})


def quality(top: np.ndarray, groups, leaf, vectors) -> dict:
    src, dst = np.repeat(np.arange(len(top)), top.shape[1]), top.ravel()
    listed = dst >= 0                          # a ComplementRanker list may be shorter than K
    return {"precision@10": round(group_precision(top, groups), 4),
            "substitute_rate": round(substitute_rate(src[listed], dst[listed], leaf, vectors), 4)}


def baselines(train, vectors, groups, leaf, exclude=None) -> dict:
    counts = co_occurrence(train, exclude_bundles=exclude).toarray()
    np.fill_diagonal(counts, -np.inf)
    top_counts, _ = topk(counts, K)
    top_text, _ = cosine_neighbours(vectors, np.arange(len(vectors)), K)
    return {"co_purchase": quality(top_counts, groups, leaf, vectors), "text": quality(top_text, groups, leaf, vectors)}


def learned(runs: list[dict]) -> dict:
    out = {"runs": runs}
    for key in ("precision@10", "substitute_rate"):
        vals = [r[key] for r in runs]
        out[key] = round(statistics.mean(vals), 4)
        out[f"{key}_std"] = round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0
    return out


def online_retail(root: Path, args) -> dict:
    ds = load("online-retail", root / "online-retail")
    ds = derive_categories(ds, item_vectors(ds, TextEncoder(cache=True)))
    valid_train = splits.online_retail(ds, "valid", "all").train
    test_train = splits.online_retail(ds, "test", "all").train
    (v_start, v_end), (t_start, _) = splits.ONLINE_RETAIL_PERIODS["valid"], splits.ONLINE_RETAIL_PERIODS["test"]
    valid_groups = period_baskets(ds, v_start, v_end)
    test_groups = group_matrix(period_baskets(ds, t_start, None), test_train, "group_id")
    enc = TextEncoder(cache=True)
    vec_valid, vec_test = item_vectors(valid_train, enc), item_vectors(test_train, enc)
    leaf = leaf_categories(test_train)
    res = {"n_test_baskets": int(test_groups.shape[0]), "n_items": test_train.n_items,
           **baselines(test_train, vec_test, test_groups, leaf)}
    if "ranker" in args.models:
        res["complement_ranker"] = ranker_rows(test_train, vec_test, test_groups, leaf, args, None, None)
    if "gnn" not in args.models:
        return res
    t0 = time.perf_counter()
    select = ComplementModel(epochs=args.epochs, eval_every=args.eval_every, patience=args.patience,
                             seed=args.seeds[0], count_weight="auto",
                             **model_options(args)).fit(valid_train, item_vectors=vec_valid, valid=valid_groups)
    best, weight = select.history_.best_epoch + 1, select.count_weight_
    runs, fused = [], []
    for seed in args.seeds:
        m = ComplementModel(epochs=best, eval_every=0, seed=seed, **model_options(args)).fit(test_train,
                                                                                            item_vectors=vec_test)
        runs.append({"seed": seed, **quality(m.complements(np.arange(test_train.n_items), K)[0], test_groups, leaf,
                                              vec_test)})
        m.count_weight_ = weight
        fused.append({"seed": seed, **quality(m.complements(np.arange(test_train.n_items), K)[0], test_groups, leaf,
                                               vec_test)})
        log(f"  online-retail seed {seed}: {runs[-1]} fused {fused[-1]}")
    res["complement_gnn"] = {**learned(runs), "epochs": best, "valid_precision@10": round(select.history_.best_score, 4),
                             "fit_s": round(time.perf_counter() - t0, 1)}
    res["complement_gnn_plus_counts"] = {**learned(fused), "count_weight": weight,
                                         "valid_precision@10_by_weight": {str(w): round(v, 4) for w, v in
                                                                          select.count_weight_scores_.items()}}
    return res


def bundlerec(root: Path, domain: str, args) -> dict:
    ds = load("bundlerec-amazon", root / "bundlerec-amazon" / domain)
    split = splits.last_bundle(ds)
    train = split.train
    held = sorted(set(ds.user_bundles["bundle_id"]) - set(train.user_bundles["bundle_id"]))
    members = ds.bundle_items()
    test_groups = group_matrix(members[members["bundle_id"].isin(held)].rename(columns={"bundle_id": "group_id"}),
                               train, "group_id")
    vectors = item_vectors(train, TextEncoder(cache=True))
    leaf = leaf_categories(train)
    res = {"n_test_bundles": int(test_groups.shape[0]), "n_items": train.n_items,
           **baselines(train, vectors, test_groups, leaf, exclude=held)}
    if "ranker" in args.models:
        res["complement_ranker"] = ranker_rows(train, vectors, test_groups, leaf, args, [last_bundles(train)], held)
    if "gnn" not in args.models:
        return res
    t0, runs, fused = time.perf_counter(), [], []
    options = {**model_options(args), "batch_size": args.bundle_batch_size}
    weight, by_weight = args.bundle_count_weight, None
    if weight == "auto":  # the test split one step earlier: each user's last training bundle
        inner = splits.last_bundle(train)
        inner_held = sorted(set(train.user_bundles["bundle_id"]) - set(inner.train.user_bundles["bundle_id"]))
        valid = members[members["bundle_id"].isin(inner_held)].rename(columns={"bundle_id": "group_id"})
        select = ComplementModel(epochs=args.bundle_epochs, eval_every=0, seed=args.seeds[0], count_weight="auto",
                                 **options).fit(inner.train, item_vectors=vectors, valid=valid[["group_id", "item_id"]],
                                                exclude_bundles=held + inner_held)
        weight, by_weight = select.count_weight_, {str(w): round(v, 4) for w, v in select.count_weight_scores_.items()}
        log(f"  bundlerec-{domain} validation P@10 by count weight: {by_weight} -> {weight}")
    for seed in args.seeds:
        m = ComplementModel(epochs=args.bundle_epochs, eval_every=0, seed=seed, **options).fit(
            train, item_vectors=vectors, exclude_bundles=held)
        runs.append({"seed": seed, **quality(m.complements(np.arange(train.n_items), K)[0], test_groups, leaf, vectors)})
        m.count_weight_ = float(weight)
        fused.append({"seed": seed, **quality(m.complements(np.arange(train.n_items), K)[0], test_groups, leaf, vectors)})
        log(f"  bundlerec-{domain} seed {seed}: {runs[-1]} fused {fused[-1]}")
    res["complement_gnn"] = {**learned(runs), "epochs": args.bundle_epochs, "fit_s": round(time.perf_counter() - t0, 1)}
    res["complement_gnn_plus_counts"] = {**learned(fused), "count_weight": weight,
                                         **({"valid_precision@10_by_weight": by_weight} if by_weight else
                                            {"note": "fixed weight (--bundle-count-weight), not tuned"})}
    return res


def ranker_rows(train, vectors, groups, leaf, args, holdouts, exclude) -> dict:
    """ComplementRanker, one fit per seed (holdouts None: the library default, the latest baskets)."""
    runs, t0, info = [], time.perf_counter(), []
    for seed in args.seeds:
        m = ComplementRanker(seed=seed).fit(train, item_vectors=vectors, holdouts=holdouts, exclude_bundles=exclude)
        runs.append({"seed": seed, **quality(m.complements(np.arange(train.n_items), K)[0], groups, leaf, vectors)})
        info.append({"seed": seed, "best_epoch": m.history_.best_epoch, "train_anchors": m.n_train_anchors_,
                     "valid_anchors": m.n_valid_anchors_,
                     "valid_precision@10": {k: round(v, 4) for k, v in m.valid_precision_.items()}})
        log(f"  complement_ranker seed {seed}: {runs[-1]} {info[-1]}")
    start = ComplementRanker(epochs=0).fit(train, item_vectors=vectors, exclude_bundles=exclude)
    return {**learned(runs), "fits": info, "holdouts": "default (latest 20% of baskets, rolled back once)"
            if holdouts is None else "each user's last training bundle", "fit_s": round(time.perf_counter() - t0, 1),
            "untrained": quality(start.complements(np.arange(train.n_items), K)[0], groups, leaf, vectors)}


def model_options(args) -> dict:
    return dict(embedding_dim=64, per_item=args.per_item, weight_by_count=args.weight_by_count, hard_fraction=args.hard_fraction, lr=args.lr,
                batch_size=args.batch_size, progress=False, device=args.device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("CARTGRAPH_DATA_DIR", "../shared/data"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--bundle-epochs", type=int, default=30)
    ap.add_argument("--bundle-batch-size", type=int, default=512, help="BundleRec has few pairs: smaller batches")
    ap.add_argument("--bundle-count-weight", type=lambda x: x if x == "auto" else float(x), default="auto",
                    help="fusion weight on BundleRec: 'auto' (chosen on the last training bundles) or a number")
    ap.add_argument("--eval-every", type=int, default=2)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--per-item", type=int, default=50)
    ap.add_argument("--hard-fraction", type=float, default=0.3)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--no-weight-by-count", dest="weight_by_count", action="store_false")
    ap.add_argument("--batch-size", type=int, default=8192)
    ap.add_argument("--domains", default="electronic,clothing")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-online-retail", dest="online_retail", action="store_false")
    ap.add_argument("--models", default="gnn,ranker",
                    help="learned rows: gnn (ComplementModel, + counts), ranker (ComplementRanker)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    args.models = set(args.models.split(","))
    torch.set_num_threads(args.threads)
    root = Path(args.data_dir)
    t0 = time.perf_counter()
    results = {"online-retail": online_retail(root, args)} if args.online_retail else {}
    if args.online_retail:
        log(f"online-retail: {json.dumps(results['online-retail'])}")
    for domain in [d for d in args.domains.split(",") if d]:
        results[f"bundlerec-{domain}"] = bundlerec(root, domain, args)
        log(f"bundlerec-{domain}: {json.dumps(results[f'bundlerec-{domain}'])}")
    beats = {f"{name}/{key}": bool(r[key]["precision@10"] > max(r["co_purchase"]["precision@10"],
                                                                 r["text"]["precision@10"]))
             for name, r in results.items() for key in ("complement_gnn", "complement_gnn_plus_counts",
                                                         "complement_ranker") if key in r}
    files = ["online-retail/Online_Retail.parquet"] * args.online_retail + [f"bundlerec-amazon/{d}/{f}" for d in args.domains.split(",") if d
                                                       for f in ("bundle_item.csv", "user_bundle.csv", "session_item.csv")]
    print(json.dumps({"benchmark": "complements", "k": K, "results": results, "beats_both": beats,
                      "settings": {k: sorted(v) if isinstance(v, set) else v for k, v in vars(args).items() if k != "data_dir"},
                      "checksums": {f: sha16(root / f) for f in files}, "total_s": round(time.perf_counter() - t0, 1),
                      "machine": f"{platform.machine()} {os.cpu_count()} cpus, {args.device}, "
                                 f"load avg {os.getloadavg()[0]:.1f}"}))


if __name__ == "__main__":
    main()
