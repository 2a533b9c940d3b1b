"""One folder per fitted :class:`~cartgraph.Recommender`, versioned and written atomically.

Layout (format ``cartgraph-recommender``, version :data:`FORMAT_VERSION`)::

    recommender.json     format, version, config, stage report, dataset name, files
    items.parquet        item_id, title, category, price (row i = item index i)
    users.parquet        user_id (row u = user index u)
    seen.npz             binary user × item CSR the model masks and explains with
    item_vectors.npy     (n_items, dim) float32 text vectors (when the text stage ran)
    model.pt | model.npz the recommender model's weights (its own format, or settings + NumPy arrays)
    graph/               the knowledge graph: one Parquet table per node label and relationship type
    complements.pt       the complement model (its own file format; when the stage ran)
    bundles/             the bundle policy (when its stage ran)

Version history: 1 — first layout (no complement model); 2 — ``complements.pt``
(the learned complement model) and ``hetero`` model weights in ``model.pt``.

A reader sees the old folder or the new one, never a mix (:func:`cartgraph.atomic.atomic_dir`).
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cartgraph.atomic import atomic_dir
from cartgraph.config import RecommenderConfig
from cartgraph.errors import ConfigError

__all__ = ["FORMAT", "FORMAT_VERSION", "save_recommender", "load_recommender", "read_manifest"]

FORMAT = "cartgraph-recommender"
FORMAT_VERSION = 2


def save_recommender(rec, path: Path) -> None:
    """Write every learned part of ``rec`` to folder ``path``."""
    from cartgraph import __version__

    with atomic_dir(path) as tmp:
        rec.items_.to_parquet(tmp / "items.parquet", index=False)
        pd.DataFrame({"user_id": rec.user_vocab_.ids}).to_parquet(tmp / "users.parquet", index=False)
        sp.save_npz(tmp / "seen.npz", rec.seen_.tocsr(), compressed=False)
        if rec.item_vectors_ is not None:
            np.save(tmp / "item_vectors.npy", rec.item_vectors_)
        model = _save_model(rec.model_, tmp) if rec.model_ is not None else None
        if rec.graph_ is not None:
            _save_graph(rec.graph_, tmp / "graph")
        parts = _save_parts(rec, tmp)
        manifest = {"format": FORMAT, "version": FORMAT_VERSION, "cartgraph": __version__,
                    "config": rec.config.to_dict(), "stages": rec.stages_, "dataset": rec.dataset_name_,
                    "model": model, "parts": parts}
        (tmp / "recommender.json").write_text(json.dumps(manifest, indent=2, default=str))


def read_manifest(path: Path) -> dict[str, Any]:
    """The folder's ``recommender.json``, checked for format and version."""
    file = Path(path) / "recommender.json"
    if not file.is_file():
        raise ConfigError(f"{path}: not a cartgraph model folder (expected {file.name}, written by Recommender.save)")
    manifest = json.loads(file.read_text())
    if manifest.get("format") != FORMAT:
        raise ConfigError(f"{file}: expected format {FORMAT!r}, found {manifest.get('format')!r}")
    if manifest.get("version") != FORMAT_VERSION:
        raise ConfigError(f"{path}: model folder format version {manifest.get('version')!r} (written by cartgraph "
                          f"{manifest.get('cartgraph', '?')}); this cartgraph reads version {FORMAT_VERSION}: "
                          f"fit the model again with this version ('cartgraph fit') and save it")
    return manifest


def load_recommender(cls, path: Path):
    """A :class:`~cartgraph.Recommender` read from ``path`` (see :func:`save_recommender`)."""
    from cartgraph.recommender import load_vocab

    manifest = read_manifest(path)
    rec = cls(RecommenderConfig.from_dict(manifest["config"]))
    rec.items_ = pd.read_parquet(path / "items.parquet")
    rec.item_vocab_ = load_vocab(rec.items_["item_id"].to_numpy(object), "item")
    rec.user_vocab_ = load_vocab(pd.read_parquet(path / "users.parquet")["user_id"].to_numpy(object), "user")
    rec.seen_ = sp.load_npz(path / "seen.npz").tocsr()
    vectors = path / "item_vectors.npy"
    rec.item_vectors_ = np.load(vectors) if vectors.exists() else None
    rec.model_ = _load_model(manifest["model"], path) if manifest.get("model") else None
    rec.graph_ = _load_graph(path / "graph") if (path / "graph").is_dir() else None
    rec.stages_, rec.dataset_name_, rec._csc, rec._co_counts = manifest["stages"], manifest["dataset"], None, None
    rec.complements_ = rec.bundler_ = None
    _load_parts(rec, path, manifest.get("parts", {}))
    return rec


