"""BundleRec Amazon (Sun et al., SIGIR'22): one domain folder (electronic, clothing, food).

Files (comma-separated with a header, *not* tab-separated as the release's README
says; ids are integers; headers contain spaces)::

    user_item.csv         user ID,item ID,timestamp      (unix seconds, day precision)
    user_session.csv      user ID,session ID,timestamp
    session_item.csv      session ID,item ID
    session_bundle.csv    session ID,bundle ID
    bundle_item.csv       bundle ID,item ID              (members in file order)
    bundle_intent.csv     bundle ID,intent               (crowd-sourced intent text)
    user_bundle.csv       user ID,bundle ID,timestamp
    item_titles.csv       item ID,titles
    item_categories.csv   item ID,categories             ("[[A,B,C],[A,D]]")
    item_idx_mapping.csv  item ID,source ID              (optional: Amazon ASINs)
    user_idx_mapping.csv  user ID,source ID              (optional: Amazon reviewer ids)

How it maps onto a :class:`~cartgraph.dataset.Dataset` (named ``bundlerec-<folder>``):

- items: every id found in item_titles, item_categories, bundle_item, user_item or
  session_item (session_item alone adds items that are in no bundle: they have no
  title or category). ``title`` from item_titles; ``category_path`` as below, all
  paths in ``attributes["category_paths"]``; the ASIN in ``attributes["asin"]``.
- users: those of user_idx_mapping (with an extra ``source_id`` column) plus anyone
  seen in events or user_bundles.
- events (kind ``"purchase"``: the sessions are purchase sessions built from Amazon
  review histories): by default one per distinct (user, item) of ``user_item.csv``
  with its ``ts``, and ``basket_id`` = the session of that user that holds the item
  (found through user_session ⋈ session_item; the session whose timestamp equals the
  row's wins). With ``session_items=True`` every ``session_item.csv`` row becomes an
  event too (user and ts from user_session; sessions without a user give anonymous
  basket events), so baskets hold the items bought with the bundles.
- bundles: members from bundle_item in file order; ``name`` = ``intent`` = the intent
  text; extra column ``session_id`` (the session the bundle was annotated in, from
  session_bundle). user_bundles from user_bundle with ``ts``; no official split.

Traps:

- Category names contain commas ("Batteries, Chargers & Accessories", "Clothing,
  Shoes & Jewelry", "Coffee, Tea & Cocoa"), so splitting a path on "," is wrong. The
  rule used: names in a path are joined by a comma *not followed by a space*, while a
  comma inside a name is always followed by one. On the shared electronic and clothing
  files this yields 509 and 811 distinct names, none empty or with outer spaces.
  Paths are separated by "],[".
- An item may have several paths (clothing: 62% of items): ``category_path`` is the
  longest (most specific) one, the first of equally long ones; e.g.
  ``[Clothing, Shoes & Jewelry, Jewelry Outlet]`` loses to a 7-level Women > Jewelry path.
- ``user_item.csv`` is exactly user_bundle ⋈ bundle_item, so an item in two of a
  user's bundles is repeated (1,704 of 6,165 electronic rows): the repeats are dropped
  (``meta["user_item_repeats_dropped"]``); the README's "#U-I interactions" counts rows.
- Some user_session users are in no other file (electronic: 245 users, ids 1378+, in
  252 sessions without bundles) and some sessions have no user (clothing: 213): they
  only matter with ``session_items=True``.
- item_idx_mapping maps a much larger item space (178,757 rows for 4,943 used
  items): only used items get an ASIN.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cartgraph.dataset import Dataset
from cartgraph.errors import DataError
from cartgraph.loaders._io import line_of, read_table_file, require_dir, require_file, to_int, to_str

__all__ = ["load", "parse_categories", "FILES"]

FILES: dict[str, tuple[str, ...]] = {
    "user_item.csv": ("user ID", "item ID", "timestamp"),
    "user_session.csv": ("user ID", "session ID", "timestamp"),
    "session_item.csv": ("session ID", "item ID"),
    "session_bundle.csv": ("session ID", "bundle ID"),
    "bundle_item.csv": ("bundle ID", "item ID"),
    "bundle_intent.csv": ("bundle ID", "intent"),
    "user_bundle.csv": ("user ID", "bundle ID", "timestamp"),
    "item_titles.csv": ("item ID", "titles"),
    "item_categories.csv": ("item ID", "categories"),
}
"""Required file → the columns read from it."""

OPTIONAL_FILES: dict[str, tuple[str, ...]] = {
    "item_idx_mapping.csv": ("item ID", "source ID"),
    "user_idx_mapping.csv": ("user ID", "source ID"),
}

_NAME_SEPARATOR = re.compile(r",(?! )")


def parse_categories(text: str) -> list[list[str]] | None:
    """``"[[A,B, C & D,E],[A,F]]"`` → ``[["A", "B, C & D", "E"], ["A", "F"]]``; None if malformed.

    A comma followed by a space belongs to a name; any other comma separates names.
    ``"[[]]"`` or ``"[]"`` is no path at all.
    """
    text = text.strip()
    if text in ("[]", "[[]]"):
        return []
    if not (text.startswith("[[") and text.endswith("]]")):
        return None
    paths = [[name.strip() for name in _NAME_SEPARATOR.split(path)] for path in text[2:-2].split("],[")]
    return None if any(not name for path in paths for name in path) else paths


def _read(folder: Path, name: str, columns: tuple[str, ...]) -> tuple[Path, pd.DataFrame]:
    """One CSV of the folder (``.gz`` accepted), checked to have ``columns``."""
    plain, packed = folder / name, folder / f"{name}.gz"
    path = require_file(packed if packed.exists() and not plain.exists() else plain, f"the BundleRec file {name}")
    return path, read_table_file(path, usecols=list(columns))


def _ids(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """An integer id column as string ids ("12"); a non-integer raises with its line."""
    return to_int(frame, column, path).astype(str).astype(object)


def _seconds(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """Unix seconds as datetime64[ns]; a non-integer raises with its line."""
    return pd.to_datetime(to_int(frame, column, path), unit="s").astype("datetime64[ns]")


def _must_join(values: pd.Series, known: set, path: Path, column: str, expected: str) -> None:
    """Every value must be in ``known``; else DataError at the first stray one's line."""
    bad = ~values.isin(known).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(path, expected, values.iloc[i], row=i + 2, column=column)  # the header is line 1


