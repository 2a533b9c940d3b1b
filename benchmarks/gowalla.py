"""Reproduce LightGCN on the official Gowalla split (paper: Recall@20 0.1830, NDCG@20 0.1554).

3 layers, d = 64, Adam 1e-3, L2 1e-4, BPR. The epoch is chosen on a validation slice
carved from train (10 % of each user's train items, seeded; ``splits.lightgcn_official``
with ``stage="valid"``), then the model is refit on the full train split for that
many epochs and evaluated once on the official test file.

Long runs continue across processes: ``--checkpoint DIR`` writes an atomic checkpoint
after every epoch; calling the script again with the same arguments resumes. On a
CPU run it in chunks (stop it at any time, call it again); on a GPU it fits one call.

Usage::

    CARTGRAPH_DATA_DIR=../shared/data python benchmarks/gowalla.py --checkpoint runs/gowalla \
        [--epochs 1000] [--batch-size 2048] [--device cuda]

Last line: one JSON object (``recall@20``, ``ndcg@20``, ``best_epoch``, ``s_per_epoch``, ...).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from cartgraph.evaluation import evaluate, splits
from cartgraph.gnn import LightGCN
from cartgraph.loaders import load

PAPER = {"recall@20": 0.1830, "ndcg@20": 0.1554}
TARGET = {"recall@20": 0.1810, "ndcg@20": 0.1535}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("CARTGRAPH_DATA_DIR", "../shared/data"))
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--eval-every", type=int, default=20)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", default="runs/gowalla", help="folder for checkpoints (resumable)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    ckpt = Path(args.checkpoint)
    ckpt.mkdir(parents=True, exist_ok=True)
    ds = load("lightgcn", Path(args.data_dir) / "gowalla")
    valid, test = splits.lightgcn_official(ds, stage="valid"), splits.lightgcn_official(ds, stage="test")
    common = dict(embedding_dim=64, num_layers=3, batch_size=args.batch_size, lr=args.lr, weight_decay=1e-4,
                  seed=args.seed, device=args.device)
    t0 = time.perf_counter()
    select = LightGCN(epochs=args.epochs, eval_every=args.eval_every, patience=args.patience,
                      checkpoint=str(ckpt / "select.pt"), **common).fit(valid.train, valid=valid)
    best_epoch = select.history_.best_epoch + 1
    final = LightGCN(epochs=best_epoch, eval_every=0, checkpoint=str(ckpt / "final.pt"), **common).fit(test.train)
    metrics = evaluate(final, test, ks=(20,))
    result = {"recall@20": round(metrics["recall@20"], 4), "ndcg@20": round(metrics["ndcg@20"], 4),
              "best_epoch": best_epoch, "valid_curve": select.history_.valid,
              "s_per_epoch": round(final.history_.seconds / max(best_epoch, 1), 3), "total_s": round(time.perf_counter() - t0, 1),
              "paper": PAPER, "target": TARGET, "device": args.device,
              "settings": {k: v for k, v in vars(args).items() if k != "data_dir"}}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
