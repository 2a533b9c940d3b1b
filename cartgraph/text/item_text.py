"""Turning an item row into the one text the language model reads.

The default template yields, for a full row::

    Organic Fair Trade Coffee Beans. Brand: Lavazza. Category: Pantry > Coffee.
    roast: dark; weight: 1 kg. Whole beans from small farms in...

(and `` Price: premium.`` when ``"price"`` is among the fields).

Fields come in order of how much they say about what the item *is* (the title
first: sentence embeddings weigh early tokens and get cut at ``max_length``).
Missing or empty fields are left out with their labels, so an item with only a
title becomes just that title; an item with nothing becomes ``""``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cartgraph.errors import ConfigError

__all__ = ["ItemTextTemplate", "item_texts", "price_bands"]

_FIELDS = ("title", "brand", "category", "attributes", "description", "price")
_DEFAULT_FIELDS = ("title", "brand", "category", "attributes", "description")


@dataclasses.dataclass(frozen=True)
class ItemTextTemplate:
    """How an item becomes text.

    Args:
        fields: which parts, in this order; any of ``title``, ``brand``,
            ``category``, ``attributes``, ``description``, ``price``. The price
            band is left out by default: with short titles the phrase "Price:
            premium." weighs so much in the vector that items group by price
            rather than by kind (seen on Online Retail: clusters named
            "Premium & Metal", "Budget & Set"). Add ``"price"`` to use it.
        max_description_chars: descriptions are cut at a word boundary to this
            many characters (``"..."`` appended); 0 drops them.
        max_attributes: at most this many ``key: value`` attributes.
        attribute_keys: which attribute keys are "key attributes", in order; ``None``
            takes the text-valued ones in sorted key order (numbers and flags such
            as Instacart's ``aisle_id`` or Online Retail's ``invoices`` are loader
            statistics, not words that describe the item).
        category_separator: between category path levels.
        band_names: price bands from cheap to dear; items are placed by the
            quantiles of their catalogue's prices (tertiles for three names).
    """

    fields: tuple[str, ...] = _DEFAULT_FIELDS
    max_description_chars: int = 200
    max_attributes: int = 5
    attribute_keys: tuple[str, ...] | None = None
    category_separator: str = " > "
    band_names: tuple[str, ...] = ("budget", "mid-range", "premium")

    def __post_init__(self) -> None:
        bad = [f for f in self.fields if f not in _FIELDS]
        if bad:
            raise ConfigError(f"ItemTextTemplate.fields: unknown {bad}; valid: {list(_FIELDS)}")
        if self.max_description_chars < 0 or self.max_attributes < 0:
            raise ConfigError("ItemTextTemplate: max_description_chars and max_attributes must be >= 0")
        if not self.band_names:
            raise ConfigError("ItemTextTemplate.band_names must name at least one band")

    def render(self, item: Mapping[str, Any], band: str | None = None) -> str:
        """The text of one item (a row/dict with the items-table columns; any may be missing)."""
        parts = []
        for field in self.fields:
            part = getattr(self, f"_{field}")(item, band)
            if part:
                parts.append(part)
        return " ".join(parts)

    def _title(self, item: Mapping[str, Any], band: str | None) -> str:
        return _sentence(_clean(item.get("title")))

    def _brand(self, item: Mapping[str, Any], band: str | None) -> str:
        brand = _clean(item.get("brand"))
        return f"Brand: {brand}." if brand else ""

    def _category(self, item: Mapping[str, Any], band: str | None) -> str:
        path = item.get("category_path")
        names = [_clean(p) for p in (path if isinstance(path, (list, tuple, np.ndarray)) else [])]
        names = [n for n in names if n]
        return f"Category: {self.category_separator.join(names)}." if names else ""

    def _attributes(self, item: Mapping[str, Any], band: str | None) -> str:
        attrs = item.get("attributes")
        if not isinstance(attrs, Mapping) or not attrs or self.max_attributes == 0:
            return ""
        if self.attribute_keys is not None:
            keys = [k for k in self.attribute_keys if k in attrs]
        else:  # text-valued only: numbers and flags are loader statistics, not descriptions
            keys = sorted((k for k, v in attrs.items() if isinstance(v, str)), key=str)
        pairs = [(k, _clean(attrs.get(k))) for k in keys]
        pairs = [f"{k}: {v}" for k, v in pairs if v][: self.max_attributes]
        return _sentence("; ".join(pairs))

    def _description(self, item: Mapping[str, Any], band: str | None) -> str:
        text = _clean(item.get("description"))
        limit = self.max_description_chars
        if not text or limit == 0:
            return ""
        if len(text) > limit:
            cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
            text = cut.rstrip(" ,;:.") + "..."
        return _sentence(text)

    def _price(self, item: Mapping[str, Any], band: str | None) -> str:
        return f"Price: {band}." if band else ""


def price_bands(prices: pd.Series | np.ndarray, names: tuple[str, ...]) -> list[str | None]:
    """Band of each price by catalogue quantiles (``None`` for a missing/negative price)."""
    values = np.asarray(pd.to_numeric(pd.Series(prices), errors="coerce"), dtype=np.float64)
    known = np.isfinite(values) & (values >= 0)
    if not known.any() or len(names) == 1:
        return [names[0] if k else None for k in known]
    edges = np.quantile(values[known], np.linspace(0, 1, len(names) + 1)[1:-1])
    band = np.searchsorted(edges, values, side="right")
    return [names[b] if k else None for b, k in zip(band, known)]


def item_texts(items: pd.DataFrame, template: ItemTextTemplate | None = None) -> list[str]:
    """The text of every row of an items table, in row order.

    Price bands are computed over this table's prices, so pass the whole catalogue.
    """
    template = template or ItemTextTemplate()
    bands = price_bands(items["price"], template.band_names) if "price" in items else [None] * len(items)
    records = items.to_dict("records")
    return [template.render(row, band) for row, band in zip(records, bands)]


def _clean(value: Any) -> str:
    """A field as one-line text; None/NaN/"nan" become ""."""
    if value is None or (np.isscalar(value) and pd.isna(value)):
        return ""
    text = " ".join(str(value).split())
    return "" if text.lower() in ("nan", "none") else text


def _sentence(text: str) -> str:
    return text if not text or text[-1] in ".!?" else text + "."
