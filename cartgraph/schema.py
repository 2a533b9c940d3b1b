"""The columns of every table of a :class:`~cartgraph.dataset.Dataset`.

One place fixes names, meanings and types so that loaders, stores and models agree.
A column is *required* when a loader must fill it; optional ones get the default shown.

========== =============== ===========================================================
table      column          meaning (type)
========== =============== ===========================================================
items      item_id         external id (str, unique, required)
items      title           short name (str or None)
items      description     long text (str or None)
items      category_path   root-to-leaf category names (list[str], may be empty)
items      brand           (str or None)
items      price           unit price (float, NaN when unknown)
items      attributes      free key/value pairs (dict)
users      user_id         external id (str, unique, required)
events     user_id         who (str; None for anonymous baskets)
events     item_id         what (str, required, must be in items)
events     kind            one of view, click, cart, purchase (category)
events     ts              when (datetime64[ns], NaT when unknown)
events     basket_id       order / invoice / session (str or None)
events     quantity        (float, 1.0 by default)
events     price           unit price paid (float, NaN when unknown)
events     split           official split where a dataset ships one (train/valid/test or None)
bundles    bundle_id       external id (str, unique, required)
bundles    item_ids        ordered member items (list[str], required)
bundles    name / intent   (str or None)
bundles    price           bundle price (float, NaN when unknown)
user_bundles user_id       (str, required)
user_bundles bundle_id     (str, required)
user_bundles ts            (datetime64[ns], NaT when unknown)
user_bundles split         official split (train/valid/test or None)
========== =============== ===========================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["EVENT_KINDS", "SPLITS", "Column", "TABLES"]

EVENT_KINDS: tuple[str, ...] = ("view", "click", "cart", "purchase")
"""Event kinds in funnel order (weaker to stronger signal)."""

SPLITS: tuple[str, ...] = ("train", "valid", "test")


@dataclass(frozen=True)
class Column:
    """One column: its name, logical type and default (``required`` has none)."""

    name: str
    kind: str  # "str", "optstr", "float", "datetime", "list", "dict", "kind", "split"
    required: bool = False
    default: Any = None


TABLES: dict[str, tuple[Column, ...]] = {
    "items": (
        Column("item_id", "str", required=True),
        Column("title", "optstr"),
        Column("description", "optstr"),
        Column("category_path", "list"),
        Column("brand", "optstr"),
        Column("price", "float", default=float("nan")),
        Column("attributes", "dict"),
    ),
    "users": (Column("user_id", "str", required=True),),
    "events": (
        Column("user_id", "optstr"),
        Column("item_id", "str", required=True),
        Column("kind", "kind", default="purchase"),
        Column("ts", "datetime"),
        Column("basket_id", "optstr"),
        Column("quantity", "float", default=1.0),
        Column("price", "float", default=float("nan")),
        Column("split", "split"),
    ),
    "bundles": (
        Column("bundle_id", "str", required=True),
        Column("item_ids", "list", required=True),
        Column("name", "optstr"),
        Column("intent", "optstr"),
        Column("price", "float", default=float("nan")),
    ),
    "user_bundles": (
        Column("user_id", "str", required=True),
        Column("bundle_id", "str", required=True),
        Column("ts", "datetime"),
        Column("split", "split"),
    ),
}
