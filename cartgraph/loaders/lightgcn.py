"""The LightGCN / NGCF benchmark format (Gowalla, Yelp2018, Amazon-Book).

A folder holds::

    train.txt       one user per line: "user item item ...", space-separated ints
    test.txt        the same layout, the official held-out items
    user_list.txt   optional: "org_id remap_id" header, then one user per line
    item_list.txt   optional: the same for items

``train.txt`` / ``test.txt`` may be gzipped (``train.txt.gz``).

How it maps onto a :class:`~cartgraph.dataset.Dataset`:

- every (user, item) pair → one event of kind ``"purchase"`` (check-ins, reviews and
  ratings alike: the format keeps only the implicit pair), with ``split`` ``"train"``
  or ``"test"`` from the file it came from. There is no time: ``ts`` is NaT.
- users are ``"0".."U-1"`` and items ``"0".."I-1"``. Without list files U and I are
  one more than the largest id seen in either file; with ``user_list.txt`` /
  ``item_list.txt`` they are the list's row counts, and an id beyond the list is a
  DataError (it joins no original id). Ids that appear nowhere still exist: the
  papers' counts include them.
- with the list files, each user's original id goes to an ``org_id`` column of
  ``users`` and each item's to ``attributes["org_id"]``.

Traps:

- A line with only a user (no items) is valid: that user has no pairs in the file.
  Blank lines are skipped, but line numbers in errors still count them.
- Lines are ragged, so the file is not a table: it is parsed with one vectorised
  integer conversion of all tokens; a token that is not a non-negative integer is a
  :class:`~cartgraph.errors.DataError` naming the file, the line and the column as
  ``token N`` (1-based; token 1 is the user).
- Amazon-Book's list files carry a third column (freebase id); only the first two
  are read.
"""
from __future__ import annotations

import gzip
import itertools
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cartgraph.dataset import Dataset
from cartgraph.errors import DataError, described
from cartgraph.loaders._io import open_text, require_dir, require_file

__all__ = ["load", "SPLIT_FILES"]

SPLIT_FILES: dict[str, str] = {"train": "train.txt", "test": "test.txt"}
"""Official split → file name (a ``.gz`` copy is accepted in its place)."""


def _find(folder: Path, name: str) -> Path:
    """``folder/name`` or, when only that exists, ``folder/name.gz``; must be non-empty."""
    plain, packed = folder / name, folder / f"{name}.gz"
    return require_file(packed if packed.exists() and not plain.exists() else plain, f"the {name} file")


def _read_text(path: Path) -> str:
    """The whole (possibly gzipped) file as text; a truncated gzip raises DataError."""
    try:
        with open_text(path) as fh:
            return fh.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(path, "a complete gzip stream", described(f"a truncated or corrupt file ({exc})")) from exc


def _to_ints(tokens: list[str], lines: np.ndarray, columns: np.ndarray, path: Path) -> np.ndarray:
    """All tokens as int64 in one conversion; the first bad one raises with its position.

    Args:
        tokens: every token of the file, in order.
        lines / columns: the 1-based line and token position of each token.
    """
    try:
        values = np.asarray(tokens, dtype=str).astype(np.int64)
        bad = values < 0
    except ValueError:
        num = pd.to_numeric(pd.Series(tokens, dtype=object), errors="coerce")
        bad = (num.isna() | (num < 0) | (num != num.round())).to_numpy()
        values = None
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(path, "a non-negative integer id", tokens[i], row=int(lines[i]),
                        column=f"token {int(columns[i])}")
    return values


@dataclass(frozen=True)
class _Parsed:
    """One ``user item item ...`` file as flat arrays (all of equal length per group).

    ``users`` / ``user_lines``: one entry per non-blank line (users without items
    included). ``pair_users`` / ``items`` / ``item_lines`` / ``item_tokens``: one
    entry per (user, item) pair, with the 1-based line and token position of the item.
    """

    users: np.ndarray
    user_lines: np.ndarray
    pair_users: np.ndarray
    items: np.ndarray
    item_lines: np.ndarray
    item_tokens: np.ndarray
    n_lines: int


def _parse(path: Path) -> _Parsed:
    """Tokenise a whole file at once and convert every token in one vectorised step."""
    rows = _read_text(path).splitlines()
    split = [row.split() for row in rows]
    counts = np.fromiter(map(len, split), dtype=np.int64, count=len(split))
    if not counts.any():
        raise DataError(path, "lines 'user item item ...'", described("no data (only blank lines)"))
    tokens = list(itertools.chain.from_iterable(split))
    lines = np.repeat(np.arange(1, len(rows) + 1), counts)
    columns = np.arange(len(tokens)) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    values = _to_ints(tokens, lines, columns, path)
    is_user = columns == 1
    owner = np.repeat(values[is_user], counts[counts > 0])
    return _Parsed(values[is_user], lines[is_user], owner[~is_user], values[~is_user], lines[~is_user],
                   columns[~is_user], len(rows))


