"""Train/test splits of EVALUATION.md, one function per protocol.

Every function returns a :class:`Split`: the :class:`Dataset` a model may fit on
(same ``users`` table and the evaluated catalogue as ``items``, so its vocabularies
index the test matrix), the held-out relevant items as a sparse user × item matrix,
the evaluated users, and whether the user's fitted items are masked.

Two modes for the e-commerce protocols:

- ``"new"`` (main metric): items the user bought before the evaluated period are
  masked and removed from the user's test set; users left with none are dropped.
- ``"all"``: no masking; the test set is every distinct item bought in the period.

In both modes a user is evaluated only with at least one fitted interaction and at
least one held-out item. ``stage="valid"`` gives the validation split (fit on train,
evaluate on validation) used for tuning; ``stage="test"`` fits on train+validation
where the protocol says so.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, DataError

__all__ = [
    "Split", "online_retail", "instacart", "lightgcn_official", "youshu", "last_bundle",
    "cold_start", "ONLINE_RETAIL_PERIODS",
]

MODES = ("new", "all")
STAGES = ("valid", "test")

ONLINE_RETAIL_PERIODS = {
    "valid": (pd.Timestamp("2011-09-01"), pd.Timestamp("2011-11-01")),
    "test": (pd.Timestamp("2011-11-01"), None),
}
"""Evaluated period ``[start, end)`` per stage; the model fits on every event before ``start``."""


@dataclasses.dataclass(frozen=True, eq=False)
class Split:
    """One evaluation setting: fit on :attr:`train`, rank for :attr:`users`, score against :attr:`test`.

    Attributes:
        name: e.g. ``"online-retail/test/new"``.
        train: the data a model may fit on; its ``item_vocab``/``user_vocab`` index
            :attr:`test` and :attr:`users`.
        test: shape ``(n_users, n_items)`` csr, 1 where the item is held-out relevant.
        users: evaluated user indices, sorted, int64; each has ≥ 1 test item.
        mode: ``"new"`` or ``"all"``.
        exclude_seen: pass to ``recommend`` (mask the user's fitted items).
        meta: dataset name/checksums, stage, periods, counts, and protocol extras
            (``cold_start_items`` for Online Retail).
    """

    name: str
    train: Dataset
    test: sp.csr_matrix
    users: np.ndarray
    mode: str
    exclude_seen: bool
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def n_users(self) -> int:
        """Number of evaluated users."""
        return int(len(self.users))

    def __repr__(self) -> str:
        return (f"Split(name={self.name!r}, users={self.n_users}, items={self.train.n_items}, "
                f"test_pairs={int(self.test[self.users].nnz)}, exclude_seen={self.exclude_seen})")


def _check(stage: str, mode: str) -> None:
    if stage not in STAGES:
        raise ConfigError(f"stage must be one of {STAGES}, got {stage!r}")
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")


def _source_meta(dataset: Dataset) -> dict[str, Any]:
    keep = {k: v for k, v in dataset.meta.items() if any(s in k for s in ("checksum", "sha256", "source"))}
    return {"dataset": dataset.name, **keep}


def _build(name: str, source: Dataset, items: pd.DataFrame, fit_events: pd.DataFrame,
           eval_events: pd.DataFrame, mode: str, meta: dict[str, Any], *,
           exclude_seen: bool | None = None, users: pd.DataFrame | None = None) -> Split:
    """Assemble a :class:`Split` from the fit events and the evaluated period's events."""
    train = source.replace(items=items.reset_index(drop=True), events=fit_events.reset_index(drop=True),
                           **({} if users is None else {"users": users}))
    seen = train.interactions()
    test = train.interactions(events=eval_events)
    if mode == "new":
        test = (test - test.multiply(seen)).tocsr()
        test.eliminate_zeros()
    evaluated = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(seen.indptr) > 0)).astype(np.int64)
    meta = {**_source_meta(source), **meta, "mode": mode, "n_users": int(len(evaluated)),
            "n_items": int(train.n_items), "n_fit_events": int(len(fit_events)),
            "n_test_pairs": int(test[evaluated].nnz)}
    return Split(name=name, train=train, test=test, users=evaluated, mode=mode,
                 exclude_seen=(mode == "new") if exclude_seen is None else exclude_seen, meta=meta)


def _identified(events: pd.DataFrame) -> pd.DataFrame:
    return events[events["user_id"].notna()]