def _unique(values: pd.Series, path: Path, column: str) -> None:
    """Ids that must appear once per file (titles, categories, intents, mappings)."""
    dup = values.duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise DataError(path, f"each {column} once", values.iloc[i], row=i + 2, column=column)


@dataclass(frozen=True)
class _Files:
    """The folder's tables, id-typed (``files[name]``), and the path each came from."""

    paths: dict[str, Path]
    frames: dict[str, pd.DataFrame]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]


def _typed(raw: pd.DataFrame, columns: tuple[str, ...], path: Path) -> pd.DataFrame:
    """``* ID`` columns as string ids, ``timestamp`` as datetime, the rest as read."""
    out = {}
    for col in columns:
        if col == "timestamp":
            out[col] = _seconds(raw, col, path)
        elif col.endswith(" ID") and col != "source ID":
            out[col] = _ids(raw, col, path)
        else:
            out[col] = raw[col]
    return pd.DataFrame(out)


def _read_all(folder: Path) -> _Files:
    """Every required file and each optional one that is present."""
    paths, frames = {}, {}
    for name, columns in {**FILES, **OPTIONAL_FILES}.items():
        if name in OPTIONAL_FILES and not any((folder / n).exists() for n in (name, f"{name}.gz")):
            continue
        path, raw = _read(folder, name, columns)
        paths[name], frames[name] = path, _typed(raw, columns, path)
    return _Files(paths, frames)


def _category_paths(files: _Files) -> dict[str, list[list[str]]]:
    """Item id → its category paths, from item_categories.csv."""
    frame, path = files["item_categories.csv"], files.paths["item_categories.csv"]
    _unique(frame["item ID"], path, "item ID")
    out = {}
    for i, (item, text) in enumerate(zip(frame["item ID"], frame["categories"])):
        paths = parse_categories(text) if isinstance(text, str) else None
        if paths is None:
            raise DataError(path, "a list of category paths like '[[Electronics,Camera & Photo]]'", text,
                            row=line_of(frame, i), column="categories")
        out[item] = paths
    return out