# ---------------------------------------------------------------------- model weights
def _class_name(obj: Any) -> str:
    return f"{type(obj).__module__}:{type(obj).__qualname__}"


def _resolve_class(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith("cartgraph."):
        raise ConfigError(f"model class {name!r}: only cartgraph models can be loaded")
    return getattr(importlib.import_module(module), qualname)


def _save_model(model: Any, folder: Path) -> dict[str, Any]:
    """The model's own ``save`` when it has one, else its settings + learned (``*_``) attributes
    as a NumPy archive (no pickle, no torch import: loading stays fast)."""
    if hasattr(type(model), "load") and hasattr(model, "save"):
        model.save(folder / "model.pt")
        return {"class": _class_name(model), "own_format": True, "file": "model.pt"}
    attrs = vars(model)
    params = {k: v for k, v in attrs.items() if not k.endswith("_") and not k.startswith("_")}
    arrays, scalars = {}, {}
    for key, value in ((k, v) for k, v in attrs.items() if k.endswith("_")):
        if sp.issparse(value):
            csr = value.tocsr()
            arrays.update({f"{key}.data": csr.data, f"{key}.indices": csr.indices, f"{key}.indptr": csr.indptr,
                           f"{key}.shape": np.asarray(csr.shape)})
        elif isinstance(value, np.ndarray):
            arrays[key] = value
        else:
            scalars[key] = value
    with open(folder / "model.npz", "wb") as fh:
        np.savez(fh, **arrays)
    return {"class": _class_name(model), "own_format": False, "file": "model.npz", "params": params,
            "scalars": scalars}


def _load_model(info: dict[str, Any], folder: Path) -> Any:
    cls, file = _resolve_class(info["class"]), folder / info["file"]
    if info["own_format"]:
        return cls.load(file)
    model = cls(**info["params"])
    for key, value in info["scalars"].items():
        setattr(model, key, value)
    with np.load(file, allow_pickle=False) as archive:
        for key in {k.split(".")[0] for k in archive.files}:
            if f"{key}.indptr" in archive.files:
                parts = [archive[f"{key}.{p}"] for p in ("data", "indices", "indptr")]
                setattr(model, key, sp.csr_matrix(tuple(parts), shape=tuple(archive[f"{key}.shape"])))
            else:
                setattr(model, key, archive[key])
    return model


# ---------------------------------------------------------------------- graph
def _save_graph(graph, folder: Path) -> None:
    folder.mkdir()
    for label, frame in graph.nodes.items():
        frame.to_parquet(folder / f"nodes_{label}.parquet", index=False)
    for rel_type, frame in graph.edges.items():
        frame.to_parquet(folder / f"edges_{rel_type}.parquet", index=False)
    if graph.item_vectors is not None:
        np.save(folder / "item_vectors.npy", graph.item_vectors)


def _load_graph(folder: Path):
    from cartgraph.graph import KnowledgeGraph

    nodes = {f.stem[len("nodes_"):]: pd.read_parquet(f) for f in sorted(folder.glob("nodes_*.parquet"))}
    edges = {f.stem[len("edges_"):]: pd.read_parquet(f) for f in sorted(folder.glob("edges_*.parquet"))}
    vectors = folder / "item_vectors.npy"
    return KnowledgeGraph(nodes, edges, np.load(vectors) if vectors.exists() else None)


# ---------------------------------------------------------------------- complements, bundles
def _save_parts(rec, folder: Path) -> dict[str, dict[str, Any]]:
    """Save the complement model and bundle policy with their own ``save``."""
    parts = {}
    for name, file, obj in (("complements", "complements.pt", rec.complements_), ("bundles", "bundles", rec.bundler_)):
        if obj is not None:
            obj.save(folder / file)
            parts[name] = {"class": _class_name(obj), "file": file}
    return parts


def _load_parts(rec, path: Path, parts: dict[str, dict[str, Any]]) -> None:
    from cartgraph.pipeline_stages import bundle_relevance

    if "complements" in parts:
        info = parts["complements"]
        rec.complements_ = _resolve_class(info["class"]).load(path / info["file"])
    if "bundles" in parts:
        relevance = bundle_relevance(rec, rec.model_) if rec.model_ is not None else None
        rec.bundler_ = _resolve_class(parts["bundles"]["class"]).load(path / parts["bundles"]["file"],
                                                                      relevance=relevance)
