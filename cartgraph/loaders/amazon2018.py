"""Amazon Review Data 2018 (Ni et al.): one category's ratings or reviews plus item metadata.

Format (pass the folder, or the ratings/reviews file with the metadata beside it):

* ratings: a CSV *without header*, ``item,user,rating,unix_seconds`` per line
  (``Magazine_Subscriptions.csv``); or 5-core reviews as JSON lines (``*.json`` /
  ``*.json.gz``) with ``asin``, ``reviewerID``, ``overall`` and ``unixReviewTime``;
* metadata ``meta_*.json.gz``: one JSON object per line with ``asin``, ``title``,
  ``description`` (list of paragraphs), ``category`` (root-to-leaf list), ``brand``,
  ``price`` (text), ``also_buy``, ``also_view`` and ``details``.

Mapping: a rating is a review written by someone who (almost always) bought the item,
so each becomes a ``purchase`` event (no basket) with the star value kept in an extra
``rating`` column; low ratings are *not* filtered here. Items are the union of the
metadata asins and the rated asins; rated items without metadata get no text.
``attributes`` keep ``also_buy``/``also_view`` (raw lists, asins outside the data
included), ``publisher`` and ``format``; ``meta["also_buy"]`` lists the directed
``[asin, also_bought_asin]`` pairs whose both ends are items, sorted — Amazon's own
"frequently bought together" signal, usable as complement ground truth.

Traps handled:

* Titles are often scraped HTML (``<span class="a-size-medium ...``, 3,153 of 3,385
  lines in Magazine Subscriptions): anything that looks like markup or CSS is missing.
* ``brand`` is often empty: the ``details`` publisher stands in for it.
* Prices hold ``"$12.99"``, ranges (``"$5.00 - $9.00"``: the lower bound) or CSS junk
  (``.a-box-inner{...``: missing).
* Text carries HTML entities (``Professional &amp; Educational Journals``) and tags in
  descriptions: unescaped and stripped.
* The metadata repeats lines (3,385 lines, 2,320 distinct asins, repeats identical):
  the first line per asin wins; ``meta`` records both counts.
* Ratings repeat (user, item) pairs (1,371 times): all are kept as events.
"""
from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartgraph.dataset import Dataset
from cartgraph.errors import DataError, described
from cartgraph.loaders._io import read_json_lines, read_table_file, require_file, to_number, to_str

__all__ = ["load", "clean_title", "parse_price"]

_RATING_NAMES = ["item", "user", "rating", "ts"]
_REVIEW_FIELDS = {"asin": "item", "reviewerID": "user", "overall": "rating", "unixReviewTime": "ts"}
_TAG = re.compile(r"<[^>]*>")
_PRICE = re.compile(r"^\$\s*([0-9][0-9,]*(?:\.[0-9]+)?)(?:\s*-\s*\$\s*[0-9][0-9,]*(?:\.[0-9]+)?)?$")


def _markup(text: str) -> bool:
    """True for scraped HTML/CSS/JS rather than text."""
    head = text.lstrip()[:200]
    return head.startswith(("<", ".a-", "#", "var ", "function")) or "{" in head or "<span" in head


def clean_title(value: Any) -> str | None:
    """A readable title, or None for empty values and scraped markup."""
    if not isinstance(value, str):
        return None
    text = " ".join(html.unescape(value).split())
    return None if not text or _markup(value) else text


def _clean_paragraphs(value: Any) -> str | None:
    """Description list → one text: tags stripped, entities unescaped, markup-only parts dropped."""
    parts = value if isinstance(value, list) else [value]
    kept = []
    for part in parts:
        if not isinstance(part, str) or _markup(part) and not _TAG.sub("", part).strip():
            continue
        text = " ".join(html.unescape(_TAG.sub(" ", part)).split())
        if text:
            kept.append(text)
    return "\n".join(kept) or None


