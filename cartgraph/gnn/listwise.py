"""A learned scorer over candidate lists, trained with a softmax over each list.

Shared by the two re-rankers that learn on graph pair features:
:class:`~cartgraph.gnn.graph_ranker.TextGraphRanker` (users × candidate items) and
:class:`~cartgraph.gnn.complement_ranker.ComplementRanker` (anchor items × candidate
partners). Each row of ``z`` is one list of ``C`` candidates with ``F`` standardised
features; ``y`` marks (or weighs) the candidates that turned out right.

- :class:`PairScorer`: ``s = wᵀ z + vᵀ ReLU(W z + b)``, started at the lists' given order.
- :func:`start_sharpness`: the scale of that given order that fits ``y`` best.
- :func:`standardise`: each feature to mean 0, std 1 over all pairs of a view.
- :func:`train_listwise`: Adam on the list softmax, validated, best weights kept.
- :func:`list_ndcg`: NDCG@k of a scorer inside held-out lists (a validation score).
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable

import numpy as np
import torch

from cartgraph.gnn.trainer import TrainHistory

__all__ = ["PairScorer", "list_ndcg", "scale", "start_sharpness", "standardise", "train_listwise"]


class PairScorer(torch.nn.Module):
    """``s = wᵀ z + vᵀ ReLU(W z + b)``: ``(n, C, F)`` → ``(n, C)``.

    Starts as ``−a · z[rank]`` (``w`` = −a on the column ``rank``, ``v = 0``), i.e. the
    candidates' given order at softmax sharpness ``a``.
    """

    def __init__(self, n_features: int, hidden: int, rank_column: int, generator: torch.Generator,
                 sharpness: float = 1.0) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(n_features, 1, bias=False)
        self.hidden = torch.nn.Linear(n_features, hidden)
        self.out = torch.nn.Linear(hidden, 1, bias=False)
        with torch.no_grad():
            self.linear.weight.zero_()
            self.linear.weight[0, rank_column] = -sharpness
            bound = 1.0 / np.sqrt(n_features)
            self.hidden.weight.uniform_(-bound, bound, generator=generator)
            self.hidden.bias.uniform_(-bound, bound, generator=generator)
            self.out.weight.zero_()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.linear(z) + self.out(torch.relu(self.hidden(z)))).squeeze(-1)


def start_sharpness(rank: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """The ``a`` (log grid 0.1 … 30) whose start scores ``−a · rank`` give the targets ``y``
    the lowest softmax cross-entropy, so training starts from the given order at its best
    scale instead of first spending steps (and the order) on the scale.

    Shapes: ``rank``, ``y``, ``mask`` (True = a real candidate) ``(n, C)``.
    """
    grid, y = np.geomspace(0.1, 30.0, 31), y.to(torch.float32)
    ce = [float(-(_log_softmax(-a * rank, mask) * y).sum() / y.sum()) for a in grid]
    return float(grid[int(np.argmin(ce))])


def standardise(f: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(n, C, F)`` → the same, each feature to mean 0 and std 1 over all real pairs
    (``mask (n, C)``, default all; a constant feature becomes 0; padded pairs become 0).

    Returns ``(z, mean (F,), std (F,))`` so that another batch can be put on the same scale.
    """
    flat = f.reshape(-1, f.shape[2]).astype(np.float64)
    if mask is not None:
        flat = flat[np.asarray(mask).ravel()]
    mu = flat.mean(axis=0) if len(flat) else np.zeros(f.shape[2])
    sd = flat.std(axis=0) if len(flat) else np.ones(f.shape[2])
    sd = np.where(sd > 1e-9, sd, 1.0)
    return scale(f, mask, mu, sd), mu, sd


def scale(f: np.ndarray, mask: np.ndarray | None, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """``(f − mu) / sd`` as float32, padded pairs (``mask`` False) set to 0: another batch put
    on the scale :func:`standardise` found. Shapes: ``f (n, C, F)``, ``mask (n, C)``."""
    z = ((f - mu) / sd).astype(np.float32)
    if mask is not None:
        z[~np.asarray(mask)] = 0.0
    return z


def train_listwise(scorer: torch.nn.Module, z: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float,
                   weight_decay: float, batch: int, generator: torch.Generator,
                   mask: torch.Tensor | None = None, validate: Callable[[], float] | None = None,
                   eval_every: int = 1, patience: int = 10) -> TrainHistory:
    """Adam on ``−Σ y · log softmax(scorer(z))`` per list (padded candidates masked out).

    With ``validate`` (higher is better; it reads the scorer's current weights) the score
    is taken before training and every ``eval_every`` epochs; training stops after
    ``patience`` checks without improvement and the best weights are loaded back
    (``best_epoch`` 0 = the untrained start was best). Shapes: ``z (n, C, F)``,
    ``y``/``mask (n, C)``.
    """
    hist, y = TrainHistory(), y.to(torch.float32)
    opt = torch.optim.Adam(scorer.parameters(), lr=lr, weight_decay=weight_decay)
    best_state, stale = copy.deepcopy(scorer.state_dict()), 0
    check = validate is not None and eval_every > 0
    if check:
        hist.best_epoch, hist.best_score = 0, validate()
        hist.valid.append((0, hist.best_score))
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(z), generator=generator)
        total = 0.0
        for start in range(0, len(z), batch):
            b = order[start:start + batch]
            logp = _log_softmax(scorer(z[b]), None if mask is None else mask[b])
            loss = -(logp * y[b]).sum() / y[b].sum().clamp(min=1e-12)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
        hist.loss.append(total / max(len(z), 1))
        if check and epoch % eval_every == 0:
            score = validate()
            hist.valid.append((epoch, score))
            if score > hist.best_score:
                hist.best_epoch, hist.best_score, stale = epoch, score, 0
                best_state = copy.deepcopy(scorer.state_dict())
            else:
                stale += 1
                if stale >= patience:
                    break
    if check:
        scorer.load_state_dict(best_state)
    else:
        hist.best_epoch = epochs
    hist.seconds = time.perf_counter() - t0
    return hist


def list_ndcg(scorer: torch.nn.Module, z: torch.Tensor, y: torch.Tensor, k: int = 20) -> float:
    """Mean NDCG@k of the scorer's order inside each list against the candidates marked in ``y``
    (lists without one count 0). Shapes: ``z (n, C, F)``, ``y (n, C)``; ties: lower position."""
    with torch.no_grad():
        s = scorer(z)
    k = min(k, s.shape[1])
    rel = (y > 0).to(torch.float64)
    order = torch.argsort(-s, dim=1, stable=True)[:, :k]
    disc = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64))
    dcg = (rel.gather(1, order) * disc).sum(1)
    n_rel = rel.sum(1).clamp(max=k).long()
    ideal = torch.cat([torch.zeros(1, dtype=torch.float64), disc.cumsum(0)])[n_rel]
    return float(torch.where(ideal > 0, dcg / ideal.clamp(min=1e-12), torch.zeros_like(dcg)).mean())


def _log_softmax(s: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is not None:
        s = s.masked_fill(~mask, -1e9)
    return torch.log_softmax(s, dim=1)
