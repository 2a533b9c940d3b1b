"""One file per fitted model: a tagged, versioned dict written atomically with ``torch.save``."""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch

from cartgraph.atomic import atomic_file
from cartgraph.errors import ConfigError

__all__ = ["save_state", "load_state", "construct"]


def save_state(path: str | Path, fmt: str, version: int, state: dict[str, Any]) -> None:
    """Write ``state`` tagged with its format name and version; readers never see half a file."""
    with atomic_file(path) as fh:
        torch.save({"format": fmt, "version": version, **state}, fh)


def load_state(path: str | Path, fmt: str, version: int) -> dict[str, Any]:
    """Read a file written by :func:`save_state`; a clear error for another format or version."""
    state = torch.load(path, weights_only=False)
    if not isinstance(state, dict) or state.get("format") != fmt or state.get("version") != version:
        found = (state.get("format"), state.get("version")) if isinstance(state, dict) else (type(state).__name__, None)
        raise ConfigError(f"{path}: expected a {fmt} version {version} file, found {found[0]} version {found[1]}")
    return state


def construct(cls: type, settings: dict[str, Any]) -> Any:
    """A model rebuilt from saved ``settings``: its keys are constructor arguments, and
    ``settings["config"]`` (a saved ``TrainConfig``) contributes those the constructor takes."""
    s = dict(settings)
    cfg = s.pop("config", {}) or {}
    accepted = inspect.signature(cls).parameters
    return cls(**s, **{k: v for k, v in cfg.items() if k in accepted})
