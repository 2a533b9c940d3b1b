"""Steam bundles (Pathak et al., RecSys'17): ``bundle_data.json``.

The file holds one *Python dict literal* per line (single quotes, so it is not JSON;
it is read with :func:`ast.literal_eval`, never ``eval``)::

    {'bundle_id': '450', 'bundle_name': 'Dharker Studio 2015 Complete',
     'bundle_price': '$73.86', 'bundle_final_price': '$66.46', 'bundle_discount': '10%',
     'bundle_url': 'http://...', 'items': [{'item_id': '326950', 'item_name': 'Sword of Asumi',
     'genre': 'Adventure, Indie, RPG', 'discounted_price': '$8.99', 'item_url': '...'}, ...]}

How it maps onto a :class:`~cartgraph.dataset.Dataset` (bundles and items only: the
file has no users and no events):

- bundles: ``bundle_id``, ``name`` = bundle_name, ``price`` = bundle_final_price (what a
  buyer pays), ``item_ids`` in listed order; extra columns ``list_price``
  (bundle_price, the sum before the bundle discount), ``discount`` (a fraction:
  "7.5%" → 0.075) and ``url``.
- items: ``title`` = item_name, ``price`` = discounted_price, ``attributes`` with
  ``genres`` (the list), ``steam_app_id`` and ``url``. Steam genres are flat tags, not a
  tree, so ``category_path`` is the one-element list of the *first listed* genre ([]
  when there is none) and the full list stays in ``attributes["genres"]``. The lists
  are mostly alphabetical, so that first genre is a coarse tag, not "the" genre.

Traps:

- Prices are strings like ``"$8.99"`` (also ``"$1,250.00"``); ``"Free"`` (any case,
  also "Free to Play") is 0.0, an empty or absent price is NaN; anything else is a
  DataError naming the line and the field (``items[2].discounted_price``).
- 10 item entries (8 distinct names) have an empty ``item_id`` (DLC without a store
  page): they get the id ``"name:<item_name>"``, so the same name in two bundles is one
  item, and ``steam_app_id`` None.
- The same item is listed with different prices in different bundles (the price is
  the one shown on that bundle's page): the item keeps the first one seen, and
  ``attributes["prices_seen"]`` lists all distinct ones when there are several.
- A bundle may list the same item twice (bundle 383 lists 94620 twice): the repeat is
  dropped, keeping the first position; ``meta["repeated_members_dropped"]`` counts them.
- Genre ``""`` means no genre.
"""
from __future__ import annotations

import ast
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from cartgraph.dataset import Dataset
from cartgraph.errors import DataError, described
from cartgraph.loaders._io import read_json_lines, require_file

__all__ = ["load", "parse_price", "parse_discount"]

_PRICE = re.compile(r"^\s*[$£€]?\s*(\d[\d,]*(?:\.\d+)?)\s*$")
_DISCOUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_BUNDLE_KEYS = ("bundle_id", "bundle_name", "items")
_ITEM_KEYS = ("item_id", "item_name")


def parse_price(value: Any) -> float | None:
    """``"$8.99"`` → 8.99, ``"Free"`` → 0.0, ``""``/None → NaN; None when unreadable."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    if value.strip().lower().startswith("free"):
        return 0.0
    match = _PRICE.match(value)
    return float(match.group(1).replace(",", "")) if match else None


def parse_discount(value: Any) -> float | None:
    """``"10%"`` → 0.10, ``"7.5%"`` → 0.075, ``""``/None → NaN; None when unreadable."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    match = _DISCOUNT.match(value) if isinstance(value, str) else None
    return float(match.group(1)) / 100 if match else None


def _field(obj: dict, key: str, path: Path, line: int, column: str) -> Any:
    """``obj[key]``, else a DataError naming the line and the field that is missing."""
    if key not in obj:
        raise DataError(path, f"a field {key!r}", described(f"fields {sorted(obj)}"), row=line, column=column)
    return obj[key]


def _number(value: Any, parse, path: Path, line: int, column: str, expected: str) -> float:
    """Run ``parse`` on a field's value, raising with its position when it returns None."""
    number = parse(value)
    if number is None:
        raise DataError(path, expected, value, row=line, column=column)
    return number


def _genres(text: Any) -> list[str]:
    """``"Adventure, Indie, RPG"`` → ``["Adventure", "Indie", "RPG"]``; "" → []."""
    return [g.strip() for g in str(text or "").split(",") if g.strip()]


