"""One seeded BPR trainer for every graph model.

The trainer owns what all models share: shuffling positive pairs, vectorised negative
sampling, the BPR loss, Adam, validation-based early stopping (never on test data),
atomic checkpoints that let a long run continue in another process, a progress bar,
and optional TensorBoard logging. A model supplies only :class:`BPRModel`'s two
methods.

Losses (``TrainConfig.loss``):

- ``"bpr"`` (default): ``softplus(s(u, j) − s(u, i))`` with one uniform negative ``j``
  per positive pair ``(u, i)``.
- ``"softmax"``: full-catalogue softmax cross-entropy (sampled-softmax / InfoNCE with
  every item as a negative): ``−log softmax(s(u, ·) / τ)_i``, ``τ`` = ``temperature``.
  The model scores the batch's users against all items at once
  (:meth:`SoftmaxModel.softmax_terms`); cheap for catalogues of a few 10k items, and it
  ranks better than BPR with uniform negatives because every step pushes down the
  items that currently outrank the positive, not a random (mostly easy) one.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from cartgraph.atomic import atomic_file
from cartgraph.gnn.sampling import PairIndex, sample_negatives

from cartgraph.errors import ConfigError

__all__ = ["TrainConfig", "BPRModel", "SoftmaxModel", "TrainHistory", "train_bpr", "LOSSES"]

LOSSES = ("bpr", "softmax")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of a BPR run.

    Args:
        epochs: maximum epochs.
        batch_size: positive pairs per step (larger = fewer full propagations per epoch).
        lr: Adam learning rate.
        weight_decay: L2 on the batch's ego embeddings (LightGCN's ``reg``), scaled per batch.
        adam_weight_decay: Adam's own (coupled) weight decay on all parameters.
        eval_every: validate every this many epochs (0 = never).
        patience: stop after this many validations without improvement.
        seed: seeds shuffling, sampling and initialisation.
        checkpoint: file to write after every epoch (atomic) and resume from.
        progress: show a progress bar.
        tensorboard: folder for TensorBoard logs (needs the ``tensorboard`` package).
        loss: ``"bpr"`` (default) or ``"softmax"`` (full-catalogue softmax; the model must
            have :meth:`SoftmaxModel.softmax_terms`).
        temperature: ``τ`` of the softmax loss (logits are divided by it); unused by BPR.
    """

    epochs: int = 100
    batch_size: int = 8192
    lr: float = 1e-3
    weight_decay: float = 1e-4
    adam_weight_decay: float = 0.0
    eval_every: int = 5
    patience: int = 3
    seed: int = 0
    checkpoint: str | None = None
    progress: bool = True
    tensorboard: str | None = None
    loss: str = "bpr"
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature!r}")


class BPRModel(Protocol):
    """What the trainer needs from a model."""

    def parameters(self): ...

    def bpr_terms(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
                  ) -> tuple[torch.Tensor, ...]:
        """Scores of ``(u, pos)`` and ``(u, neg)``, shape ``(b,)`` each, the L2 term (scalar),
        and optionally a fourth term: an auxiliary loss added as is (e.g. a contrastive loss)."""

    # Optional: ``on_epoch_start(generator)`` is called before each epoch (e.g. to
    # resample an edge-dropout augmentation with the run's generator).


