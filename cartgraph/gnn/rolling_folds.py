"""Several fold-out cuts of one training set, so a learned re-ranker sees more than one period.

Each fold is a pair of event sets, cut the way the evaluation protocols cut (EVALUATION.md):
the *early* events are the input (they play "the training data"), the *target* is what
happened next, restricted to items the user did not have before (the "new items" mode).

- ``"time"`` (Online Retail): with ``w = fraction ×`` the time span of the events, fold
  ``j = 1..n`` cuts at ``t_j = t_max − j·w``: early = events at or before ``t_j``,
  target = events in ``(t_j, t_j + w]``. Fold 1 is the latest period; each further fold
  steps one window back (a different season).
- ``"basket"`` (Instacart): fold ``j`` takes each user's ``j``-th basket from the last as
  the target and the baskets before it as early (users with fewer than ``j + 1``
  baskets have no target in that fold).

Example::

    for fold in rolling_folds(dataset, "time", n_folds=3, fraction=0.2):
        fold.early_events, fold.target   # events (DataFrame), (U, I) csr of new items
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, DataError

__all__ = ["Fold", "rolling_folds", "identified_events", "ROLLING_FOLDS"]

ROLLING_FOLDS = ("time", "basket")


@dataclasses.dataclass(frozen=True)
class Fold:
    """One cut.

    Attributes:
        early_events: identified events of the input part (a subset of ``dataset.events``).
        target: ``(U, I)`` csr float32, 1 where the user bought a *new* item after the cut
            (only users with early events).
        now: the cut time (``"time"``) or the latest early event (``"basket"``).
        end: the end of the target window (``"time"``; items first sold after it did not
            exist yet at the fold's time), None for ``"basket"``.
    """

    early_events: pd.DataFrame
    target: sp.csr_matrix
    now: pd.Timestamp
    end: pd.Timestamp | None = None


def identified_events(dataset: Dataset) -> pd.DataFrame:
    """The events with a user and a timestamp; raises :class:`DataError` on a missing time."""
    ev = dataset.events[dataset.events["user_id"].notna()]
    if ev["ts"].isna().any():
        raise DataError(f"{dataset.name}:events", "a timestamp on every event (folds and recency use time)",
                        int(ev["ts"].isna().sum()), column="ts", hint="count of missing values")
    return ev


def rolling_folds(dataset: Dataset, fold: str, n_folds: int = 3, fraction: float = 0.2) -> list[Fold]:
    """``n_folds`` cuts of ``dataset``'s identified events, latest first (see the module docstring).

    Args:
        fold: ``"time"`` or ``"basket"``.
        n_folds: number of cuts (≥ 1).
        fraction: window as a share of the time span (``"time"`` only), in (0, 1);
            ``n_folds × fraction`` must be < 1.

    Raises:
        ConfigError: bad options, or a fold without any target pair.
        DataError: events without timestamps (or baskets for ``"basket"``).
    """
    if fold not in ROLLING_FOLDS:
        raise ConfigError(f"fold must be one of {ROLLING_FOLDS}, got {fold!r}")
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 1:
        raise ConfigError(f"n_folds must be an integer >= 1, got {n_folds!r}")
    if not 0.0 < fraction < 1.0 or (fold == "time" and n_folds * fraction >= 1.0):
        raise ConfigError(f"fraction must be in (0, 1) and n_folds × fraction < 1 for fold='time'; got "
                          f"fraction {fraction!r}, n_folds {n_folds}")
    ev = identified_events(dataset)
    out = []
    if fold == "time":
        t0, t1 = ev["ts"].min(), ev["ts"].max()
        w = (t1 - t0) * fraction
        for j in range(1, n_folds + 1):
            cut = t1 - j * w
            early, late = ev[ev["ts"] <= cut], ev[(ev["ts"] > cut) & (ev["ts"] <= cut + w)]
            out.append(Fold(early, _new_items(dataset, early, late, f"time fold {j}"), cut, cut + w))
    else:
        if "basket_id" not in ev.columns or ev["basket_id"].isna().any():
            raise DataError(f"{dataset.name}:events", "a basket_id on every event (fold='basket')",
                            int(ev["basket_id"].isna().sum()) if "basket_id" in ev.columns else len(ev),
                            column="basket_id", hint="count of missing values")
        rank = _basket_rank(ev)
        for j in range(1, n_folds + 1):
            early, late = ev[rank >= j], ev[rank == j - 1]
            out.append(Fold(early, _new_items(dataset, early, late, f"basket fold {j}"), early["ts"].max()))
    return out


def _new_items(dataset: Dataset, early: pd.DataFrame, late: pd.DataFrame, what: str) -> sp.csr_matrix:
    """``(U, I)``: items of ``late`` the user did not have in ``early``, users with early events only."""
    had = dataset.interactions(events=early)
    target = dataset.interactions(events=late)
    target = (target - target.multiply(had)).tocsr()
    target = (sp.diags((np.diff(had.indptr) > 0).astype(np.float32)) @ target).tocsr()
    target.eliminate_zeros()
    if not target.nnz:
        raise ConfigError(f"{what} leaves no target pair (no user with new items after the cut and "
                          f"history before it); use fewer folds or a larger fraction")
    return target


def _basket_rank(ev: pd.DataFrame) -> np.ndarray:
    """Per event, its basket's rank from the user's last (0 = last; by time, then basket id)."""
    baskets = ev.groupby(["user_id", "basket_id"], sort=False)["ts"].max().reset_index()
    baskets = baskets.sort_values(["user_id", "ts", "basket_id"], kind="stable", ascending=[True, False, False])
    baskets["rank"] = baskets.groupby("user_id", sort=False).cumcount()
    lookup = pd.Series(baskets["rank"].to_numpy(), index=pd.MultiIndex.from_frame(baskets[["user_id", "basket_id"]]))
    return lookup.reindex(pd.MultiIndex.from_frame(ev[["user_id", "basket_id"]])).to_numpy()
