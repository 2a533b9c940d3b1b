"""Fold-out (stacking) targets for :class:`~cartgraph.gnn.hetero.TextHeteroGNN` (``fold=...``).

A residual trained on the very pairs its base (EASE) was fitted on learns what the base
already fits there. With a fold the training data is cut in two, as the evaluation
protocols cut it (EVALUATION.md): the *early* part is the model's input (graph, base
weights, the user's history ``x_u``) and the *later* part, restricted to items the user
did not have before ("new items" mode), is the target. Serving then refits on all of
the training data.

Folds:

- ``"time"``: one time cut for everybody, the last ``fraction`` of the training
  period's time span is the target (Online Retail's protocol: fit before a date,
  predict the next period).
- ``"basket"``: each user's last basket (by time, then basket id) is the target
  (Instacart's next-basket protocol); users with one basket have no target.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, DataError

__all__ = ["FOLDS", "fold_matrices"]

FOLDS = (None, "time", "basket")


def fold_matrices(dataset: Dataset, fold: str, fraction: float = 0.2,
                  kinds: tuple[str, ...] | None = None) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(early, target)``: binary user × item matrices, shape ``(U, I)`` float32 each.

    ``early`` holds the interactions before the cut; ``target`` the later ones of items
    the user did not have before, only for users with at least one early interaction.

    Args:
        fold: ``"time"`` or ``"basket"`` (see the module docstring).
        fraction: share of the time span after the cut (``"time"`` only), in (0, 1).
        kinds: event kinds that count (default: all).

    Raises:
        DataError: events without a timestamp (or, for ``"basket"``, without a basket id).
        ConfigError: an unknown fold, a fraction outside (0, 1), or a cut that leaves no
            target pair.
    """
    if fold not in FOLDS or fold is None:
        raise ConfigError(f"fold must be one of {FOLDS[1:]}, got {fold!r}")
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"fold_fraction must be in (0, 1), got {fraction!r}")
    ev = dataset.events
    ev = ev[ev["user_id"].notna()]
    if kinds is not None:
        ev = ev[ev["kind"].isin(kinds)]
    if ev["ts"].isna().any():
        raise DataError(f"{dataset.name}:events", f"a timestamp on every event (fold={fold!r} cuts by time)",
                        int(ev["ts"].isna().sum()), column="ts", hint="count of missing values")
    if fold == "time":
        ts = ev["ts"]
        cut = ts.max() - fraction * (ts.max() - ts.min())
        late = (ts > cut).to_numpy()
    else:
        if "basket_id" not in ev.columns or ev["basket_id"].isna().any():
            raise DataError(f"{dataset.name}:events", "a basket_id on every event (fold='basket')",
                            int(ev["basket_id"].isna().sum()) if "basket_id" in ev.columns else len(ev),
                            column="basket_id", hint="count of missing values")
        late = _last_basket(ev)
    early_m = dataset.interactions(events=ev[~late])
    target = dataset.interactions(events=ev[late])
    target = (target - target.multiply(early_m)).tocsr()
    has_history = (np.diff(early_m.indptr) > 0).astype(np.float32)
    target = (sp.diags(has_history) @ target).tocsr()
    target.eliminate_zeros()
    if not target.nnz:
        raise ConfigError(f"fold={fold!r} (fraction {fraction}) leaves no target pair: no user has new items "
                          f"after the cut and interactions before it")
    return early_m, target


def _last_basket(ev: pd.DataFrame) -> np.ndarray:
    """Per event, whether it belongs to its user's last basket (latest time, then basket id)."""
    baskets = ev.groupby(["user_id", "basket_id"], sort=False)["ts"].max().reset_index()
    baskets = baskets.sort_values(["user_id", "ts", "basket_id"], kind="stable")
    last = baskets.drop_duplicates("user_id", keep="last")
    n_baskets = baskets.groupby("user_id").size()
    last = last[last["user_id"].map(n_baskets).to_numpy() > 1]
    keys = pd.MultiIndex.from_frame(ev[["user_id", "basket_id"]])
    return keys.isin(pd.MultiIndex.from_frame(last[["user_id", "basket_id"]]))