def _item(raw: Any, path: Path, line: int, where: str) -> dict[str, Any]:
    """One ``items[k]`` entry as an items-table row (id synthesised when empty)."""
    if not isinstance(raw, dict):
        raise DataError(path, "an item dict", type(raw).__name__, row=line, column=where)
    app_id = str(_field(raw, "item_id", path, line, f"{where}.item_id")).strip()
    title = str(_field(raw, "item_name", path, line, f"{where}.item_name")).strip()
    if not app_id and not title:
        raise DataError(path, "an item_id or an item_name", described("both empty"), row=line, column=f"{where}.item_id")
    genres = _genres(raw.get("genre"))
    price = _number(raw.get("discounted_price"), parse_price, path, line, f"{where}.discounted_price",
                    "a price like '$8.99', 'Free' or ''")
    return {"item_id": app_id or f"name:{title}", "title": title or None, "price": price,
            "category_path": genres[:1],
            "attributes": {"genres": genres, "steam_app_id": app_id or None, "url": raw.get("item_url")}}


def _bundle(obj: dict, path: Path, line: int) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """One line → (bundles row, its item rows, number of repeated members dropped)."""
    bundle_id = str(_field(obj, "bundle_id", path, line, "bundle_id")).strip()
    name = _field(obj, "bundle_name", path, line, "bundle_name")
    raw_items = _field(obj, "items", path, line, "items")
    if not bundle_id:
        raise DataError(path, "a non-empty bundle_id", described("an empty value"), row=line, column="bundle_id")
    if not isinstance(raw_items, list) or not raw_items:
        raise DataError(path, "a non-empty list of items", raw_items, row=line, column="items")
    items = [_item(raw, path, line, f"items[{k}]") for k, raw in enumerate(raw_items)]
    members = list(dict.fromkeys(item["item_id"] for item in items))
    row = {"bundle_id": bundle_id, "name": str(name).strip() or None, "item_ids": members,
           "price": _number(obj.get("bundle_final_price"), parse_price, path, line, "bundle_final_price",
                            "a price like '$66.46'"),
           "list_price": _number(obj.get("bundle_price"), parse_price, path, line, "bundle_price",
                                 "a price like '$73.86'"),
           "discount": _number(obj.get("bundle_discount"), parse_discount, path, line, "bundle_discount",
                               "a percentage like '10%'"),
           "url": obj.get("bundle_url")}
    return row, items, len(items) - len(members)


def _merge_items(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per item id (first occurrence wins), with every distinct price it was shown at."""
    first: dict[str, dict[str, Any]] = {}
    prices: dict[str, set[float]] = {}
    for row in rows:
        first.setdefault(row["item_id"], row)
        if not math.isnan(row["price"]):
            prices.setdefault(row["item_id"], set()).add(row["price"])
    for item_id, seen in prices.items():
        if len(seen) > 1:
            first[item_id]["attributes"]["prices_seen"] = sorted(seen)
    return pd.DataFrame(list(first.values()))


def load(path: str | Path) -> Dataset:
    """Read ``bundle_data.json`` (the file, or the folder holding it; ``.gz`` accepted).

    Returns:
        A dataset of items and bundles (no users, no events) named ``steam-bundles``;
        ``meta`` holds ``source_files``, ``rows`` (bundle lines), ``item_entries``
        (item listings over all bundles) and ``repeated_members_dropped``.

    Raises:
        DataError: an unreadable line, a missing field, a bad price, or a repeated
            bundle_id (naming the file, the line and the field).
    """
    file = Path(path).expanduser()
    if file.is_dir():
        packed = file / "bundle_data.json.gz"
        file = packed if packed.exists() and not (file / "bundle_data.json").exists() else file / "bundle_data.json"
    file = require_file(file, "the Steam bundle file bundle_data.json")
    bundles, items, dropped, lines = [], [], 0, {}
    for line, obj in read_json_lines(file, parser=ast.literal_eval):
        row, members, repeats = _bundle(obj, file, line)
        if row["bundle_id"] in lines:
            raise DataError(file, f"a bundle_id not used before (it is on line {lines[row['bundle_id']]})",
                            row["bundle_id"], row=line, column="bundle_id")
        lines[row["bundle_id"]] = line
        bundles.append(row)
        items.extend(members)
        dropped += repeats
    if not bundles:
        raise DataError(file, "one bundle dict per line", described("only blank lines"))
    meta = {"format": "steam-bundles", "source_files": [file.name], "rows": {file.name: len(bundles)},
            "item_entries": len(items), "repeated_members_dropped": dropped}
    return Dataset(items=_merge_items(items), bundles=pd.DataFrame(bundles), name="steam-bundles", meta=meta)
