"""Fitted models kept on disk between runs, keyed by data files, settings and versions.

The demo fits once and then loads the saved folder (``$CARTGRAPH_CACHE_DIR/models`` or
``~/.cache/cartgraph/models``). The key covers the dataset name and options, the data
files' sizes and modification times, the whole config, the cartgraph version and the
model folder's format version, so any change refits.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["cache_key", "cached_fit"]


def _file_facts(path: Path | None) -> list[Any]:
    if path is None:
        return []
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [[str(f), f.stat().st_size, int(f.stat().st_mtime)] for f in files]


def cache_key(dataset: str, path: Path | None, options: dict[str, Any], config) -> str:
    """A hex digest naming one (data, settings, versions) combination."""
    from cartgraph import __version__
    from cartgraph.recommender_io import FORMAT_VERSION

    facts = {"dataset": dataset, "files": _file_facts(path), "options": options, "config": config.to_dict(),
             "cartgraph": __version__, "format": FORMAT_VERSION}
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def cached_fit(dataset, name: str, path: Path | None, options: dict[str, Any], config, *,
               refit: bool = False, progress: bool = True):
    """``(recommender, cached)``: the saved model for this key, else a fresh fit (then saved)."""
    from cartgraph.errors import ConfigError
    from cartgraph.recommender import Recommender
    from cartgraph.text.cache import default_cache_dir

    folder = default_cache_dir() / "models" / f"{name}-{cache_key(name, path, options, config)}"
    if folder.is_dir() and not refit:
        try:
            return Recommender.load(folder), True
        except (ConfigError, OSError, KeyError, ValueError):
            pass  # an unreadable cache entry is refitted and replaced
    rec = Recommender(config).fit(dataset, progress=progress)
    rec.save(folder)
    return rec, False
