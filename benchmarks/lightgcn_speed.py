"""Seconds per Gowalla epoch: our LightGCN vs PyG's ``LightGCN`` trained as PyG's example does.

Both sides see the same data (the official Gowalla train split), dimension 64,
3 layers, Adam 1e-3, in the same process. PyG's side follows its example: a batch of
2048 positive edges, one uniform negative item per positive, a full propagation over
the whole graph per batch (``model(edge_index, edge_label_index)``) and
``recommendation_loss`` with L2 on the batch's nodes. It is timed on ``--pyg-batches``
batches and scaled to a full epoch (810,128 pairs = 396 batches). Ours runs whole
epochs at ``--batch-size`` (default 8192) and also at 2048 for reference.

Usage::

    CARTGRAPH_DATA_DIR=../shared/data python benchmarks/lightgcn_speed.py [--epochs 2] [--pyg-batches 5]

Last line: one JSON object with ``ours_s_per_epoch``, ``pyg_s_per_epoch``, ``ratio``
(PyG / ours), ``device``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from cartgraph.gnn import LightGCN
from cartgraph.loaders import load


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_ours(train, batch_size: int, epochs: int, device: str) -> tuple[float, list[float]]:
    """Seconds per epoch (median over epochs after the first when there are ≥ 2: the
    first pays CUDA/cuSPARSE start-up) and the per-epoch mean losses."""
    model = LightGCN(64, 3, epochs=epochs, batch_size=batch_size, lr=1e-3, eval_every=0, progress=False, device=device)
    ends: list[float] = []
    model.fit_matrix(train, on_epoch_end=lambda epoch, history: ends.append(history.seconds))
    per_epoch = np.diff([0.0] + ends)
    return float(np.median(per_epoch[1:] if len(per_epoch) > 1 else per_epoch)), model.history_.loss


def time_pyg(train, batches: int, device: torch.device) -> tuple[float, list[float]]:
    from torch_geometric.nn.models import LightGCN as PygLightGCN

    n_users, n_items = train.shape
    coo = train.tocoo()
    src = torch.as_tensor(coo.row, dtype=torch.long)
    dst = torch.as_tensor(coo.col, dtype=torch.long) + n_users
    edge_index = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])]).to(device)
    pos_all = torch.stack([src, dst]).to(device)
    model = PygLightGCN(n_users + n_items, embedding_dim=64, num_layers=3).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    n = pos_all.size(1)
    per_epoch_batches = math.ceil(n / 2048)
    times, losses = [], []
    for b in range(batches + 1):  # the first batch is a warm-up: its loss counts, its time does not
        if b % per_epoch_batches == 0:
            perm = torch.randperm(n, generator=gen)  # a new shuffle each epoch
        start = (b % per_epoch_batches) * 2048
        index = perm[start:start + 2048].to(device)
        pos = pos_all[:, index]
        neg = torch.stack([pos[0], torch.randint(n_users, n_users + n_items, (index.numel(),), generator=gen).to(device)])
        label_index = torch.cat([pos, neg], dim=1)
        _sync(device)
        t0 = time.perf_counter()
        pos_rank, neg_rank = model(edge_index, label_index).chunk(2)
        loss = model.recommendation_loss(pos_rank, neg_rank, node_id=label_index.unique())
        opt.zero_grad()
        loss.backward()
        opt.step()
        _sync(device)
        if b:
            times.append(time.perf_counter() - t0)
        losses.append(float(loss))
    per_epoch = statistics.median(times) * math.ceil(pos_all.size(1) / 2048)
    return per_epoch, losses


def epoch_means(losses: list[float], batches_per_epoch: int) -> list[float]:
    """Mean loss of each whole epoch among per-batch losses (for comparing loss curves)."""
    whole = len(losses) // batches_per_epoch
    return [round(float(np.mean(losses[e * batches_per_epoch:(e + 1) * batches_per_epoch])), 4) for e in range(whole)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("CARTGRAPH_DATA_DIR", "../shared/data"))
    ap.add_argument("--epochs", type=int, default=2, help="our epochs to time (mean)")
    ap.add_argument("--batch-size", type=int, default=8192)
    ap.add_argument("--pyg-batches", type=int, default=5, help="PyG batches to time (median, scaled)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    ds = load("lightgcn", Path(args.data_dir) / "gowalla")
    train = ds.interactions(events=ds.events[ds.events["split"] == "train"])
    print(f"Gowalla train: {train.shape[0]} users, {train.shape[1]} items, {train.nnz} pairs; device {device}, "
          f"torch threads {torch.get_num_threads()}")
    ours, ours_loss = time_ours(train, args.batch_size, args.epochs, args.device)
    print(f"ours  batch {args.batch_size}: {ours:.2f} s/epoch (losses {[round(x, 4) for x in ours_loss]})")
    if args.batch_size == 2048:
        ours_2048, ours_2048_loss = ours, ours_loss
    else:
        ours_2048, ours_2048_loss = time_ours(train, 2048, 1, args.device)
    print(f"ours  batch 2048: {ours_2048:.2f} s/epoch")
    pyg, pyg_loss = time_pyg(train, args.pyg_batches, device)
    per_epoch = math.ceil(train.nnz / 2048)
    shown = epoch_means(pyg_loss, per_epoch) if len(pyg_loss) >= per_epoch else [round(x, 4) for x in pyg_loss]
    print(f"PyG   batch 2048: {pyg:.2f} s/epoch (scaled from {args.pyg_batches} batches; losses {shown})")
    result = {"ours_s_per_epoch": round(ours, 3), "ours_batch_size": args.batch_size,
              "ours_batch2048_s_per_epoch": round(ours_2048, 3), "pyg_s_per_epoch": round(pyg, 3),
              "ratio": round(pyg / ours, 2), "ratio_same_batch": round(pyg / ours_2048, 2),
              "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
              "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
              "ours_batch2048_epoch_losses": [round(x, 4) for x in ours_2048_loss],
              "pyg_epoch_losses": epoch_means(pyg_loss, per_epoch)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
