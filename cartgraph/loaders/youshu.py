"""Bundle benchmarks in the BGCN / CrossCBR format: Youshu, NetEase, iFashion.

A folder holds, for a dataset prefix ``<Name>`` (``Youshu``, ``NetEase``, ``iFashion``)::

    <Name>_data_size.txt      one line "#users<TAB>#bundles<TAB>#items"
    user_item.txt             "user<TAB>item", one pair per line, no header
    bundle_item.txt           "bundle<TAB>item"
    user_bundle_train.txt     "user<TAB>bundle"  (official split, train)
    user_bundle_tune.txt      "user<TAB>bundle"  (official split, tuning = "valid")
    user_bundle_test.txt      "user<TAB>bundle"  (official split, test)

Any of the pair files may be gzipped (``user_item.txt.gz``).

How they map onto a :class:`~cartgraph.dataset.Dataset`:

- users, bundles and items are the dense ids ``0..n-1`` declared by the data-size
  file, kept as strings ("0", "1", ...); every id of that range exists, even one that
  appears in no file.
- ``user_item.txt`` → events of kind ``"purchase"`` (the files say "interacted with";
  for Youshu it is "added a book to a list"). The format has no time, baskets,
  quantities or prices: ``ts`` is NaT and ``split`` is None.
- ``bundle_item.txt`` → bundles, members in file order (the files are not sorted).
- ``user_bundle_*.txt`` → user_bundles with ``split`` train / valid / test (tune →
  valid); ``ts`` is NaT.

Traps:

- The ids are only meaningful against the data-size file: an id outside ``0..n-1``
  is a :class:`~cartgraph.errors.DataError` naming the file, line and column (``user``,
  ``bundle`` or ``item``), not a silently grown vocabulary.
- The Youshu split files hold 49,351 user-bundle lines, while papers quote 51,377
  interactions: the files are what the published numbers were computed on, so they
  are loaded as they are.
- The files have no header: line 1 is the first pair.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, DataError, described
from cartgraph.loaders._io import read_table_file, require_dir, require_file, to_int

__all__ = ["load", "SPLIT_FILES"]

SPLIT_FILES: dict[str, str] = {"train": "user_bundle_train.txt", "valid": "user_bundle_tune.txt",
                               "test": "user_bundle_test.txt"}
"""Official split → file (the ``tune`` file is our ``valid``)."""

_SIZE_SUFFIX = "_data_size.txt"


def _detect_name(folder: Path) -> str:
    """The dataset prefix, from the single ``<Name>_data_size.txt`` in ``folder``."""
    found = sorted(p.name[: -len(_SIZE_SUFFIX)] for p in folder.glob(f"*{_SIZE_SUFFIX}"))
    if len(found) != 1:
        what = "no such file" if not found else f"{len(found)} of them: {found}"
        raise DataError(folder, f"exactly one '<Name>{_SIZE_SUFFIX}' file (or pass name=...)", described(what))
    return found[0]


def _read_sizes(path: Path) -> dict[str, int]:
    """``{"users": n, "bundles": n, "items": n}`` from the data-size file."""
    frame = read_table_file(path, sep="\t", header=False, names=["users", "bundles", "items"])
    if len(frame) != 1:
        raise DataError(path, "one line '#users<TAB>#bundles<TAB>#items'", described(f"{len(frame)} lines"), row=2)
    sizes = {col: int(to_int(frame, col, path, header=False).iloc[0]) for col in frame.columns}
    for col, n in sizes.items():
        if n <= 0:
            raise DataError(path, f"a positive number of {col}", n, row=1, column=col)
    return sizes


def _pair_file(folder: Path, name: str) -> Path:
    """``folder/name``, or its gzipped copy ``name.gz`` when only that exists."""
    plain, packed = folder / name, folder / f"{name}.gz"
    return require_file(packed if packed.exists() and not plain.exists() else plain, f"the pair file {name}")


def _read_pairs(path: Path, columns: tuple[str, str], sizes: dict[str, int]) -> pd.DataFrame:
    """Two integer columns, each checked against its declared range ``0..n-1``.

    Returns a frame of int64 columns named ``columns`` (e.g. ``("user", "bundle")``).
    """
    frame = read_table_file(path, sep="\t", header=False, names=list(columns))
    out = {}
    for col in columns:
        ids = to_int(frame, col, path, header=False).to_numpy()
        n = sizes[f"{col}s"]
        bad = (ids < 0) | (ids >= n)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(path, f"a {col} id in 0..{n - 1} (declared by the data-size file)", int(ids[i]),
                            row=i + 1, column=col)
        out[col] = ids
    return pd.DataFrame(out)


def _ids(values: np.ndarray) -> np.ndarray:
    """Integer ids as the external string ids of the dataset."""
    return np.asarray(values).astype(str).astype(object)


def _bundles(pairs: pd.DataFrame, n_bundles: int, path: Path) -> pd.DataFrame:
    """One row per bundle ``0..n-1`` with its items in file order; every bundle needs one."""
    members = pairs.groupby("bundle", sort=True)["item"].agg(list)
    missing = np.setdiff1d(np.arange(n_bundles), members.index.to_numpy())
    if len(missing):
        raise DataError(path, f"at least one item for every bundle 0..{n_bundles - 1}",
                        described(f"none for bundle {int(missing[0])} ({len(missing)} bundles without items)"),
                        column="bundle")
    return pd.DataFrame({"bundle_id": _ids(members.index.to_numpy()),
                         "item_ids": [[str(i) for i in items] for items in members]})


def _user_bundles(folder: Path, sizes: dict[str, int]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The three official split files stacked, with their ``split``; plus lines per file."""
    parts, counts = [], {}
    for split, name in SPLIT_FILES.items():
        path = _pair_file(folder, name)
        pairs = _read_pairs(path, ("user", "bundle"), sizes)
        counts[path.name] = len(pairs)
        parts.append(pd.DataFrame({"user_id": _ids(pairs["user"]), "bundle_id": _ids(pairs["bundle"]),
                                   "split": split}))
    return pd.concat(parts, ignore_index=True), counts


