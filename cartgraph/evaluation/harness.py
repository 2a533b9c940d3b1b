"""Evaluate any :class:`~cartgraph.evaluation.protocol.RecommenderModel` on a :class:`Split`.

The harness calls nothing but ``model.recommend(users, k, exclude_seen=...)``, in
batches of users, so every model of the project is scored by the same code. Entries
a model returns with score ``-inf`` (masked) count as "no recommendation".
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from cartgraph.errors import ConfigError
from cartgraph.evaluation.metrics import hit_matrix, ranking_metrics
from cartgraph.evaluation.protocol import RecommenderModel
from cartgraph.evaluation.splits import Split

__all__ = ["evaluate", "fit_and_evaluate"]


def evaluate(model: RecommenderModel, split: Split, ks: tuple[int, ...] = (20,), *,
             batch_size: int = 1024, progress: bool | None = None) -> dict[str, Any]:
    """Mean ranking metrics of a fitted ``model`` over the evaluated users of ``split``.

    Args:
        model: fitted on ``split.train`` (same vocabularies).
        split: see :mod:`cartgraph.evaluation.splits`.
        ks: cut-offs; the model is asked once for ``max(ks)`` items per user.
        batch_size: users per ``recommend`` call.
        progress: show a tqdm bar (default: when there are more than 10 batches).

    Returns:
        ``{"recall@20": float, "ndcg@20": ..., "hit@20", "mrr@20", "coverage@20",
        "n_users": int}`` (one set of keys per cut-off).
    """
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise ConfigError(f"ks must be positive cut-offs, got {ks!r}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be ≥ 1, got {batch_size}")
    k_max, users, n_items = max(ks), split.users, split.train.n_items
    sums: dict[str, float] = {}
    covered = {k: np.zeros(n_items, dtype=bool) for k in ks}
    batches = range(0, len(users), batch_size)
    show = len(batches) > 10 if progress is None else progress
    for start in tqdm(batches, desc=f"evaluate {split.name}", disable=not show, unit="batch"):
        batch = users[start:start + batch_size]
        items = _recommend_batch(model, batch, k_max, split.exclude_seen, n_items)
        relevant = split.test[batch]
        hits = hit_matrix(items, relevant)
        for key, values in ranking_metrics(hits, np.diff(relevant.indptr), ks).items():
            sums[key] = sums.get(key, 0.0) + float(values.sum())
        for k in ks:
            top = items[:, :k]
            covered[k][top[top >= 0]] = True
    n = len(users)
    out: dict[str, Any] = {key: (value / n if n else float("nan")) for key, value in sums.items()}
    for k in ks:
        out[f"coverage@{k}"] = float(covered[k].mean()) if n_items else 0.0
    out["n_users"] = int(n)
    return out


def _recommend_batch(model: RecommenderModel, batch: np.ndarray, k: int, exclude_seen: bool,
                     n_items: int) -> np.ndarray:
    """Item indices ``(b, k')`` from ``model.recommend``; ``-1`` where the score is ``-inf``."""
    items, scores = model.recommend(batch, k=k, exclude_seen=exclude_seen)
    items, scores = np.asarray(items), np.asarray(scores)
    expected = (len(batch), min(k, n_items))
    if items.shape != expected or scores.shape != expected:
        raise ConfigError(f"{type(model).__name__}.recommend returned items {items.shape} and scores "
                          f"{scores.shape} for {len(batch)} users and k={k}; expected {expected}")
    if len(items) and (items.min() < 0 or items.max() >= n_items):
        raise ConfigError(f"{type(model).__name__}.recommend returned item indices outside 0..{n_items - 1}")
    return np.where(np.isneginf(scores), -1, items).astype(np.int64)


def fit_and_evaluate(model: RecommenderModel, split: Split, ks: tuple[int, ...] = (20,),
                     **options: Any) -> dict[str, Any]:
    """Fit ``model`` on ``split.train``, then :func:`evaluate` it; adds ``fit_seconds``
    and ``eval_seconds`` (wall clock) to the result."""
    t0 = time.perf_counter()
    model.fit(split.train)
    t1 = time.perf_counter()
    result = evaluate(model, split, ks, **options)
    result["fit_seconds"] = t1 - t0
    result["eval_seconds"] = time.perf_counter() - t1
    return result
