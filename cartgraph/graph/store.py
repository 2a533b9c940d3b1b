"""One small interface, two stores: :class:`GraphStore`.

Each public method validates its arguments against the schema whitelist and then
calls an abstract ``_method`` that a store implements; :class:`MemoryStore
<cartgraph.graph.memory.MemoryStore>` is the tiny reference the Neo4j store is tested
against.
"""
from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from cartgraph.errors import ConfigError
from cartgraph.graph.knowledge_graph import KnowledgeGraph
from cartgraph.graph.schema import check_label, check_rel_type

__all__ = ["GraphStore", "complement_rows", "vector_score"]

DIRECTIONS = ("out", "in")


def complement_rows(rows: Any, model: str) -> pd.DataFrame:
    """COMPLEMENTS rows as a frame ``src``, ``dst`` (external item ids), ``score``, ``model``.

    ``rows`` is a DataFrame with those first three columns or an iterable of
    ``(src, dst, score)`` tuples; a pair repeated within ``rows`` keeps its last score.
    """
    if not isinstance(model, str) or not model:
        raise ConfigError(f"model must be a non-empty string, got {model!r}")
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows), columns=["src", "dst", "score"])
    missing = {"src", "dst", "score"} - set(frame.columns)
    if missing:
        raise ConfigError(f"complement rows: missing columns {sorted(missing)}; expected src, dst, score")
    frame = frame[["src", "dst", "score"]].astype({"src": str, "dst": str, "score": np.float64})
    if not np.isfinite(frame["score"]).all():
        raise ConfigError("complement rows: score must be finite")
    frame["model"] = model
    return frame.drop_duplicates(["src", "dst"], keep="last").reset_index(drop=True)


def vector_score(cosine: np.ndarray) -> np.ndarray:
    """Neo4j's cosine similarity score, ``(1 + cos) / 2`` in ``[0, 1]``; both stores report it."""
    return (1.0 + np.asarray(cosine, dtype=np.float64)) / 2.0


class GraphStore(abc.ABC):
    """Where a :class:`KnowledgeGraph` lives: write it, read it, query it.

    Methods:
        write: store a graph (merging: writing the same graph twice changes nothing).
        read: the stored graph back as a :class:`KnowledgeGraph`.
        to_heterodata: ``read().to_heterodata()``.
        neighbors: nodes linked to one node by one relationship type.
        upsert_complements: add or update learned COMPLEMENTS edges of one model.
        vector_query: the ``k`` items whose embeddings are nearest a vector.
        counts: nodes per label and relationships per type.
        clear: remove everything.
    """

    def write(self, graph: KnowledgeGraph, *, batch_size: int = 5000) -> dict[str, int]:
        """Store ``graph``; returns :meth:`counts` afterwards."""
        if not isinstance(graph, KnowledgeGraph):
            raise ConfigError(f"write expects a KnowledgeGraph, got {type(graph).__name__}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self._write(graph, batch_size)
        return self.counts()

    def read(self) -> KnowledgeGraph:
        """The stored graph (node indices in vocabulary order, as :func:`build` makes them)."""
        return self._read()

    def to_heterodata(self) -> Any:
        """The stored graph as PyG ``HeteroData`` (see :meth:`KnowledgeGraph.to_heterodata`)."""
        return self.read().to_heterodata()

    def neighbors(self, label: str, node_id: str, rel_type: str, *, direction: str = "out",
                  limit: int | None = None) -> pd.DataFrame:
        """Nodes linked to ``(label, node_id)`` by ``rel_type`` relationships.

        Args:
            label: the node's label (must be the type's source for ``"out"``, its
                target for ``"in"``).
            direction: ``"out"`` (follow the arrow) or ``"in"``.
            limit: at most this many rows.

        Returns:
            One row per relationship: ``id`` of the other node, then the
            relationship's properties, ordered by ``id`` (and ``model``).
        """
        spec = check_rel_type(rel_type)
        check_label(label)
        if direction not in DIRECTIONS:
            raise ConfigError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        anchor = spec.src if direction == "out" else spec.dst
        if label != anchor:
            raise ConfigError(f"{rel_type} {direction}-neighbours start at {anchor} nodes, not {label}")
        if limit is not None and limit < 1:
            raise ConfigError(f"limit must be >= 1, got {limit}")
        return self._neighbors(spec.type, str(node_id), direction, limit)

    def upsert_complements(self, rows: Any, *, model: str, batch_size: int = 5000) -> int:
        """Add or update COMPLEMENTS edges ``src → dst`` with ``score`` for ``model``.

        Every item id must exist. Returns the number of rows written.
        """
        frame = complement_rows(rows, model)
        self._check_items(pd.concat([frame["src"], frame["dst"]]).unique())
        self._upsert_complements(frame, batch_size)
        return len(frame)

    def vector_query(self, vector: Iterable[float], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most similar to ``vector`` by cosine.

        Returns:
            ``(ids, scores)``: external item ids (object array) and scores
            ``(1 + cos) / 2`` (float64), best first.
        """
        vec = np.asarray(vector, dtype=np.float64)
        if vec.ndim != 1 or not np.isfinite(vec).all() or not vec.any():
            raise ConfigError(f"vector must be one finite, non-zero 1-D vector, got shape {vec.shape}")
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        return self._vector_query(vec, int(k))

    def counts(self) -> dict[str, int]:
        """Node count per label and relationship count per type (zeros included)."""
        return self._counts()

    def clear(self) -> None:
        """Remove every node and relationship."""
        self._clear()

    # ------------------------------------------------------------------ to implement
    @abc.abstractmethod
    def _write(self, graph: KnowledgeGraph, batch_size: int) -> None: ...

    @abc.abstractmethod
    def _read(self) -> KnowledgeGraph: ...

    @abc.abstractmethod
    def _neighbors(self, rel_type: str, node_id: str, direction: str, limit: int | None) -> pd.DataFrame: ...

    @abc.abstractmethod
    def _check_items(self, item_ids: np.ndarray) -> None: ...

    @abc.abstractmethod
    def _upsert_complements(self, rows: pd.DataFrame, batch_size: int) -> None: ...

    @abc.abstractmethod
    def _vector_query(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    @abc.abstractmethod
    def _counts(self) -> dict[str, int]: ...

    @abc.abstractmethod
    def _clear(self) -> None: ...