def _catalogue(dataset: Dataset, events: pd.DataFrame) -> pd.DataFrame:
    """The items table restricted to the items of ``events``."""
    return dataset.items[dataset.items["item_id"].isin(pd.unique(events["item_id"]))]


def online_retail(dataset: Dataset, stage: str = "test", mode: str = "new", *,
                  anonymous: bool = False) -> Split:
    """The Online Retail time split (EVALUATION.md, "Online Retail").

    Args:
        dataset: output of the ``online-retail`` loader (cleaned; anonymous rows have
            ``user_id`` None; ``ts`` set).
        stage: ``"test"`` (fit before 2011-11-01, evaluate from it) or ``"valid"`` (fit
            before 2011-09-01, evaluate 2011-09-01..2011-10-31).
        mode: ``"new"`` or ``"all"``.
        anonymous: the labelled variant that keeps the fit period's anonymous baskets
            in ``train.events`` (only for items of the catalogue) for co-purchase
            statistics; ``interactions()`` ignores them, so user-based models are unchanged.

    The catalogue is every item bought by an identified customer in the whole period
    (3,659 items); ``meta["cold_start_items"]`` holds the indices of items whose first
    identified sale falls in the evaluated period (52 for the test stage); see
    :func:`cold_start`.
    """
    _check(stage, mode)
    events = dataset.events
    if events["ts"].isna().any():
        raise DataError(f"{dataset.name}:events", "a timestamp on every event (Online Retail split is by time)",
                        int(events["ts"].isna().sum()), column="ts", hint="count of missing values")
    start, end = ONLINE_RETAIL_PERIODS[stage]
    ident = _identified(events)
    items = _catalogue(dataset, ident)
    before = events["ts"] < start
    fit = events[before & (events["user_id"].notna() | (anonymous & events["item_id"].isin(items["item_id"])))]
    in_period = (ident["ts"] >= start) & ((ident["ts"] < end) if end is not None else True)
    first_sale = ident.groupby("item_id")["ts"].min()
    cold_ids = first_sale[(first_sale >= start) & ((first_sale < end) if end is not None else True)].index
    periods = {"fit_before": str(start.date()), "evaluated_from": str(start.date()),
               "evaluated_until": None if end is None else str(end.date())}
    name = f"online-retail/{stage}/{mode}" + ("+anonymous" if anonymous else "")
    split = _build(name, dataset, items, fit, ident[in_period], mode, {"stage": stage, "periods": periods,
                   "anonymous_baskets": anonymous})
    split.meta["cold_start_items"] = np.sort(split.train.item_vocab.indices(cold_ids))
    return split


def cold_start(split: Split) -> Split:
    """The split restricted to its cold-start items (``meta["cold_start_items"]``).

    Test items are only the cold ones; users without any are dropped. Models that
    learn only from interactions cannot score these items (every baseline gets 0).
    """
    if "cold_start_items" not in split.meta:
        raise ConfigError(f"split {split.name!r} has no cold_start_items in its meta")
    keep = np.zeros(split.train.n_items, dtype=np.float32)
    keep[split.meta["cold_start_items"]] = 1.0
    test = (split.test @ sp.diags(keep)).tocsr()
    test.eliminate_zeros()
    users = split.users[np.diff(test.indptr)[split.users] > 0]
    meta = {**split.meta, "n_users": int(len(users)), "n_test_pairs": int(test[users].nnz)}
    return dataclasses.replace(split, name=split.name + "/cold-start", test=test, users=users, meta=meta)


def _order_rank(events: pd.DataFrame, dataset_name: str) -> pd.Series:
    """Per event, the rank of its order from the user's last (0 = last order)."""
    key = "order_number" if "order_number" in events.columns else "ts"
    if events[key].isna().any():
        raise DataError(f"{dataset_name}:events", f"an {key} on every event (orders are sorted by it)",
                        int(events[key].isna().sum()), column=key, hint="count of missing values")
    orders = events[["user_id", "basket_id", key]].drop_duplicates(["user_id", "basket_id"])
    rank = orders.groupby("user_id")[key].rank(method="dense", ascending=False).astype(np.int64) - 1
    lookup = pd.Series(rank.to_numpy(), index=pd.MultiIndex.from_frame(orders[["user_id", "basket_id"]]))
    return pd.Series(lookup.reindex(pd.MultiIndex.from_frame(events[["user_id", "basket_id"]])).to_numpy(),
                     index=events.index)


