"""The one data model every stage shares: :class:`Dataset`.

A dataset is five columnar tables (pandas) — ``items``, ``users``, ``events``,
``bundles``, ``user_bundles`` — whose columns :mod:`cartgraph.schema` fixes, plus one
:class:`~cartgraph.vocab.Vocabulary` per entity type. Loaders build it, every later
stage reads it, nothing mutates it in place (derive a new one with :meth:`Dataset.replace`).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cartgraph.errors import ConfigError, DataError
from cartgraph.schema import EVENT_KINDS, TABLES
from cartgraph.tables import empty_table, normalize_table, validate_table
from cartgraph.vocab import Vocabulary

__all__ = ["Dataset"]


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Items, users, events, bundles and user–bundle choices of one shop or benchmark.

    Args:
        items: one row per item (``item_id``, ``title``, ``description``,
            ``category_path``, ``brand``, ``price``, ``attributes``).
        users: one row per user (``user_id``); users seen only in events are added.
        events: one row per interaction (``user_id`` may be None for anonymous
            baskets), ``kind`` in view/click/cart/purchase.
        bundles: one row per bundle with its ordered ``item_ids``.
        user_bundles: which user chose which bundle, and when.
        name: a short label (``"online-retail"``), shown in messages.
        meta: free facts the loader recorded (source files, raw row counts ...).

    Tables are normalised on construction (all schema columns present and typed);
    call :meth:`validate` to check cross-table references.
    """

    items: pd.DataFrame
    users: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    bundles: pd.DataFrame | None = None
    user_bundles: pd.DataFrame | None = None
    name: str = "dataset"
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for table in TABLES:
            frame = getattr(self, table)
            set_(self, table, empty_table(table) if frame is None else normalize_table(table, frame))
        known = set(self.users["user_id"])
        seen = pd.concat([self.events["user_id"].dropna(), self.user_bundles["user_id"]]).unique()
        extra = [u for u in seen if u not in known]
        if extra:
            set_(self, "users", normalize_table("users", pd.concat(
                [self.users, pd.DataFrame({"user_id": extra})], ignore_index=True)))

    # ------------------------------------------------------------------ vocabularies
    @functools.cached_property
    def item_vocab(self) -> Vocabulary:
        """Items, indexed by sorted external id."""
        return Vocabulary(self.items["item_id"], name="item")

    @functools.cached_property
    def user_vocab(self) -> Vocabulary:
        """Users, indexed by sorted external id."""
        return Vocabulary(self.users["user_id"], name="user")

    @functools.cached_property
    def bundle_vocab(self) -> Vocabulary:
        """Bundles, indexed by sorted external id."""
        return Vocabulary(self.bundles["bundle_id"], name="bundle")

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_users(self) -> int:
        return len(self.users)

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, items={len(self.items)}, users={len(self.users)}, "
                f"events={len(self.events)}, bundles={len(self.bundles)}, user_bundles={len(self.user_bundles)})")

    # ------------------------------------------------------------------ derived views
    def replace(self, **changes: Any) -> "Dataset":
        """A new dataset with some tables (or name/meta) replaced; the rest are shared."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        unknown = set(changes) - set(fields)
        if unknown:
            raise ConfigError(f"Dataset.replace got unknown fields {sorted(unknown)}; valid: {sorted(fields)}")
        fields.update(changes)
        return Dataset(**fields)

    def interactions(self, kinds: tuple[str, ...] | None = None, *, binary: bool = True,
                     events: pd.DataFrame | None = None) -> sp.csr_matrix:
        """User × item matrix of identified events, shape ``(n_users, n_items)`` float32.

        Args:
            kinds: event kinds to count (default: all).
            binary: 1 where any such event exists (default) instead of the count.
            events: a subset of :attr:`events` to use instead of all of them.
        """
        ev = self.events if events is None else events
        if kinds is not None:
            bad = set(kinds) - set(EVENT_KINDS)
            if bad:
                raise ConfigError(f"kinds: unknown event kinds {sorted(bad)}; valid: {list(EVENT_KINDS)}")
            ev = ev[ev["kind"].isin(kinds)]
        ev = ev[ev["user_id"].notna()]
        rows = self.user_vocab.indices(ev["user_id"].to_numpy())
        cols = self.item_vocab.indices(ev["item_id"].to_numpy())
        m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                          shape=(self.n_users, self.n_items))
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m

    def basket_items(self, events: pd.DataFrame | None = None) -> pd.DataFrame:
        """Distinct ``(basket_id, item_id)`` pairs of purchase/cart events that have a basket."""
        ev = self.events if events is None else events
        ev = ev[ev["basket_id"].notna() & ev["kind"].isin(("cart", "purchase"))]
        return ev[["basket_id", "item_id"]].drop_duplicates().reset_index(drop=True)

    def bundle_items(self) -> pd.DataFrame:
        """Bundles in long form: ``bundle_id``, ``item_id``, ``position`` (0-based)."""
        b = self.bundles[["bundle_id", "item_ids"]].explode("item_ids").dropna()
        b = b.rename(columns={"item_ids": "item_id"})
        b["position"] = b.groupby("bundle_id").cumcount()
        return b.reset_index(drop=True)

    def stats(self) -> dict[str, Any]:
        """Counts a person wants first: sizes, event kinds, baskets, density, categories."""
        ev = self.events
        identified = ev["user_id"].notna()
        n_pairs = self.interactions().nnz if len(ev) else 0
        return {
            "name": self.name,
            "items": int(len(self.items)),
            "users": int(len(self.users)),
            "events": int(len(ev)),
            "events_by_kind": {k: int(v) for k, v in ev["kind"].value_counts().reindex(EVENT_KINDS, fill_value=0).items()},
            "anonymous_events": int((~identified).sum()),
            "baskets": int(ev["basket_id"].nunique()),
            "user_item_pairs": int(n_pairs),
            "density": float(n_pairs / max(1, self.n_users * self.n_items)),
            "items_with_category": int((self.items["category_path"].map(len) > 0).sum()),
            "leaf_categories": int(self.items["category_path"].map(lambda p: " > ".join(p)).replace("", np.nan).nunique()),
            "bundles": int(len(self.bundles)),
            "user_bundles": int(len(self.user_bundles)),
            "time_range": [None if pd.isna(t) else str(t) for t in (ev["ts"].min(), ev["ts"].max())] if len(ev) else [None, None],
        }

    # ------------------------------------------------------------------ validation
    def validate(self) -> "Dataset":
        """Check every table and every cross-table reference; return ``self``.

        Raises:
            DataError: naming the table (as ``NAME:table``), the 1-based row, the
                column, what was expected and what was found.
        """
        for table in TABLES:
            validate_table(table, getattr(self, table), f"{self.name}:{table}")
        items = set(self.items["item_id"])
        self._check_refs("events", "item_id", self.events["item_id"], items, "an item id listed in items")
        users = set(self.users["user_id"])
        self._check_refs("user_bundles", "user_id", self.user_bundles["user_id"], users, "a user id listed in users")
        bundles = set(self.bundles["bundle_id"])
        self._check_refs("user_bundles", "bundle_id", self.user_bundles["bundle_id"], bundles, "a bundle id listed in bundles")
        for i, members in enumerate(self.bundles["item_ids"]):
            missing = [m for m in members if m not in items]
            if missing:
                raise DataError(f"{self.name}:bundles", "item ids listed in items", missing[0],
                                row=i + 1, column="item_ids", row_label="row")
        return self

    def _check_refs(self, table: str, column: str, values: pd.Series, known: set, expected: str) -> None:
        bad = ~values.isin(known)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{self.name}:{table}", expected, values.iloc[i], row=i + 1, column=column, row_label="row")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str) -> None:
        """Write the dataset to folder ``path`` (Parquet per table + ``dataset.json``), atomically."""
        from cartgraph.dataset_io import save_dataset

        save_dataset(self, path)

    @staticmethod
    def load(path: str) -> "Dataset":
        """Read a folder written by :meth:`save`."""
        from cartgraph.dataset_io import load_dataset

        return load_dataset(path)