def _check_listed(path: Path, ids: np.ndarray, lines: np.ndarray, tokens: np.ndarray, n: int, what: str) -> None:
    """Every id must have a row in the list file of ``n`` rows, else DataError at its token."""
    bad = ids >= n
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(path, f"a {what} id in 0..{n - 1} (the rows of {what}_list.txt)", int(ids[i]),
                        row=int(lines[i]), column=f"token {int(tokens[i])}")


def _read_list(path: Path) -> np.ndarray:
    """Original ids (as strings) indexed by remap id, from an ``org_id remap_id`` file."""
    rows = [row.split() for row in _read_text(path).splitlines()[1:]]
    org, remap = [], []
    for number, fields in enumerate(rows, start=2):
        if not fields:
            continue
        if len(fields) < 2 or not fields[1].isdigit():
            raise DataError(path, "'org_id remap_id' with an integer remap_id",
                            " ".join(fields) or described("an empty line"), row=number, column="remap_id")
        org.append(fields[0])
        remap.append(int(fields[1]))
    order = np.asarray(remap, dtype=np.int64)
    if not np.array_equal(np.sort(order), np.arange(len(order))):
        raise DataError(path, f"remap_id values 0..{len(order) - 1}, each once",
                        described("gaps or repeats"), column="remap_id")
    out = np.empty(len(order), dtype=object)
    out[order] = org
    return out


def _ids(n: int) -> np.ndarray:
    """``"0".."n-1"`` as an object array."""
    return np.arange(n).astype(str).astype(object)


def _optional_list(folder: Path, name: str) -> np.ndarray | None:
    """The list file's original ids, or None when the file is absent."""
    path = folder / name
    return _read_list(require_file(path, f"the {name} file")) if path.exists() else None


def _events(parsed: dict[str, tuple[Path, _Parsed]]) -> pd.DataFrame:
    """Purchase events of every split, in file order (train first)."""
    frames = [pd.DataFrame({"user_id": data.pair_users.astype(str).astype(object),
                            "item_id": data.items.astype(str).astype(object), "split": split})
              for split, (_, data) in parsed.items()]
    events = pd.concat(frames, ignore_index=True)
    events["kind"] = "purchase"
    return events


def load(path: str | Path, *, name: str | None = None) -> Dataset:
    """Read a LightGCN-format folder (Gowalla, Yelp2018, Amazon-Book).

    Args:
        path: the folder holding ``train.txt`` and ``test.txt``.
        name: the dataset's name (default: the folder's name, lower-cased).

    Returns:
        A dataset of purchase events split train/test. ``meta`` holds
        ``source_files``, ``rows`` (lines per file), ``pairs`` (per split) and
        ``data_size`` (users, items).

    Raises:
        DataError: a missing, empty or truncated file, or a bad token (naming the
            file, the line and the token position).
    """
    folder = require_dir(path, "LightGCN files (train.txt, test.txt)")
    user_org, item_org = _optional_list(folder, "user_list.txt"), _optional_list(folder, "item_list.txt")
    files = {split: _find(folder, file_name) for split, file_name in SPLIT_FILES.items()}
    parsed = {split: (file, _parse(file)) for split, file in files.items()}
    for file, data in parsed.values():
        if user_org is not None:
            _check_listed(file, data.users, data.user_lines, np.ones_like(data.users), len(user_org), "user")
        if item_org is not None:
            _check_listed(file, data.items, data.item_lines, data.item_tokens, len(item_org), "item")
    n_users = len(user_org) if user_org is not None else 1 + max(int(d.users.max()) for _, d in parsed.values())
    n_items = len(item_org) if item_org is not None else 1 + max(
        (int(d.items.max()) for _, d in parsed.values() if len(d.items)), default=-1)
    users = pd.DataFrame({"user_id": _ids(n_users)})
    items = pd.DataFrame({"item_id": _ids(n_items)})
    if user_org is not None:
        users["org_id"] = user_org
    if item_org is not None:
        items["attributes"] = [{"org_id": org} for org in item_org]
    rows = {file.name: data.n_lines for file, data in parsed.values()}
    listed = [n for n in ("user_list.txt", "item_list.txt") if (folder / n).exists()]
    meta = {"format": "lightgcn", "source_files": list(rows) + listed, "rows": rows,
            "pairs": {split: len(data.items) for split, (_, data) in parsed.items()},
            "data_size": {"users": n_users, "items": n_items}}
    return Dataset(items=items, users=users, events=_events(parsed), name=name or folder.name.lower(), meta=meta)