def load(path: str | Path, *, name: str | None = None) -> Dataset:
    """Read a BGCN/CrossCBR-format folder (Youshu, NetEase, iFashion).

    Args:
        path: the folder holding ``<Name>_data_size.txt`` and the pair files.
        name: the file prefix (``"Youshu"``); autodetected from the single
            ``*_data_size.txt`` when omitted.

    Returns:
        A dataset named ``name.lower()`` with users/items/bundles ``"0".."n-1"``,
        purchase events, bundles and split user-bundle choices. ``meta`` holds
        ``data_size``, ``source_files`` and ``rows`` (lines per file).

    Raises:
        DataError: a missing, empty, truncated or malformed file, or an id outside
            the declared range (naming the file, line and column).
    """
    folder = require_dir(path, "BGCN/CrossCBR files (<Name>_data_size.txt, user_item.txt, ...)")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"name must be a file prefix such as 'Youshu', got {name!r}")
    prefix = name if name is not None else _detect_name(folder)
    sizes = _read_sizes(require_file(folder / f"{prefix}{_SIZE_SUFFIX}", "the data-size file"))
    ui_path, bi_path = _pair_file(folder, "user_item.txt"), _pair_file(folder, "bundle_item.txt")
    ui = _read_pairs(ui_path, ("user", "item"), sizes)
    bi = _read_pairs(bi_path, ("bundle", "item"), sizes)
    user_bundles, ub_counts = _user_bundles(folder, sizes)
    events = pd.DataFrame({"user_id": _ids(ui["user"]), "item_id": _ids(ui["item"]), "kind": "purchase"})
    rows = {ui_path.name: len(ui), bi_path.name: len(bi), **ub_counts}
    meta = {"format": "bgcn", "prefix": prefix, "data_size": sizes, "rows": rows,
            "source_files": [f"{prefix}{_SIZE_SUFFIX}", *rows]}
    return Dataset(items=pd.DataFrame({"item_id": _ids(np.arange(sizes["items"]))}),
                   users=pd.DataFrame({"user_id": _ids(np.arange(sizes["users"]))}),
                   events=events, bundles=_bundles(bi, sizes["bundles"], bi_path),
                   user_bundles=user_bundles, name=prefix.lower(), meta=meta)
