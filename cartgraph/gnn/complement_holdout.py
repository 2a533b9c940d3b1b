"""A validation slice for the complement model carved from the training data itself.

:class:`~cartgraph.gnn.ComplementModel` serves its learned score fused with the observed
co-occurrence (``count_weight``), and the right weight depends on the shop: on a small or
clean catalogue the counts are nearly the answer, on a large sparse one the learned,
text-aware score reaches pairs nobody bought together yet. :func:`latest_baskets` holds
out the latest baskets so that the weight can be chosen on baskets the model did not
learn from, the way a shop would check it: on what customers bought next.
"""
from __future__ import annotations

import dataclasses

import pandas as pd

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError

__all__ = ["BasketHoldout", "default_holdouts", "last_bundles", "latest_baskets"]


@dataclasses.dataclass(frozen=True)
class BasketHoldout:
    """``train``: the dataset without the held-out baskets' events; ``groups``: the held-out
    baskets as ``group_id``, ``item_id`` rows (each group ≥ 2 distinct items)."""

    train: Dataset
    groups: pd.DataFrame


def latest_baskets(dataset: Dataset, fraction: float = 0.2, min_groups: int = 10) -> BasketHoldout | None:
    """Hold out the latest ``fraction`` of ``dataset``'s baskets (cart/purchase events with a
    basket id), ordered by their first event's time, then by basket id (untimed first).

    Every event of a held-out basket leaves ``train``. Bundles stay. Returns None when
    fewer than ``min_groups`` held-out baskets hold two or more distinct items, or when
    nothing would be left to train on: too little to choose anything on.
    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"latest_baskets: fraction must be in (0, 1), got {fraction!r}")
    pairs = dataset.basket_items()
    if pairs.empty:
        return None
    ev = dataset.events
    timed = ev[ev["basket_id"].isin(pairs["basket_id"].unique())]
    first = timed.groupby("basket_id")["ts"].min()
    order = pd.DataFrame({"basket_id": first.index.astype(str), "ts": first.to_numpy(), "key": first.index})
    order = order.sort_values(["ts", "basket_id"], na_position="first", kind="stable")
    n_held = int(round(len(order) * fraction))
    if n_held < 1 or n_held >= len(order):
        return None
    held = pd.Index(order["key"].iloc[len(order) - n_held:])
    groups = pairs[pairs["basket_id"].isin(held)]
    groups = groups[groups.groupby("basket_id")["item_id"].transform("nunique") >= 2]
    if groups["basket_id"].nunique() < min_groups:
        return None
    train = dataset.replace(events=ev[~ev["basket_id"].isin(held)])
    return BasketHoldout(train, groups.rename(columns={"basket_id": "group_id"}).reset_index(drop=True))


def last_bundles(dataset: Dataset, min_groups: int = 10) -> BasketHoldout | None:
    """Hold out each user's last chosen bundle (:func:`cartgraph.evaluation.splits.last_bundle`:
    the bundle definitions only those choices name and the events that reveal them leave
    ``train`` too). Returns None without user bundles or with fewer than ``min_groups``
    held-out bundles of two or more items."""
    from cartgraph.evaluation import splits

    if dataset.user_bundles is None or dataset.user_bundles.empty or dataset.bundles is None:
        return None
    if dataset.user_bundles["user_id"].duplicated().sum() < min_groups:
        return None
    split = splits.last_bundle(dataset)
    held = set(dataset.user_bundles["bundle_id"]) - set(split.train.user_bundles["bundle_id"])
    members = dataset.bundle_items()
    groups = members[members["bundle_id"].isin(list(held))][["bundle_id", "item_id"]]
    groups = groups[groups.groupby("bundle_id")["item_id"].transform("nunique") >= 2]
    if groups["bundle_id"].nunique() < min_groups:
        return None
    return BasketHoldout(split.train, groups.rename(columns={"bundle_id": "group_id"}).reset_index(drop=True))


def default_holdouts(dataset: Dataset, fraction: float = 0.2, n_rolling: int = 1) -> list[BasketHoldout]:
    """The validation slices a shop's own data offers: its latest baskets
    (:func:`latest_baskets`), rolled back ``n_rolling`` times (the latest ``fraction``, then
    the latest ``fraction`` of what is left, ...) and, where users choose bundles, each
    user's last bundle (:func:`last_bundles`); an empty list when none has enough groups."""
    out, rest = [], dataset
    for _ in range(n_rolling):
        h = latest_baskets(rest, fraction)
        if h is None:
            break
        out.append(h)
        rest = h.train
    bundles = last_bundles(dataset)
    return out + ([bundles] if bundles is not None else [])
