"""Saving and loading a :class:`~cartgraph.dataset.Dataset` as a folder of Parquet files."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from cartgraph.atomic import atomic_dir
from cartgraph.errors import DataError, described
from cartgraph.schema import TABLES

__all__ = ["save_dataset", "load_dataset", "FORMAT_VERSION"]

FORMAT_VERSION = 1
"""Bumped whenever the folder layout changes incompatibly."""


def _to_parquet_frame(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    if table == "items":
        out["attributes"] = out["attributes"].map(lambda d: json.dumps(d, sort_keys=True, default=str))
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(object)
    return out


def save_dataset(dataset, path: str | Path) -> None:
    """Write ``dataset`` to folder ``path``; the folder is replaced atomically."""
    with atomic_dir(path) as tmp:
        for table in TABLES:
            _to_parquet_frame(table, getattr(dataset, table)).to_parquet(tmp / f"{table}.parquet", index=False)
        meta = {"format": "cartgraph-dataset", "version": FORMAT_VERSION, "name": dataset.name, "meta": dataset.meta}
        (tmp / "dataset.json").write_text(json.dumps(meta, indent=2, default=str))


def load_dataset(path: str | Path):
    """Read a folder written by :func:`save_dataset`."""
    from cartgraph.dataset import Dataset

    folder = Path(path)
    header = folder / "dataset.json"
    if not header.exists():
        raise DataError(folder, "a dataset folder written by Dataset.save (with dataset.json)", described("no dataset.json"))
    info = json.loads(header.read_text())
    if info.get("format") != "cartgraph-dataset" or info.get("version") != FORMAT_VERSION:
        raise DataError(header, f"cartgraph-dataset format version {FORMAT_VERSION}",
                        f"{info.get('format')} version {info.get('version')}")
    tables = {t: pd.read_parquet(folder / f"{t}.parquet") for t in TABLES}
    items = tables["items"]
    items["attributes"] = items["attributes"].map(json.loads)
    for table, col in (("items", "category_path"), ("bundles", "item_ids")):
        tables[table][col] = tables[table][col].map(lambda v: [str(x) for x in v] if v is not None else [])
    return Dataset(**tables, name=info["name"], meta=info.get("meta", {}))
