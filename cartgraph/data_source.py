"""Finding dataset files: an explicit path, or ``$CARTGRAPH_DATA_DIR/<folder>``."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_DIR_ENV", "DEFAULT_FOLDERS", "data_dir", "resolve_path"]

DATA_DIR_ENV = "CARTGRAPH_DATA_DIR"

DEFAULT_FOLDERS: dict[str, str] = {
    "online-retail": "online-retail",
    "instacart": "instacart",
    "bundlerec-amazon": "bundlerec-amazon/electronic",
    "youshu": "youshu",
    "steam-bundles": "steam-bundles",
    "lightgcn": "gowalla",
    "amazon2018": "amazon2018-magazine",
    "movielens": "movielens/ml-latest-small",
}
"""Where each format lives inside the shared data folder."""


def data_dir() -> Path | None:
    """The folder named by ``$CARTGRAPH_DATA_DIR``, or None."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def resolve_path(name: str, path: str | os.PathLike | None) -> Path | None:
    """``path`` as given; else the dataset's folder under ``$CARTGRAPH_DATA_DIR``; else the
    data folder itself when ``path`` is a data root holding the dataset's folder."""
    if name == "synthetic":
        return None if path is None else Path(path)
    if path is not None:
        p = Path(path).expanduser()
        sub = DEFAULT_FOLDERS.get(name)
        if sub and p.is_dir() and (p / sub).is_dir() and not any(p.glob("*.csv")) and not any(p.glob("*.parquet")) and not any(p.glob("*.txt")):
            return p / sub
        return p
    root = data_dir()
    if root is not None and name in DEFAULT_FOLDERS:
        return root / DEFAULT_FOLDERS[name]
    return None