def _instacart_catalogue(dataset: Dataset, events: pd.DataFrame) -> pd.DataFrame:
    """Products of the order sample: the loader's ``in_orders`` attribute (which counts
    a dropped truncated user's products too) or, without it, the products of ``events``."""
    flags = dataset.items["attributes"].map(lambda a: a.get("in_orders"))
    if flags.notna().any():
        return dataset.items[flags.fillna(False).astype(bool) | dataset.items["item_id"].isin(events["item_id"])]
    return _catalogue(dataset, events)


def instacart(dataset: Dataset, stage: str = "test", mode: str = "new", *,
              drop_users: tuple[str, ...] = ()) -> Split:
    """Next-basket split of Instacart (EVALUATION.md, "Instacart").

    Per user, orders are sorted by the events' ``order_number`` column (``ts`` if the
    loader gives no such column): the last order is test, the one before validation,
    earlier ones train; ``stage="test"`` fits on train+validation. The catalogue is
    every product of the sample (14,190, see :func:`_instacart_catalogue`).

    Args:
        drop_users: user ids removed entirely. The loader already drops the user whose
            history the 150,000-line cut truncated (``meta["dropped_user"]``); pass it
            here if you loaded with ``drop_truncated_last_user=False``.
    """
    _check(stage, mode)
    events = _identified(dataset.events)
    items = _instacart_catalogue(dataset, events)
    events = events[~events["user_id"].isin([str(u) for u in drop_users])]
    rank = _order_rank(events, dataset.name)
    held = 0 if stage == "test" else 1
    meta = {"stage": stage, "dropped_users": [str(u) for u in drop_users],
            "loader_dropped_user": dataset.meta.get("dropped_user")}
    return _build(f"instacart/{stage}/{mode}", dataset, items, events[rank > held], events[rank == held], mode, meta)


def _hash_keys(seed: int, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """A pseudo-random uint64 per (seed, user, item): independent of row order (splitmix64)."""
    with np.errstate(over="ignore"):
        x = (np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
             ^ users.astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9)
             ^ items.astype(np.uint64) * np.uint64(0x94D049BB133111EB))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _carve_validation(train: Dataset, events: pd.DataFrame, fraction: float, seed: int) -> pd.Series:
    """Boolean mask over ``events``: the validation slice, ``round(fraction · n)`` (≥ 1
    if n ≥ 2) distinct items per user, chosen by a seeded hash of (user, item)."""
    users = train.user_vocab.indices(events["user_id"].to_numpy())
    items = train.item_vocab.indices(events["item_id"].to_numpy())
    keys = _hash_keys(seed, users, items)
    frame = pd.DataFrame({"u": users, "i": items, "key": keys})
    first = ~frame.duplicated(["u", "i"])
    n = frame[first].groupby("u")["i"].transform("size")
    take = np.where(n >= 2, np.maximum(1, np.round(fraction * n)), 0)
    pos = frame[first].groupby("u")["key"].rank(method="first")
    chosen = frame.loc[first].loc[pos.to_numpy() <= take, ["u", "i"]]
    marked = pd.MultiIndex.from_frame(frame[["u", "i"]]).isin(pd.MultiIndex.from_frame(chosen))
    return pd.Series(marked, index=events.index)


def lightgcn_official(dataset: Dataset, stage: str = "test", *, valid_fraction: float = 0.1,
                      seed: int = 0) -> Split:
    """The official LightGCN/NGCF split (Gowalla): events carry ``split`` train/test.

    ``stage="test"``: fit on train, evaluate on the official test, train items masked.
    ``stage="valid"``: a validation slice is carved from train — per user with ≥ 2 train
    items, ``max(1, round(valid_fraction · n))`` items chosen by a hash of
    (``seed``, user, item), so it does not depend on row order — and the model fits on
    the rest. All items of the items table are the catalogue.
    """
    _check(stage, "new")
    events = _identified(dataset.events)
    train_ev = events[events["split"] == "train"]
    if stage == "test":
        fit, held = train_ev, events[events["split"] == "test"]
    else:
        valid = _carve_validation(dataset, train_ev, valid_fraction, seed)
        fit, held = train_ev[~valid.to_numpy()], train_ev[valid.to_numpy()]
    meta = {"stage": stage, **({"valid_fraction": valid_fraction, "seed": seed} if stage == "valid" else {})}
    return _build(f"{dataset.name}/official/{stage}", dataset, dataset.items, fit, held, "new", meta)


