"""Serving latency of a fitted :class:`cartgraph.Recommender`: single requests, p50/p99 ms.

Usage::

    CARTGRAPH_DATA_DIR=../shared/data python benchmarks/serve_latency.py [--only online-retail] [--requests 500]

For each dataset (Online Retail; Instacart with its full product catalogue) it fits the
pipeline once (or loads ``--model-cache/<dataset>`` when saved there before), then
times ``recommend(user, 10)``, ``complements(item, 10)`` and ``bundle(user, 4)`` one
request at a time for random users / items (seeded). Beside the facade it times the peer a user would call instead: the
fitted model's own index-based ``recommend`` / ``complements`` (no id mapping), so the
ratio is the facade's overhead. Targets: recommend p50 ≤ 5 ms and p99 ≤ 25 ms, bundle p50 ≤ 20 ms.
The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import cartgraph
from cartgraph import Recommender, RecommenderConfig

DATASETS = ("online-retail", "instacart")


def percentiles(fn, args: list) -> dict[str, float]:
    """p50/p99/mean milliseconds of ``fn(a)`` for each ``a`` (one warm-up call first)."""
    fn(args[0])
    times = []
    for a in args:
        t0 = time.perf_counter()
        fn(a)
        times.append((time.perf_counter() - t0) * 1000)
    t = np.asarray(times)
    return {"p50_ms": round(float(np.percentile(t, 50)), 3), "p99_ms": round(float(np.percentile(t, 99)), 3),
            "mean_ms": round(float(t.mean()), 3), "n": len(t)}


def fitted(name: str, cache: Path | None) -> tuple[Recommender, float]:
    folder = cache / name if cache else None
    if folder is not None and (folder / "recommender.json").exists():
        return Recommender.load(folder), 0.0
    root = Path(os.environ.get("CARTGRAPH_DATA_DIR", "../shared/data"))
    ds = cartgraph.load(name, root / name)
    t0 = time.perf_counter()
    rec = Recommender(RecommenderConfig()).fit(ds, progress=False)
    seconds = time.perf_counter() - t0
    if folder is not None:
        rec.save(folder)
    return rec, seconds


def measure(name: str, requests: int, cache: Path | None) -> dict:
    rec, fit_s = fitted(name, cache)
    rng = np.random.default_rng(0)
    active = np.flatnonzero(np.diff(rec.seen_.indptr) > 0)
    users = rng.choice(active, size=min(requests, len(active)), replace=False)
    ids = [str(u) for u in rec.user_vocab_.ids[users]]
    out = {"dataset": name, "items": int(len(rec.item_vocab_)), "users": int(len(rec.user_vocab_)),
           "model": type(rec.model_).__name__, "fit_s": round(fit_s, 1), "stages": {k: v["status"] for k, v in rec.stages_.items()},
           "stage_seconds": {k: v["seconds"] for k, v in rec.stages_.items()},
           "recommend": percentiles(lambda u: rec.recommend(u, 10), ids),
           "peer_model_recommend": percentiles(lambda u: rec.model_.recommend(int(u), k=10), list(users))}
    out["recommend_overhead_ratio"] = round(out["recommend"]["p50_ms"] / out["peer_model_recommend"]["p50_ms"], 2)
    if rec.stages_["complements"]["status"] == "done":
        items = rng.choice(len(rec.item_vocab_), size=min(requests, len(rec.item_vocab_)), replace=False)
        out["complements"] = percentiles(lambda i: rec.complements(i, 10), [str(i) for i in rec.item_vocab_.ids[items]])
        out["peer_model_complements"] = percentiles(lambda i: rec.complements_.complements(int(i), k=10), list(items))
    if rec.stages_["bundles"]["status"] == "done":
        out["bundle"] = percentiles(lambda u: rec.bundle(u, 4), ids[: max(50, requests // 5)])
    out["targets_met"] = {"recommend_p50<=5": out["recommend"]["p50_ms"] <= 5,
                          "recommend_p99<=25": out["recommend"]["p99_ms"] <= 25,
                          "bundle_p50<=20": out.get("bundle", {}).get("p50_ms", float("inf")) <= 20}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(DATASETS), help="comma-separated datasets")
    parser.add_argument("--requests", type=int, default=500, help="single requests timed per verb")
    parser.add_argument("--model-cache", type=Path, default=None, help="save/load fitted models here")
    args = parser.parse_args()
    results = []
    for name in args.only.split(","):
        r = measure(name, args.requests, args.model_cache)
        print(f"{name}: recommend p50 {r['recommend']['p50_ms']} ms p99 {r['recommend']['p99_ms']} ms "
              f"(model alone p50 {r['peer_model_recommend']['p50_ms']} ms); bundle {r.get('bundle', 'not fitted')}")
        results.append(r)
    print(json.dumps({"benchmark": "serve_latency", "machine": f"{platform.machine()} {os.cpu_count()} cpu",
                      "results": results}))


if __name__ == "__main__":
    main()