def parse_price(value: Any) -> float:
    """``"$12.99"`` → 12.99, ``"$5.00 - $9.00"`` → 5.0, anything else → NaN."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _PRICE.match(value.strip()) if isinstance(value, str) else None
    return float(match.group(1).replace(",", "")) if match else float("nan")


def _str_list(value: Any) -> list[str]:
    return [html.unescape(v).strip() for v in value if isinstance(v, str) and v.strip()] if isinstance(value, list) else []


def _meta_item(obj: dict[str, Any]) -> dict[str, Any]:
    """One metadata object → one items row."""
    details = obj.get("details") if isinstance(obj.get("details"), dict) else {}
    brand = obj.get("brand")
    return {
        "item_id": obj["asin"],
        "title": clean_title(obj.get("title")),
        "description": _clean_paragraphs(obj.get("description")),
        "category_path": _str_list(obj.get("category")),
        "brand": clean_title(brand) or clean_title(details.get("Publisher:")),
        "price": parse_price(obj.get("price")),
        "attributes": {
            "also_buy": _str_list(obj.get("also_buy")),
            "also_view": _str_list(obj.get("also_view")),
            "publisher": clean_title(details.get("Publisher:")),
            "format": clean_title(details.get("Format:")),
        },
    }


def _read_meta(path: Path) -> tuple[pd.DataFrame, int]:
    """Metadata rows (first line per asin) and the number of lines read."""
    rows: dict[str, dict[str, Any]] = {}
    n_lines = 0
    for number, obj in read_json_lines(path):
        n_lines += 1
        asin = obj.get("asin")
        if not isinstance(asin, str) or not asin.strip():
            raise DataError(path, "a non-empty asin string", asin if asin is not None else described("no asin"),
                            row=number, column="asin")
        obj["asin"] = asin.strip()
        rows.setdefault(obj["asin"], _meta_item(obj))
    if n_lines == 0:
        raise DataError(path, "one JSON object per line", described("no lines"))
    return pd.DataFrame(list(rows.values())), n_lines


def _check_ratings(frame: pd.DataFrame, path: Path, header: bool) -> pd.DataFrame:
    """Type and range checks shared by the CSV and JSON layouts (``frame`` columns: item, user, rating, ts)."""
    rating = to_number(frame, "rating", path, header=header)
    bad = ~rating.between(0, 5).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(path, "a rating between 0 and 5", frame["rating"].iloc[i], row=i + (2 if header else 1),
                        column="rating")
    seconds = to_number(frame, "ts", path, integer=True, header=header)
    return pd.DataFrame({
        "user_id": to_str(frame, "user", path, header=header).to_numpy(dtype=object),
        "item_id": to_str(frame, "item", path, header=header).to_numpy(dtype=object),
        "kind": "purchase",
        "ts": pd.to_datetime(seconds, unit="s").to_numpy(),
        "rating": rating.to_numpy(),
    })


def _read_ratings_csv(path: Path) -> pd.DataFrame:
    frame = read_table_file(path, header=False, names=_RATING_NAMES)
    if frame.shape[1] != 4 or frame["ts"].isna().all():
        raise DataError(path, "4 comma-separated fields per line (item,user,rating,unix time)",
                        described(f"{frame.notna().sum(axis=1).max()} fields"), row=1)
    return _check_ratings(frame, path, header=False)


def _read_reviews_json(path: Path) -> pd.DataFrame:
    """5-core review lines; the CSV-style line numbers are replaced by the JSON line numbers."""
    records, lines = [], []
    for number, obj in read_json_lines(path):
        for field in _REVIEW_FIELDS:
            if obj.get(field) in (None, ""):
                raise DataError(path, f"a field {field!r}", described("none"), row=number, column=field)
        records.append({ours: obj[theirs] for theirs, ours in _REVIEW_FIELDS.items()})
        lines.append(number)
    if not records:
        raise DataError(path, "one JSON review object per line", described("no lines"))
    frame = pd.DataFrame(records).astype(object)
    try:
        return _check_ratings(frame, path, header=False)
    except DataError as exc:  # map the frame position back to the file line
        line = lines[exc.row - 1] if exc.row else None
        raise DataError(path, exc.expected, exc.found, row=line, column=_field_name(exc.column)) from exc


def _field_name(column: str | None) -> str | None:
    reverse = {ours: theirs for theirs, ours in _REVIEW_FIELDS.items()}
    return reverse.get(column, column)


def _find_files(path: str | Path) -> tuple[Path, Path | None]:
    """(ratings or reviews file, metadata file or None) from a folder or a ratings file."""
    p = Path(path).expanduser()
    folder = p if p.is_dir() else p.parent
    metas = sorted(folder.glob("meta_*.json*"))
    if p.is_dir():
        data = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("meta_")
                      and f.name.endswith((".csv", ".json", ".json.gz", ".jsonl", ".jsonl.gz")))
        if not data:
            raise DataError(p, "a folder holding a ratings .csv or reviews .json(.gz) file",
                            described("no such file"))
        p = data[0]
    return require_file(p, "Amazon ratings (.csv) or reviews (.json/.json.gz)"), metas[0] if metas else None


def _items(meta: pd.DataFrame | None, events: pd.DataFrame) -> pd.DataFrame:
    """Metadata items plus rated items without metadata (no text), sorted by asin."""
    known = set(meta["item_id"]) if meta is not None else set()
    extra = sorted(set(events["item_id"]) - known)
    parts = [meta] if meta is not None else []
    parts.append(pd.DataFrame({"item_id": extra}))
    return pd.concat(parts, ignore_index=True).sort_values("item_id", kind="stable").reset_index(drop=True)


def _also_buy_pairs(items: pd.DataFrame) -> list[list[str]]:
    known = set(items["item_id"])
    pairs = {(a, b) for a, attrs in zip(items["item_id"], items["attributes"]) if isinstance(attrs, dict)
             for b in attrs.get("also_buy", []) if b in known and b != a}
    return [list(p) for p in sorted(pairs)]


def load(path: str | Path) -> Dataset:
    """Read one Amazon 2018 category into a :class:`Dataset` (``name="amazon2018"``).

    Args:
        path: the folder (ratings/reviews file + ``meta_*.json.gz``), or the ratings or
            reviews file itself (metadata is then looked up beside it; optional).

    Raises:
        DataError: a missing file, field or column, a bad value, a truncated gzip or a
            line that is not JSON, naming the file, line and column/field.
    """
    data_file, meta_file = _find_files(path)
    is_json = ".json" in data_file.name
    events = _read_reviews_json(data_file) if is_json else _read_ratings_csv(data_file)
    meta_items, meta_lines = _read_meta(meta_file) if meta_file is not None else (None, 0)
    items = _items(meta_items, events)
    meta = {
        "source_files": [str(f) for f in (data_file, meta_file) if f is not None],
        "layout": "reviews-json" if is_json else "ratings-csv",
        "raw_ratings": int(len(events)), "raw_users": int(events["user_id"].nunique()),
        "rated_items": int(events["item_id"].nunique()), "meta_lines": meta_lines,
        "meta_items": 0 if meta_items is None else int(len(meta_items)),
        "rated_items_without_meta": int(len(set(events["item_id"]) - set(
            meta_items["item_id"] if meta_items is not None else []))),
        "also_buy": _also_buy_pairs(items),
    }
    return Dataset(items=items, events=events, name="amazon2018", meta=meta)