class SoftmaxModel(Protocol):
    """What the trainer needs from a model for ``loss="softmax"``."""

    def parameters(self): ...

    def softmax_terms(self, users: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Scores of the batch's users against every item, shape ``(b, n_items)`` (item
        indices as in the trainer's ``items``), the L2 term (scalar), and optionally an
        auxiliary loss added as is."""


@dataclasses.dataclass
class TrainHistory:
    """Per-epoch loss and validation scores of a run (kept in checkpoints)."""

    loss: list[float] = dataclasses.field(default_factory=list)
    valid: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    best_epoch: int = -1
    best_score: float = -math.inf
    seconds: float = 0.0


def _save(path: str, module: torch.nn.Module, opt, epoch: int, history: TrainHistory, best_state, gen) -> None:
    state = {"epoch": epoch, "model": module.state_dict(), "optimizer": opt.state_dict(),
             "history": dataclasses.asdict(history), "best_state": best_state, "generator": gen.get_state()}
    with atomic_file(path) as fh:
        torch.save(state, fh)


def train_bpr(module: torch.nn.Module, users: torch.Tensor, items: torch.Tensor, n_items: int,
              config: TrainConfig, validate: Callable[[], float] | None = None,
              on_epoch_end: Callable[[int, TrainHistory], bool | None] | None = None) -> TrainHistory:
    """Train ``module`` (a :class:`BPRModel`) on positive pairs ``(users[k], items[k])``.

    Args:
        users, items: int64 tensors of shape ``(nnz,)`` on the model's device.
        validate: returns a score to maximise (e.g. Recall@20 on a validation slice);
            the best weights are restored at the end.
        on_epoch_end: called as ``on_epoch_end(epoch, history)`` after each epoch (and
            its validation and checkpoint); returning True stops training there (e.g.
            to snapshot weights, or to stop at an epoch chosen elsewhere).

    Returns:
        The :class:`TrainHistory`. With ``config.checkpoint`` set, a run killed at any
        point continues from its last finished epoch when called again.
    """
    if config.loss == "softmax" and not hasattr(module, "softmax_terms"):
        raise ConfigError(f"loss='softmax' needs a model with softmax_terms(users, pos); "
                          f"{type(module).__name__} has none (use loss='bpr')")
    device = users.device
    gen = torch.Generator(device=device).manual_seed(config.seed)
    opt = torch.optim.Adam(module.parameters(), lr=config.lr, weight_decay=config.adam_weight_decay,
                           fused=device.type == "cuda")
    history, start, best_state = TrainHistory(), 0, None
    if config.checkpoint and Path(config.checkpoint).exists():
        state = torch.load(config.checkpoint, map_location=device, weights_only=False)
        module.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history = TrainHistory(**{**state["history"], "valid": [tuple(v) for v in state["history"]["valid"]]})
        start, best_state = state["epoch"] + 1, state["best_state"]
        gen.set_state(state["generator"])
    writer = _tensorboard(config.tensorboard)
    index = PairIndex(users, items, n_items)
    n = len(users)
    bar = tqdm(range(start, config.epochs), desc="train", disable=not config.progress, initial=start, total=config.epochs)
    bad_rounds = sum(1 for e, s in history.valid if e > history.best_epoch)
    for epoch in bar:
        t0 = time.perf_counter()
        loss = _epoch(module, opt, users, items, index, n, config, gen)
        history.loss.append(loss)
        history.seconds += time.perf_counter() - t0
        stop = False
        if validate is not None and config.eval_every and (epoch + 1) % config.eval_every == 0:
            score = float(validate())
            history.valid.append((epoch, score))
            if score > history.best_score:
                history.best_score, history.best_epoch, bad_rounds = score, epoch, 0
                best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            else:
                bad_rounds += 1
                stop = bad_rounds >= config.patience
            if writer:
                writer.add_scalar("valid", score, epoch)
        if writer:
            writer.add_scalar("loss", loss, epoch)
        bar.set_postfix(loss=f"{loss:.4f}", best=f"{history.best_score:.4f}")
        if config.checkpoint:
            _save(config.checkpoint, module, opt, epoch, history, best_state, gen)
        if on_epoch_end is not None and on_epoch_end(epoch, history):
            stop = True
        if stop:
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    return history


def _epoch(module, opt, users, items, index, n, config, gen) -> float:
    """One pass over the shuffled positive pairs; returns the mean loss."""
    if hasattr(module, "on_epoch_start"):
        module.on_epoch_start(gen)
    perm = torch.randperm(n, generator=gen, device=users.device)
    total = torch.zeros((), device=users.device)
    steps = 0
    for start in range(0, n, config.batch_size):
        sel = perm[start:start + config.batch_size]
        u, i = users[sel], items[sel]
        if config.loss == "softmax":
            logits, l2, *aux = module.softmax_terms(u, i)
            loss = torch.nn.functional.cross_entropy(logits / config.temperature, i)
        else:
            j = sample_negatives(u, index, gen)
            pos, neg, l2, *aux = module.bpr_terms(u, i, j)
            loss = torch.nn.functional.softplus(neg - pos).mean()
        loss = loss + config.weight_decay * l2 / len(sel)
        if aux:
            loss = loss + aux[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach()
        steps += 1
    return float(total) / max(steps, 1)


def _tensorboard(folder: str | None):
    if not folder:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(folder)
