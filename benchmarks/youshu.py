"""Bundle recommendation on Youshu (CrossCBR/BGCN split): our BundleRanker vs baselines.

Protocol (EVALUATION.md, "Youshu"): fit on the train user–bundle choices (plus every
user–item interaction and the bundle contents), mask train bundles, evaluate
Recall@20 / NDCG@20 over all bundles on the test file; the epoch is chosen on the
tune file (early stopping on Recall@20). Learned models: mean ± std over 3 seeds.

Models, same run:
- ``most_popular``: bundles by number of train choices;
- ``bgcn_style``: the same two views (item view with bundle = mean of its items,
  bundle view), BPR only — a BGCN-style baseline;
- ``ours``: BundleRanker (two views + cross-view contrast + edge-dropout augmentation,
  fused with an EASE co-choice score whose weight is chosen on tune).

Usage::

    CARTGRAPH_DATA_DIR=../shared/data python benchmarks/youshu.py [--seeds 0 1 2] [--epochs 100]

Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from cartgraph.baselines import MostPopular
from cartgraph.evaluation import evaluate, splits
from cartgraph.gnn.bundle_ranker import BundleRanker, bgcn_style
from cartgraph.loaders import load

TARGETS = {"crosscbr": {"recall@20": 0.2823, "ndcg@20": 0.1670}, "bundlegt": {"recall@20": 0.2905, "ndcg@20": 0.1737},
           "bgcn_paper": {"recall@20": 0.2436, "ndcg@20": 0.1329}, "most_popular_reference": {"recall@20": 0.2032, "ndcg@20": 0.1140}}


def sha16(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def run_learned(make, ds, valid, test, seeds) -> dict:
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        model = make(seed).fit(ds, valid=valid)
        fit_s = time.perf_counter() - t0
        m = evaluate(model, test, ks=(20,), progress=False)
        best = model.history_.best_epoch
        rows.append({"seed": seed, "recall@20": m["recall@20"], "ndcg@20": m["ndcg@20"], "fit_s": round(fit_s, 1),
                     "best_epoch": best + 1, "epochs_run": len(model.history_.loss)})
        print(f"  seed {seed}: R@20 {m['recall@20']:.4f}  N@20 {m['ndcg@20']:.4f}  best epoch {best + 1}  "
              f"({len(model.history_.loss)} epochs, {fit_s:.0f} s)", flush=True)
    out = {"runs": rows}
    for key in ("recall@20", "ndcg@20", "fit_s"):
        vals = [r[key] for r in rows]
        out[key] = round(statistics.mean(vals), 4)
        out[f"{key}_std"] = round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("CARTGRAPH_DATA_DIR", "../shared/data"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--patience", type=int, default=6)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--skip-bgcn", action="store_true")
    args = ap.parse_args()
    folder = Path(args.data_dir) / "youshu"
    ds = load("youshu", folder)
    valid, test = splits.youshu(ds, stage="valid"), splits.youshu(ds, stage="test")
    print(f"Youshu: {ds.n_users} users, {len(ds.bundles)} bundles, {ds.n_items} items; "
          f"evaluated users {test.n_users} (test), {valid.n_users} (tune); device {args.device}", flush=True)
    common = dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, eval_every=args.eval_every,
                  patience=args.patience, progress=False, device=args.device)
    results = {}
    t0 = time.perf_counter()
    pop = evaluate(MostPopular().fit(test.train), test, ks=(20,), progress=False)
    results["most_popular"] = {"recall@20": round(pop["recall@20"], 4), "ndcg@20": round(pop["ndcg@20"], 4)}
    print(f"most_popular: R@20 {pop['recall@20']:.4f}  N@20 {pop['ndcg@20']:.4f}", flush=True)
    if not args.skip_bgcn:
        print("bgcn_style:", flush=True)
        results["bgcn_style"] = run_learned(lambda s: bgcn_style(seed=s, **common), ds, valid, test, args.seeds)
    print("ours (BundleRanker):", flush=True)
    results["ours"] = run_learned(lambda s: BundleRanker(seed=s, **common), ds, valid, test, args.seeds)
    total = time.perf_counter() - t0
    ours = results["ours"]
    summary = {
        "dataset": "youshu", "checksums": {f: sha16(folder / f) for f in ("user_bundle_train.txt", "user_bundle_tune.txt",
                                                                           "user_bundle_test.txt", "user_item.txt", "bundle_item.txt")},
        "protocol": "fit train, mask train bundles, test file; epoch chosen on tune (Recall@20)",
        "settings": {k: v for k, v in vars(args).items() if k != "data_dir"},
        "results": results, "targets": TARGETS,
        "meets_crosscbr": ours["recall@20"] >= TARGETS["crosscbr"]["recall@20"] and ours["ndcg@20"] >= TARGETS["crosscbr"]["ndcg@20"],
        "total_s": round(total, 1), "machine": f"{platform.machine()} {os.cpu_count()} cores, {args.device}",
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