def bundles_as_items(dataset: Dataset) -> Dataset:
    """A dataset whose *items* are the bundles of ``dataset`` and whose events are its
    user–bundle choices (``item_id`` = ``bundle_id``, ``split`` and ``ts`` kept)."""
    b = dataset.bundles
    items = pd.DataFrame({"item_id": b["bundle_id"], "title": b["name"], "description": b["intent"],
                          "price": b["price"]})
    ub = dataset.user_bundles
    events = pd.DataFrame({"user_id": ub["user_id"], "item_id": ub["bundle_id"], "kind": "purchase",
                           "ts": ub["ts"], "split": ub["split"]})
    return Dataset(items=items, users=dataset.users, events=events, name=f"{dataset.name}:bundles",
                   meta={**dataset.meta, "bundles_as_items": True})


def youshu(dataset: Dataset, stage: str = "test") -> Split:
    """The CrossCBR/BGCN Youshu protocol: bundles are the recommended objects.

    The model fits on a derived dataset (:func:`bundles_as_items`) holding only the
    train user–bundle choices; train bundles are masked; evaluated on ``split == "test"``
    (or ``"valid"``, the tune file, for ``stage="valid"``). The original dataset (bundle
    contents, user–item events) stays available to models through the caller.
    """
    _check(stage, "new")
    derived = bundles_as_items(dataset)
    ev = derived.events
    held = ev[ev["split"] == stage]
    return _build(f"{dataset.name}/bundles/{stage}", derived, derived.items, ev[ev["split"] == "train"], held,
                  "new", {"stage": stage, "source_dataset": dataset.name})


def last_bundle(dataset: Dataset, mode: str = "new") -> Split:
    """BundleRec Amazon: each user's last bundle (by ``ts``, then bundle id) is the test.

    The test matrix holds the *items* of that bundle. The train dataset keeps the user's
    other bundles (and drops from its ``bundles`` table every bundle that only a held-out
    choice names: its contents are the answer), and drops the user's events that reveal the test bundle: events after
    its time, and events of its items not earlier than it (or without a time) that none
    of the user's other bundles contains. In BundleRec a user's bundles mostly share one
    day and the loader's events are the bundles' items, so a time cut alone would drop
    everything. Users with ≥ 1 train
    event are evaluated (in practice: users with ≥ 2 bundles); ``mode`` as for the other
    protocols (``"new"``: items of the user's other bundles are masked and not counted).
    """
    _check("test", mode)
    ub = dataset.user_bundles.copy()
    ub["_order"] = dataset.bundle_vocab.indices(ub["bundle_id"].to_numpy())
    ub = ub.sort_values(["user_id", "ts", "_order"], na_position="first", kind="stable")
    is_last = ~ub.duplicated("user_id", keep="last")
    members = dataset.bundle_items()[["bundle_id", "item_id"]]
    held = ub[is_last][["user_id", "bundle_id", "ts"]].merge(members, on="bundle_id")
    kept = ub[~is_last][["user_id", "bundle_id"]].merge(members, on="bundle_id")
    ev = _identified(dataset.events)
    pairs = pd.MultiIndex.from_frame(ev[["user_id", "item_id"]])
    revealing = (pairs.isin(pd.MultiIndex.from_frame(held[["user_id", "item_id"]]))
                 & ~pairs.isin(pd.MultiIndex.from_frame(kept[["user_id", "item_id"]])))
    cut = ev["user_id"].map(ub[is_last].set_index("user_id")["ts"])
    before = (ev["ts"] < cut).to_numpy()
    later = (ev["ts"] > cut).to_numpy()
    fit = ev[~((revealing & ~before) | later)]
    # The held-out bundles' definitions (which items they hold) are the answer: a bundle
    # that only a held-out choice names leaves the train catalogue too.
    kept_ids = pd.Index(ub.loc[~is_last, "bundle_id"].unique())
    held_only = (dataset.bundles["bundle_id"].isin(ub.loc[is_last, "bundle_id"])
                 & ~dataset.bundles["bundle_id"].isin(kept_ids))
    train = dataset.replace(user_bundles=ub[~is_last].drop(columns="_order"), bundles=dataset.bundles[~held_only])
    return _build(f"{dataset.name}/last-bundle/{mode}", train, dataset.items, fit, held.assign(kind="purchase"), mode,
                  {"stage": "test", "n_test_bundles": int(is_last.sum())})
