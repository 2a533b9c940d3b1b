"""Arguments and helpers shared by the pipeline commands (fit, recommend, bundle, export)."""
from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_dataset_args", "add_model_dir", "load_dataset", "load_model"]


def add_dataset_args(p: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--dataset`` and ``--data-dir`` (as ``cartgraph data``)."""
    from cartgraph.loaders import LOADERS

    p.add_argument("--dataset", required=default is None, default=default, choices=sorted(LOADERS),
                   help="dataset format" + (f" (default: {default})" if default else ""))
    p.add_argument("--data-dir", dest="path", default=None,
                   help="file or folder of the dataset (default: $CARTGRAPH_DATA_DIR/<dataset>; none for 'synthetic')")


def add_model_dir(p: argparse.ArgumentParser) -> None:
    """``--model-dir``: a folder written by ``cartgraph fit`` (Recommender.save)."""
    p.add_argument("--model-dir", required=True, type=Path, help="a fitted model folder (written by 'cartgraph fit')")


def load_dataset(name: str, path):
    """The dataset ``name`` from ``path`` (or the data folder / built-in synthetic shop)."""
    from cartgraph.data_source import resolve_path
    from cartgraph.errors import ConfigError
    from cartgraph.loaders import load

    resolved = resolve_path(name, path)
    if resolved is None and name != "synthetic":
        raise ConfigError(f"--data-dir is required for {name!r} (or set CARTGRAPH_DATA_DIR)")
    return load(name, resolved)


def load_model(path: Path):
    """The :class:`~cartgraph.Recommender` saved in ``path``."""
    from cartgraph.recommender import Recommender

    return Recommender.load(path)
