"""A shop's own tables (CSV, TSV or Parquet) with a column mapping.

Format: up to four files, one per table of :mod:`cartgraph.schema`:

* ``events`` (required): one interaction per row; needs ``item_id`` and ``user_id``
  columns (an empty user id is an anonymous basket line), optionally ``kind``, ``ts``,
  ``basket_id``, ``quantity``, ``price``, ``split``; other columns are kept as extra
  event columns.
* ``items``: ``item_id`` and optionally ``title``, ``description``, ``category_path``
  (one string split on ``category_sep``, e.g. ``"Kitchen > Coffee"``), ``brand``,
  ``price``; every other column goes into ``attributes``.
* ``bundles``: ``bundle_id`` with ``item_ids`` (one string split on ``list_sep``), or
  long form with one ``item_id`` per row (order of rows = order in the bundle);
  optionally ``name``, ``intent``, ``price``.
* ``user_bundles``: ``user_id``, ``bundle_id``, optionally ``ts``, ``split``.

``path`` is the folder holding them under default names (``events.csv``,
``items.csv``, ``bundles.csv``, ``user_bundles.csv``; ``.tsv``/``.parquet`` also
found), or the events file itself; file options given as relative paths are resolved
against that folder.

``mapping`` maps *our* column names to *theirs*: ``{"item_id": "sku", "ts": "time"}``
applies to every table whose file has their column (a file using our name keeps it)
and must be found in the column's home table, the first of events, items, bundles,
user_bundles whose schema has it; ``"items.title": "name"`` applies to, and must be
found in, that one table.
``event_kind_map`` maps their kind values to ours (``{"order": "purchase"}``);
``ts_unit`` (``"s"``, ``"ms"``) reads unix times instead of date strings.

Traps handled (each a :class:`~cartgraph.errors.DataError` naming file, line, column):
a mapped or required column the file lacks; a kind that is not one of view, click,
cart, purchase after mapping; non-numeric prices or quantities; unparseable times;
duplicate item or bundle ids; a user_bundles row whose bundle is not in bundles
(strict). Items that events or bundles mention but the items file lacks are created
without text (``meta["items_created"]`` counts them).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, DataError, described
from cartgraph.loaders._io import read_table_file, require_dir, require_file, to_datetime, to_number, to_str
from cartgraph.schema import EVENT_KINDS, SPLITS, TABLES

__all__ = ["load", "DEFAULT_NAMES"]

DEFAULT_NAMES: dict[str, str] = {"events": "events", "items": "items", "bundles": "bundles",
                                 "user_bundles": "user_bundles"}
"""Table → file stem looked up in the folder (``.csv``, ``.tsv``, ``.parquet``)."""

_REQUIRED: dict[str, tuple[str, ...]] = {"events": ("item_id", "user_id"), "items": ("item_id",),
                                         "bundles": ("bundle_id",), "user_bundles": ("user_id", "bundle_id")}


class _Source:
    """One raw file, with the line-number convention and the column mapping applied."""

    def __init__(self, path: Path, table: str, mapping: dict[str, str], sep: str) -> None:
        self.path, self.table, self.mapping = path, table, mapping
        self.header = path.suffix != ".parquet"  # parquet rows are 1-based; text lines count the header
        self.frame = read_table_file(path, sep="\t" if path.suffix == ".tsv" else sep)
        for ours in _REQUIRED[table]:
            self.require(ours)

    def their(self, ours: str) -> str:
        """Their name for our column: a ``table.column`` key wins; a plain key applies where
        the file has their column (a table that uses our name keeps it)."""
        qualified = f"{self.table}.{ours}"
        if qualified in self.mapping:
            return self.mapping[qualified]
        plain = self.mapping.get(ours, ours)
        return ours if plain not in self.frame.columns and ours in self.frame.columns else plain

    def explicit(self, ours: str) -> bool:
        """Whether the mapping insists on this column here (so its absence is an error)."""
        return f"{self.table}.{ours}" in self.mapping or (ours in self.mapping and _home(ours) == self.table)

    def has(self, ours: str) -> bool:
        """Whether the column is present; a column the mapping names but the file lacks is an error."""
        if self.their(ours) in self.frame.columns:
            return True
        if self.explicit(ours):
            self.require(ours)
        return False

    def require(self, ours: str) -> str:
        name = self.their(ours)
        if name not in self.frame.columns:
            have = ", ".join(map(repr, list(self.frame.columns)[:12]))
            mapped = f" (mapped from our {ours!r})" if name != ours else ""
            raise DataError(self.path, f"a column {name!r}{mapped}", described(f"columns {have}"), column=name)
        return name

    def text(self, ours: str, *, required: bool = False) -> pd.Series | None:
        if not (required or self.has(ours)):
            return None
        return to_str(self.frame, self.require(ours), self.path, header=self.header, allow_missing=not required)

    def number(self, ours: str) -> pd.Series | None:
        if not self.has(ours):
            return None
        return to_number(self.frame, self.their(ours), self.path, header=self.header, allow_missing=True)

    def times(self, ours: str, unit: str | None) -> pd.Series | None:
        if not self.has(ours):
            return None
        return to_datetime(self.frame, self.their(ours), self.path, unit=unit, header=self.header, allow_missing=True)

    def fail(self, position: int, ours: str, expected: str, found: Any) -> DataError:
        return DataError(self.path, expected, found, row=position + (2 if self.header else 1),
                         column=self.their(ours), row_label="line" if self.header else "row")

    def extras(self, used: set[str]) -> list[str]:
        """Their columns not mapped to any schema column (an unnamed index column excluded)."""
        taken = {self.their(c) for c in used}
        return [c for c in self.frame.columns if c not in taken and not str(c).startswith("Unnamed:")]


def _home(ours: str) -> str:
    """The first table (events, items, bundles, user_bundles) whose schema has column ``ours``."""
    return next(t for t in DEFAULT_NAMES if ours in _schema_columns(t))


def _schema_columns(table: str) -> set[str]:
    return {c.name for c in TABLES[table]}


def _check_mapping(mapping: dict[str, str]) -> None:
    """Keys must be our column names, optionally ``table.column``; values their column names."""
    valid = set().union(*(_schema_columns(t) for t in DEFAULT_NAMES)) - {"attributes"}
    for key, value in mapping.items():
        table, _, column = key.rpartition(".")
        if (table and (table not in DEFAULT_NAMES or column not in _schema_columns(table))) or column not in valid:
            raise ConfigError(f"mapping: unknown column {key!r}; valid: {sorted(valid)} or 'table.column'")
        if not isinstance(value, str) or not value:
            raise ConfigError(f"mapping[{key!r}] must be a column name (str), got {value!r}")


def _kinds(src: _Source, kind_map: dict[str, str]) -> pd.Series | None:
    raw = src.text("kind")
    if raw is None:
        return None
    mapped = raw.map(lambda v: kind_map.get(v, v) if v is not None else None)
    bad = ~mapped.isin(EVENT_KINDS).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        found = raw.iloc[i] if raw.iloc[i] is not None else described("an empty value")
        raise src.fail(i, "kind", f"one of {list(EVENT_KINDS)} (or a key of event_kind_map)", found)
    return mapped


def _splits(src: _Source) -> pd.Series | None:
    raw = src.text("split")
    if raw is None:
        return None
    bad = (raw.notna() & ~raw.isin(SPLITS)).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise src.fail(i, "split", f"one of {list(SPLITS)} or empty", raw.iloc[i])
    return raw


def _unique(src: _Source, ours: str, ids: pd.Series) -> None:
    dup = ids.duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise src.fail(i, ours, f"unique {ours} values", ids.iloc[i])


def _columns(parts: dict[str, pd.Series | None]) -> pd.DataFrame:
    return pd.DataFrame({k: v.to_numpy() for k, v in parts.items() if v is not None})


def _events(src: _Source, kind_map: dict[str, str], ts_unit: str | None, default_kind: str) -> pd.DataFrame:
    frame = _columns({
        "user_id": src.text("user_id"), "item_id": src.text("item_id", required=True),
        "kind": _kinds(src, kind_map), "ts": src.times("ts", ts_unit), "basket_id": src.text("basket_id"),
        "quantity": src.number("quantity"), "price": src.number("price"), "split": _splits(src)})
    if "kind" not in frame.columns:
        frame["kind"] = default_kind
    if "quantity" in frame.columns:
        frame["quantity"] = frame["quantity"].fillna(1.0)
    for extra in src.extras(_schema_columns("events")):
        frame[extra] = src.frame[extra].to_numpy()
    return frame


def _split_list(values: pd.Series | None, sep: str) -> pd.Series | None:
    if values is None:
        return None
    return values.map(lambda v: [p.strip() for p in v.split(sep) if p.strip()] if isinstance(v, str) else [])


def _items(src: _Source, category_sep: str) -> pd.DataFrame:
    ids = src.text("item_id", required=True)
    _unique(src, "item_id", ids)
    frame = _columns({"item_id": ids, "title": src.text("title"), "description": src.text("description"),
                      "category_path": _split_list(src.text("category_path"), category_sep),
                      "brand": src.text("brand"), "price": src.number("price")})
    extras = src.extras(_schema_columns("items"))
    records = src.frame[extras].to_dict("records") if extras else [{} for _ in range(len(frame))]
    frame["attributes"] = [{k: v for k, v in r.items() if v is not None and v == v} for r in records]
    return frame


def _bundles(src: _Source, list_sep: str) -> pd.DataFrame:
    ids = src.text("bundle_id", required=True)
    fields = {"name": src.text("name"), "intent": src.text("intent"), "price": src.number("price")}
    if src.has("item_ids") or not src.has("item_id"):
        _unique(src, "bundle_id", ids)
        members = _split_list(src.text("item_ids", required=True), list_sep)
        return _columns({"bundle_id": ids, "item_ids": members, **fields})
    long = _columns({"bundle_id": ids, "item_id": src.text("item_id", required=True), **fields})
    first = long.drop_duplicates("bundle_id").drop(columns="item_id").set_index("bundle_id")
    members = long.groupby("bundle_id", sort=False)["item_id"].agg(list)
    return first.assign(item_ids=members).reset_index()


def _user_bundles(src: _Source, bundle_ids: set[str], ts_unit: str | None) -> pd.DataFrame:
    frame = _columns({"user_id": src.text("user_id", required=True), "bundle_id": src.text("bundle_id", required=True),
                      "ts": src.times("ts", ts_unit), "split": _splits(src)})
    bad = ~frame["bundle_id"].isin(bundle_ids).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise src.fail(i, "bundle_id", "a bundle id listed in the bundles file", frame["bundle_id"].iloc[i])
    return frame


def _locate(path: str | Path | None, files: dict[str, str | None]) -> dict[str, Path]:
    """Table → file: explicit options (relative to the folder) first, then default names in the folder."""
    base = Path(path).expanduser() if path is not None else None
    if base is not None and not base.is_dir():
        files = {**files, "events": files["events"] or str(base)}
        base = base.parent
    elif base is not None:
        require_dir(base, "events.csv and optionally items.csv, bundles.csv, user_bundles.csv")
    found: dict[str, Path] = {}
    for table, given in files.items():
        if given is not None:
            p = Path(given).expanduser()
            found[table] = require_file(p if p.is_absolute() or base is None else base / p, f"the {table} table")
        elif base is not None:
            for suffix in (".csv", ".tsv", ".parquet"):
                if (base / f"{DEFAULT_NAMES[table]}{suffix}").exists():
                    found[table] = require_file(base / f"{DEFAULT_NAMES[table]}{suffix}", f"the {table} table")
                    break
    if "events" not in found:
        raise DataError(base if base is not None else "events", "an events file (events.csv or the events option)",
                        described("none"))
    return found


def _all_items(items: pd.DataFrame | None, events: pd.DataFrame, bundles: pd.DataFrame | None) -> tuple[pd.DataFrame, int]:
    """Items of the items file plus those only events or bundles mention (created without text)."""
    known = set(items["item_id"]) if items is not None else set()
    mentioned = list(pd.unique(events["item_id"]))
    if bundles is not None:
        mentioned += [i for members in bundles["item_ids"] for i in members]
    extra = [i for i in pd.unique(pd.Series(mentioned, dtype=object)) if i not in known]
    parts = ([items] if items is not None else []) + [pd.DataFrame({"item_id": pd.Series(extra, dtype=object)})]
    return pd.concat(parts, ignore_index=True), len(extra)


def load(path: str | Path | None = None, *, events: str | None = None, items: str | None = None,
         bundles: str | None = None, user_bundles: str | None = None, mapping: dict[str, str] | None = None,
         event_kind_map: dict[str, str] | None = None, ts_unit: str | None = None, sep: str = ",",
         list_sep: str = "|", category_sep: str = ">", default_kind: str = "purchase") -> Dataset:
    """Read a shop's own tables into a :class:`Dataset` (``name="table"``).

    Args:
        path: folder with ``events.csv`` (and the optional tables) or the events file.
        events, items, bundles, user_bundles: file paths overriding the default names
            (relative ones are resolved against the folder).
        mapping: our column name (or ``"table.column"``) → their column name.
        event_kind_map: their kind values → ``view``/``click``/``cart``/``purchase``.
        ts_unit: ``"s"``/``"ms"``/``"us"``/``"ns"`` for unix times; None parses dates.
        sep: field separator of CSV files (``.tsv`` files use tab).
        list_sep: separator of ``item_ids`` in the bundles file (default ``"|"``).
        category_sep: separator of ``category_path`` in the items file (default ``">"``).
        default_kind: kind of every event when the events file has no kind column.

    Raises:
        ConfigError: a bad option (unknown mapped column, kind or time unit).
        DataError: a bad file, naming the file, the line and the column.
    """
    mapping = dict(mapping or {})
    _check_mapping(mapping)
    kind_map = dict(event_kind_map or {})
    bad_kinds = sorted({default_kind, *kind_map.values()} - set(EVENT_KINDS))
    if bad_kinds:
        raise ConfigError(f"event kinds {bad_kinds} are not ours; valid: {list(EVENT_KINDS)}")
    if ts_unit not in (None, "s", "ms", "us", "ns"):
        raise ConfigError(f"ts_unit must be None, 's', 'ms', 'us' or 'ns', got {ts_unit!r}")
    files = _locate(path, {"events": events, "items": items, "bundles": bundles, "user_bundles": user_bundles})
    src = {t: _Source(p, t, mapping, sep) for t, p in files.items()}
    ev = _events(src["events"], kind_map, ts_unit, default_kind)
    it = _items(src["items"], category_sep) if "items" in src else None
    bu = _bundles(src["bundles"], list_sep) if "bundles" in src else None
    if "user_bundles" in src and bu is None:
        raise DataError(files["user_bundles"], "a bundles file beside the user_bundles file", described("none"))
    ub = _user_bundles(src["user_bundles"], set(bu["bundle_id"]), ts_unit) if "user_bundles" in src else None
    all_items, created = _all_items(it, ev, bu)
    meta = {"source_files": {t: str(p) for t, p in files.items()}, "raw_rows": {t: len(s.frame) for t, s in src.items()},
            "items_created": created, "mapping": mapping}
    return Dataset(items=all_items, events=ev, bundles=bu, user_bundles=ub, name="table", meta=meta)