def _items(files: _Files) -> pd.DataFrame:
    """The union of every item id, with title, category path(s) and ASIN."""
    titles = files["item_titles.csv"]
    _unique(titles["item ID"], files.paths["item_titles.csv"], "item ID")
    title_of = dict(zip(titles["item ID"], to_str(titles, "titles", files.paths["item_titles.csv"], allow_missing=True)))
    paths_of = _category_paths(files)
    asin_of = {}
    if "item_idx_mapping.csv" in files.frames:
        mapping = files["item_idx_mapping.csv"]
        _unique(mapping["item ID"], files.paths["item_idx_mapping.csv"], "item ID")
        asin_of = dict(zip(mapping["item ID"], mapping["source ID"]))
    sources = ("item_titles.csv", "item_categories.csv", "bundle_item.csv", "user_item.csv", "session_item.csv")
    ids = sorted(set().union(*(files[n]["item ID"] for n in sources)), key=int)
    rows = []
    for item in ids:
        paths = paths_of.get(item, [])
        attrs = {"category_paths": paths} if paths else {}
        if isinstance(asin_of.get(item), str):
            attrs["asin"] = asin_of[item]
        rows.append({"item_id": item, "title": title_of.get(item), "attributes": attrs,
                     "category_path": max(paths, key=len) if paths else []})
    return pd.DataFrame(rows)


def _sessions(files: _Files) -> pd.DataFrame:
    """Every session item with its owner and time: ``session ID, item ID, user ID, timestamp``.

    Sessions without a user_session row get user None and ts NaT.
    """
    owners = files["user_session.csv"]
    path = files.paths["user_session.csv"]
    _unique(owners["session ID"], path, "session ID")
    _must_join(owners["session ID"], set(files["session_item.csv"]["session ID"]), path, "session ID",
               "a session ID listed in session_item.csv")
    return files["session_item.csv"].merge(owners, on="session ID", how="left")


def _user_item_baskets(files: _Files, sessions: pd.DataFrame) -> pd.DataFrame:
    """user_item rows as events, each with the session of that user holding the item.

    When several of the user's sessions hold the item, the one whose timestamp equals
    the row's wins, then the lowest session id; a row with no such session keeps
    basket None.
    """
    owned = sessions.dropna(subset=["user ID"]).rename(columns={"timestamp": "session_ts"})
    joined = files["user_item.csv"].reset_index().merge(owned, on=["user ID", "item ID"], how="left")
    joined["inexact"] = joined["timestamp"] != joined["session_ts"]
    joined["session"] = pd.to_numeric(joined["session ID"])
    joined = joined.sort_values(["index", "inexact", "session"]).drop_duplicates("index")
    return pd.DataFrame({"user_id": joined["user ID"].to_numpy(), "item_id": joined["item ID"].to_numpy(),
                         "ts": joined["timestamp"].to_numpy(), "basket_id": joined["session ID"].to_numpy()})


def _events(files: _Files, sessions: pd.DataFrame, session_items: bool) -> tuple[pd.DataFrame, int]:
    """Purchase events (see module docstring) and the number of repeated user_item rows dropped."""
    key = ["user_id", "item_id", "basket_id"]
    rows = _user_item_baskets(files, sessions)
    events = rows.drop_duplicates(key)
    repeats = len(rows) - len(events)
    if session_items:
        extra = pd.DataFrame({"user_id": sessions["user ID"].to_numpy(), "item_id": sessions["item ID"].to_numpy(),
                              "ts": sessions["timestamp"].to_numpy(), "basket_id": sessions["session ID"].to_numpy()})
        events = pd.concat([events, extra], ignore_index=True).drop_duplicates(key)
    return events.assign(kind="purchase").reset_index(drop=True), repeats


