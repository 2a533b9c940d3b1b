"""Reproduce LightGCN on the official Gowalla split (paper: Recall@20 0.1830, NDCG@20 0.1554).

Model: 3 layers, d = 64, BPR with L2 1e-4 on the batch's ego embeddings, Adam.

Protocol (no test data in any choice):

* a validation slice is carved from train (10 % of each user's train items, seeded:
  ``splits.lightgcn_official(stage="valid")``);
* for each candidate setting (batch size, learning rate) a *select* run trains on the
  rest of train and reports Recall@20 on the slice every ``--eval-every`` epochs
  (early stopping with ``--patience``);
* a *final* run of the same setting trains on the whole train split at the same
  time and keeps a snapshot every ``--eval-every`` epochs: the snapshot at epoch ``e``
  is exactly the model a refit for ``e`` epochs would give (same seed, no schedule);
* the (setting, epoch) with the best validation recall is chosen, and only that
  final snapshot is evaluated on the official test file.

Select and final runs of every setting run side by side, each in its own process
(on a GPU they share it). ``--budget-s`` bounds the training time: at the deadline the
runs stop and the choice is made among the epochs reached. Re-running with the same
``--out`` folder and ``--checkpoint`` continues (CPU runs in chunks).

    CARTGRAPH_DATA_DIR=../shared/data python benchmarks/gowalla.py --out runs/gowalla \\
        --settings 2048:1e-3,8192:4e-3 --epochs 1000 --budget-s 3600 [--device cuda]

Last line: one JSON object (``recall@20``, ``ndcg@20``, chosen setting and epoch,
validation curves, seconds per epoch, ...). ``test_curve`` (test recall of the chosen
setting's snapshots) is a diagnostic printed after the choice, never used for it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
PAPER = {"recall@20": 0.1830, "ndcg@20": 0.1554}
TARGET = {"recall@20": 0.1810, "ndcg@20": 0.1535}


def _splits(data_dir: str):
    from cartgraph.evaluation import splits
    from cartgraph.loaders import load

    ds = load("lightgcn", Path(data_dir) / "gowalla")
    return splits.lightgcn_official(ds, stage="valid"), splits.lightgcn_official(ds, stage="test")


def _model(args, batch: int, lr: float, epochs: int, eval_every: int, checkpoint: str | None):
    from cartgraph.gnn import LightGCN

    return LightGCN(64, 3, epochs=epochs, batch_size=batch, lr=lr, weight_decay=1e-4, eval_every=eval_every,
                    patience=args.patience, seed=args.seed, checkpoint=checkpoint, progress=False,
                    device=args.device)


def run_role(args) -> None:
    """One select or final run (a subprocess of :func:`main`)."""
    out = Path(args.out)
    tag = args.tag
    batch, lr = int(tag.split("_")[0][1:]), float(tag.split("_")[1][2:])
    valid, test = _splits(args.data_dir)
    stop_file = out / f"stop-{args.role}-{tag}"
    log = open(out / f"{args.role}-{tag}.jsonl", "a")
    ckpt = str(out / f"{args.role}-{tag}.ckpt") if args.checkpoint else None
    t0 = time.perf_counter()

    if args.role == "select":
        model = _model(args, batch, lr, args.epochs, args.eval_every, ckpt)

        def on_epoch_end(epoch, history):
            row = {"epoch": epoch + 1, "loss": history.loss[-1], "s": round(time.perf_counter() - t0, 2)}
            if history.valid and history.valid[-1][0] == epoch:
                row["valid_recall@20"] = history.valid[-1][1]
            log.write(json.dumps(row) + "\n")
            log.flush()
            return stop_file.exists()

        model.fit(valid.train, valid=valid, on_epoch_end=on_epoch_end)
        h = model.history_
        result = {"best_epoch": h.best_epoch + 1, "best_valid_recall@20": h.best_score,
                  "valid_curve": [(e + 1, round(s, 5)) for e, s in h.valid], "epochs_run": len(h.loss),
                  "s_per_epoch": h.seconds / max(len(h.loss), 1)}
    else:
        model = _model(args, batch, lr, args.epochs, 0, ckpt)

        def on_epoch_end(epoch, history):
            done = epoch + 1
            if done % args.eval_every == 0:
                np.save(out / f"snap-{tag}-e{done}.npy", model.module_.weight.detach().float().cpu().numpy())
            log.write(json.dumps({"epoch": done, "loss": history.loss[-1], "s": round(time.perf_counter() - t0, 2)}) + "\n")
            log.flush()
            until = out / f"until-{tag}"
            return stop_file.exists() or (until.exists() and done >= int(until.read_text()))

        model.fit(test.train, on_epoch_end=on_epoch_end)
        h = model.history_
        result = {"epochs_run": len(h.loss), "s_per_epoch": h.seconds / max(len(h.loss), 1)}
    (out / f"{args.role}-{tag}.json").write_text(json.dumps(result))


class SnapshotScorer:
    """Test metrics of final-run snapshots (the graph of the train split is built once)."""

    def __init__(self, args, test, tag: str) -> None:
        batch, lr = int(tag.split("_")[0][1:]), float(tag.split("_")[1][2:])
        self.args, self.test, self.tag = args, test, tag
        self.model = _model(args, batch, lr, 0, 0, None).fit(test.train)  # builds the graph; no training

    def __call__(self, epoch: int) -> dict:
        from cartgraph.evaluation import evaluate

        weight = np.load(Path(self.args.out) / f"snap-{self.tag}-e{epoch}.npy")
        with torch.no_grad():
            self.model.module_.weight.copy_(torch.from_numpy(weight))
        self.model._cache_embeddings()
        m = evaluate(self.model, self.test, ks=(20,), progress=False)
        return {"recall@20": round(m["recall@20"], 4), "ndcg@20": round(m["ndcg@20"], 4)}


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("CARTGRAPH_DATA_DIR", "../shared/data"))
    ap.add_argument("--out", default="runs/gowalla", help="folder for logs, snapshots, checkpoints")
    ap.add_argument("--settings", default="2048:1e-3", help="comma-separated batch:lr candidates")
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--eval-every", type=int, default=20)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget-s", type=float, default=float("inf"), help="stop training after this many seconds")
    ap.add_argument("--checkpoint", action=argparse.BooleanOptionalAction, default=None,
                    help="checkpoint every epoch so a re-run continues (default: on for CPU, off for CUDA)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads per run (0: cores / runs)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--role", choices=("select", "final")), ap.add_argument("--tag")
    args = ap.parse_args()
    if args.checkpoint is None:
        args.checkpoint = not args.device.startswith("cuda")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.role:
        if args.threads:
            torch.set_num_threads(args.threads)
        run_role(args)
        return

    t0 = time.perf_counter()
    tags = []
    for item in args.settings.split(","):
        batch, lr = item.split(":")
        tags.append(f"b{int(batch)}_lr{float(lr):g}")
    n_runs = 2 * len(tags)
    threads = args.threads or max(1, (os.cpu_count() or 2) // n_runs)
    for f in out.glob("stop-*"):
        f.unlink()
    for f in out.glob("until-*"):
        f.unlink()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    common = [sys.executable, __file__, "--data-dir", args.data_dir, "--out", args.out, "--epochs", str(args.epochs),
              "--eval-every", str(args.eval_every), "--patience", str(args.patience), "--seed", str(args.seed),
              "--device", args.device, "--threads", str(threads),
              "--checkpoint" if args.checkpoint else "--no-checkpoint"]
    procs = {(role, tag): subprocess.Popen(common + ["--role", role, "--tag", tag], env=env)
             for tag in tags for role in ("select", "final")}
    deadline = t0 + args.budget_s
    last_print = 0.0
    while any(procs[("select", t)].poll() is None for t in tags):
        time.sleep(2)
        now = time.perf_counter()
        if now >= deadline:
            for tag in tags:
                (out / f"stop-select-{tag}").touch()
        if now - last_print > 30:
            last_print = now
            status = []
            for tag in tags:
                sel, fin = _read_jsonl(out / f"select-{tag}.jsonl"), _read_jsonl(out / f"final-{tag}.jsonl")
                best = max((r.get("valid_recall@20", 0) for r in sel), default=0)
                status.append(f"{tag}: select epoch {sel[-1]['epoch'] if sel else 0} (best valid {best:.4f}), "
                              f"final epoch {fin[-1]['epoch'] if fin else 0}")
            print(f"[{now - t0:6.0f} s] " + " | ".join(status), flush=True)
    for tag in tags:
        if procs[("select", tag)].returncode != 0:
            raise SystemExit(f"select run {tag} failed with exit code {procs[('select', tag)].returncode}")
    selects = {tag: json.loads((out / f"select-{tag}.json").read_text()) for tag in tags}
    tag = max(tags, key=lambda t: (selects[t]["best_valid_recall@20"], -tags.index(t)))
    epoch = selects[tag]["best_epoch"]
    print(f"chosen on validation: {tag} at epoch {epoch} (valid Recall@20 {selects[tag]['best_valid_recall@20']:.4f})",
          flush=True)
    for t in tags:  # finals stop once they reach their setting's chosen epoch (or now, if not chosen)
        (out / f"until-{t}").write_text(str(epoch if t == tag else 0))
    snap = out / f"snap-{tag}-e{epoch}.npy"
    while not snap.exists() and procs[("final", tag)].poll() is None:
        time.sleep(1)
    for p in procs.values():
        p.wait()
    if not snap.exists():
        raise SystemExit(f"the final run of {tag} ended before epoch {epoch}; see {out}/final-{tag}.jsonl")
    _, test = _splits(args.data_dir)
    scorer = SnapshotScorer(args, test, tag)
    metrics = scorer(epoch)
    finals = {t: json.loads((out / f"final-{t}.json").read_text()) for t in tags if (out / f"final-{t}.json").exists()}
    print(json.dumps({"test_at_chosen": metrics}), flush=True)
    snaps = sorted(int(p.stem.split("-e")[-1]) for p in out.glob(f"snap-{tag}-e*.npy"))
    picks = sorted({snaps[i] for i in np.linspace(0, len(snaps) - 1, min(10, len(snaps))).round().astype(int)})
    curve = [(e, scorer(e)["recall@20"]) for e in picks]
    result = {**metrics, "chosen": {"setting": tag, "epoch": epoch,
                                    "valid_recall@20": round(selects[tag]["best_valid_recall@20"], 5)},
              "meets_target": metrics["recall@20"] >= TARGET["recall@20"] and metrics["ndcg@20"] >= TARGET["ndcg@20"],
              "valid_curves": {t: selects[t]["valid_curve"] for t in tags},
              "epochs_run": {t: {"select": selects[t]["epochs_run"], "final": finals.get(t, {}).get("epochs_run")}
                             for t in tags},
              "s_per_epoch": {t: {"select": round(selects[t]["s_per_epoch"], 3),
                                  "final": round(finals.get(t, {}).get("s_per_epoch", float("nan")), 3)} for t in tags},
              "test_curve_diagnostic": curve, "total_s": round(time.perf_counter() - t0, 1),
              "budget_s": args.budget_s, "paper": PAPER, "target": TARGET,
              "device": args.device if not args.device.startswith("cuda") else torch.cuda.get_device_name(0),
              "runs_side_by_side": n_runs, "threads_per_run": threads}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
