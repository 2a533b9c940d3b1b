"""Real dataset formats in, one validated :class:`~cartgraph.dataset.Dataset` out.

Use :func:`load`::

    from cartgraph.loaders import load
    ds = load("online-retail", "data/online-retail")

Each loader is also importable directly (``cartgraph.loaders.online_retail.load``)
and documents the format's traps it handles.
"""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError

__all__ = ["load", "LOADERS"]

LOADERS: dict[str, str] = {
    "online-retail": "cartgraph.loaders.online_retail",
    "instacart": "cartgraph.loaders.instacart",
    "bundlerec-amazon": "cartgraph.loaders.bundlerec",
    "youshu": "cartgraph.loaders.youshu",
    "steam-bundles": "cartgraph.loaders.steam",
    "lightgcn": "cartgraph.loaders.lightgcn",
    "amazon2018": "cartgraph.loaders.amazon2018",
    "movielens": "cartgraph.loaders.movielens",
    "table": "cartgraph.loaders.table",
    "synthetic": "cartgraph.loaders.synthetic",
}
"""Dataset format name → module whose ``load(path, **options)`` reads it."""


def load(name: str, path: str | Path | None = None, *, pseudonymize_key: str | bytes | None = None,
         **options: Any) -> Dataset:
    """Load dataset format ``name`` from ``path`` and validate it.

    Args:
        name: one of :data:`LOADERS` (``"online-retail"``, ``"instacart"``, ...).
        path: the file or folder (``synthetic`` needs none).
        pseudonymize_key: if given, user ids are replaced by keyed HMAC-SHA256
            pseudonyms at load time (see :func:`cartgraph.privacy.pseudonymize`).
        **options: format-specific options, documented on each loader.

    Raises:
        ConfigError: unknown format name or option.
        DataError: a bad file, naming the file, row and column.
    """
    if name not in LOADERS:
        raise ConfigError(f"unknown dataset format {name!r}; choose one of {sorted(LOADERS)}")
    module = importlib.import_module(LOADERS[name])
    valid = [p for p in inspect.signature(module.load).parameters if p != "path"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(f"dataset format {name!r} got unknown options {unknown}; valid options: {valid}")
    if path is None and name != "synthetic":
        raise ConfigError(f"dataset format {name!r} needs a path (a file or folder)")
    dataset = module.load(path, **options) if name != "synthetic" else module.load(**options)
    if pseudonymize_key is not None:
        from cartgraph.privacy import pseudonymize

        dataset = pseudonymize(dataset, pseudonymize_key)
    return dataset.validate()