def _bundles(files: _Files) -> pd.DataFrame:
    """Bundles with ordered members, intent and session; stray ids raise with their line."""
    members = files["bundle_item.csv"]
    known = set(members["bundle ID"])
    intents, links = files["bundle_intent.csv"], files["session_bundle.csv"]
    for name, frame in (("bundle_intent.csv", intents), ("session_bundle.csv", links)):
        _must_join(frame["bundle ID"], known, files.paths[name], "bundle ID", "a bundle ID listed in bundle_item.csv")
        _unique(frame["bundle ID"], files.paths[name], "bundle ID")
    sessions = set(files["session_item.csv"]["session ID"])
    _must_join(links["session ID"], sessions, files.paths["session_bundle.csv"], "session ID",
               "a session ID listed in session_item.csv")
    items = members.groupby("bundle ID", sort=False)["item ID"].agg(list)
    ids = sorted(items.index, key=int)
    intent_of = dict(zip(intents["bundle ID"], to_str(intents, "intent", files.paths["bundle_intent.csv"],
                                                      allow_missing=True)))
    session_of = dict(zip(links["bundle ID"], links["session ID"]))
    return pd.DataFrame({"bundle_id": ids, "item_ids": [items[b] for b in ids],
                         "name": [intent_of.get(b) for b in ids], "intent": [intent_of.get(b) for b in ids],
                         "session_id": [session_of.get(b) for b in ids]})


def _user_bundles(files: _Files, bundles: pd.DataFrame) -> pd.DataFrame:
    """User → bundle choices with their time; a bundle absent from bundle_item raises."""
    frame, path = files["user_bundle.csv"], files.paths["user_bundle.csv"]
    _must_join(frame["bundle ID"], set(bundles["bundle_id"]), path, "bundle ID", "a bundle ID listed in bundle_item.csv")
    return pd.DataFrame({"user_id": frame["user ID"], "bundle_id": frame["bundle ID"], "ts": frame["timestamp"]})


def _users(files: _Files) -> pd.DataFrame | None:
    """Users of user_idx_mapping with their Amazon id in ``source_id`` (None without the file)."""
    if "user_idx_mapping.csv" not in files.frames:
        return None
    mapping = files["user_idx_mapping.csv"]
    _unique(mapping["user ID"], files.paths["user_idx_mapping.csv"], "user ID")
    return pd.DataFrame({"user_id": mapping["user ID"], "source_id": mapping["source ID"]})


def load(path: str | Path, *, session_items: bool = False) -> Dataset:
    """Read one BundleRec domain folder (``bundlerec-amazon/electronic``).

    Args:
        path: the domain folder.
        session_items: also turn every session_item row into a purchase event
            (default False: events are the distinct user_item rows only).

    Returns:
        A dataset named ``bundlerec-<folder name>``. ``meta`` holds ``domain``,
        ``source_files``, ``rows`` (data rows per file), ``sessions``, ``intents``
        (distinct texts), ``items_with_title`` and ``user_item_repeats_dropped``.

    Raises:
        DataError: a missing, empty or truncated file, a missing column, a non-integer
            id or timestamp, a malformed category list, a repeated id, or an id that
            joins nothing (a bundle, session) — naming the file, line and column.
    """
    folder = require_dir(path, "BundleRec files (user_item.csv, bundle_item.csv, ...)")
    files = _read_all(folder)
    items, bundles = _items(files), _bundles(files)
    sessions = _sessions(files)
    events, repeats = _events(files, sessions, bool(session_items))
    meta = {"format": "bundlerec-amazon", "domain": folder.name,
            "source_files": [p.name for p in files.paths.values()],
            "rows": {p.name: len(files[n]) for n, p in files.paths.items()},
            "sessions": int(sessions["session ID"].nunique()),
            "intents": int(files["bundle_intent.csv"]["intent"].nunique()),
            "items_with_title": int(items["title"].notna().sum()),
            "user_item_repeats_dropped": repeats, "session_items": bool(session_items)}
    return Dataset(items=items, users=_users(files), events=events, bundles=bundles,
                   user_bundles=_user_bundles(files, bundles), name=f"bundlerec-{folder.name}", meta=meta)
