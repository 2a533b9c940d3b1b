"""The default store: the graph kept in memory as a :class:`KnowledgeGraph`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from cartgraph.errors import ConfigError
from cartgraph.graph.knowledge_graph import KnowledgeGraph
from cartgraph.graph.schema import NODE_LABELS, REL_TYPES
from cartgraph.graph.store import GraphStore, vector_score

__all__ = ["MemoryStore"]


class MemoryStore(GraphStore):
    """A :class:`GraphStore` in process memory; no server needed.

    Writing merges like the Neo4j store: nodes by ``id``, relationships by
    ``(src, dst[, model])``, the newer properties win.
    """

    def __init__(self) -> None:
        self._graph = KnowledgeGraph({}, {})

    def _write(self, graph: KnowledgeGraph, batch_size: int) -> None:
        if not any(self._graph.counts().values()):
            self._graph = graph
            return
        self._graph = _merge(self._graph, graph)

    def _read(self) -> KnowledgeGraph:
        return self._graph

    def _neighbors(self, rel_type: str, node_id: str, direction: str, limit: int | None) -> pd.DataFrame:
        frame = self._graph.edges_external(rel_type)
        here, there = ("src", "dst") if direction == "out" else ("dst", "src")
        out = frame[frame[here] == node_id].drop(columns=here).rename(columns={there: "id"})
        out = out.sort_values(["id", *REL_TYPES[rel_type].key], kind="stable").reset_index(drop=True)
        return out if limit is None else out.head(limit)

    def _check_items(self, item_ids: np.ndarray) -> None:
        unknown = self._graph.vocab("Item").indices(item_ids, missing="ignore") < 0
        if unknown.any():
            raise ConfigError(f"unknown item ids {list(item_ids[unknown][:3])} ({int(unknown.sum())} unknown)")

    def _upsert_complements(self, rows: pd.DataFrame, batch_size: int) -> None:
        vocab = self._graph.vocab("Item")
        new = rows.assign(src=vocab.indices(rows["src"]), dst=vocab.indices(rows["dst"]))
        merged = pd.concat([self._graph.edges["COMPLEMENTS"], new], ignore_index=True)
        merged = merged.drop_duplicates(["src", "dst", "model"], keep="last")
        self._graph = self._graph.with_edges("COMPLEMENTS", merged)

    def _vector_query(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        vectors = self._graph.item_vectors
        if vectors is None:
            raise ConfigError("the stored graph has no item vectors")
        if vector.shape[0] != vectors.shape[1]:
            raise ConfigError(f"vector has {vector.shape[0]} dimensions, item vectors have {vectors.shape[1]}")
        norms = np.linalg.norm(vectors, axis=1)
        cos = np.where(norms > 0, vectors.astype(np.float64) @ vector / np.where(norms > 0, norms, 1), -np.inf)
        cos /= np.linalg.norm(vector)
        top = np.argsort(-cos, kind="stable")[: min(k, int((norms > 0).sum()))]
        return self._graph.nodes["Item"]["id"].to_numpy()[top], vector_score(cos[top])

    def _counts(self) -> dict[str, int]:
        return self._graph.counts()

    def _clear(self) -> None:
        self._graph = KnowledgeGraph({}, {})


def _merge(old: KnowledgeGraph, new: KnowledgeGraph) -> KnowledgeGraph:
    """Union of two graphs by external id; ``new`` wins on conflicting properties."""
    nodes = {label: pd.concat([old.nodes[label], new.nodes[label]], ignore_index=True)
             .drop_duplicates("id", keep="last") for label in NODE_LABELS}
    edges = {}
    for rel_type, spec in REL_TYPES.items():
        both = pd.concat([old.edges_external(rel_type), new.edges_external(rel_type)], ignore_index=True)
        edges[rel_type] = both.drop_duplicates(["src", "dst", *spec.key], keep="last")
    vectors = None
    if old.item_vectors is not None or new.item_vectors is not None:
        dim = (new.item_vectors if new.item_vectors is not None else old.item_vectors).shape[1]
        table = {}
        for g in (old, new):
            if g.item_vectors is not None and g.item_vectors.shape[1] == dim:
                table.update(zip(g.nodes["Item"]["id"], g.item_vectors))
        vectors = np.stack([table.get(i, np.zeros(dim, np.float32)) for i in nodes["Item"]["id"]]) \
            if len(nodes["Item"]) else np.zeros((0, dim), np.float32)
    return KnowledgeGraph.from_external(nodes, edges, vectors)
