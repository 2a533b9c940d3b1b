"""The knowledge graph as columnar tables: :class:`KnowledgeGraph`.

Nodes of each label are one pandas table whose row ``i`` is node index ``i``: the
``id`` column holds external ids in :class:`~cartgraph.vocab.Vocabulary` order (so
the indices equal the dataset's vocabulary indices), the other columns are the
label's properties (:data:`~cartgraph.graph.schema.NODE_PROPS`). Relationships of
each type are one table of integer ``src``/``dst`` indices plus properties, sorted by
``(src, dst[, key])``, one row per relationship. Item text vectors are a float32
array of shape ``(n_items, dim)`` aligned with the Item table.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from cartgraph.errors import ConfigError
from cartgraph.graph.schema import NODE_LABELS, NODE_PROPS, REL_TYPES, check_label, check_rel_type, node_type
from cartgraph.vocab import Vocabulary

__all__ = ["KnowledgeGraph", "empty_nodes", "empty_edges"]

_DTYPES = {"int": "int64", "float": "float64", "str": "object", "datetime": "datetime64[ns]"}


def empty_nodes(label: str) -> pd.DataFrame:
    """A typed, empty node table of ``label``."""
    cols = {"id": pd.Series([], dtype=object)}
    cols.update({p: pd.Series([], dtype=_DTYPES[k]) for p, k in NODE_PROPS[label].items()})
    return pd.DataFrame(cols)


def empty_edges(rel_type: str) -> pd.DataFrame:
    """A typed, empty relationship table of ``rel_type``."""
    cols = {"src": pd.Series([], dtype="int64"), "dst": pd.Series([], dtype="int64")}
    cols.update({p: pd.Series([], dtype=_DTYPES[k]) for p, k in REL_TYPES[rel_type].props.items()})
    return pd.DataFrame(cols)


def _typed(frame: pd.DataFrame, props: dict[str, str], name: str) -> pd.DataFrame:
    out = frame.copy()
    for prop, kind in props.items():
        if prop not in out:
            out[prop] = pd.Series(np.nan if kind in ("float", "datetime") else None, index=out.index)
        if kind == "datetime":
            out[prop] = pd.to_datetime(out[prop]).astype("datetime64[ns]")
        elif kind == "str":
            out[prop] = out[prop].astype(object).where(out[prop].notna(), None)
        elif kind == "int":
            if out[prop].isna().any():
                raise ConfigError(f"{name}: integer property {prop!r} has missing values")
            out[prop] = out[prop].astype("int64")
        else:
            out[prop] = out[prop].astype("float64")
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class KnowledgeGraph:
    """Users, items, categories and bundles with their relationships (see DESIGN.md).

    Args:
        nodes: label → node table (``id`` + properties); missing labels are empty.
        edges: relationship type → table (``src``, ``dst`` indices + properties).
        item_vectors: ``(n_items, dim)`` item text vectors, or None.

    Tables are typed, sorted and checked on construction; build one with
    :func:`cartgraph.graph.build` or :meth:`from_external`.
    """

    nodes: dict[str, pd.DataFrame]
    edges: dict[str, pd.DataFrame]
    item_vectors: np.ndarray | None = None

    def __post_init__(self) -> None:
        unknown = (set(self.nodes) - set(NODE_LABELS)) | (set(self.edges) - set(REL_TYPES))
        if unknown:
            raise ConfigError(f"KnowledgeGraph: unknown labels/types {sorted(unknown)}")
        nodes = {lab: self._check_nodes(lab, self.nodes.get(lab)) for lab in NODE_LABELS}
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "edges", {t: self._check_edges(t, self.edges.get(t)) for t in REL_TYPES})
        if self.item_vectors is not None:
            vec = np.ascontiguousarray(self.item_vectors, dtype=np.float32)
            if vec.ndim != 2 or len(vec) != len(nodes["Item"]):
                raise ConfigError(f"item_vectors: expected shape ({len(nodes['Item'])}, dim), found {vec.shape}")
            object.__setattr__(self, "item_vectors", vec)

    @staticmethod
    def _check_nodes(label: str, frame: pd.DataFrame | None) -> pd.DataFrame:
        if frame is None:
            return empty_nodes(label)
        frame = _typed(frame, NODE_PROPS[label], f"{label} nodes")
        ids = frame["id"].astype(str)
        if ids.duplicated().any():
            raise ConfigError(f"{label} nodes: duplicate id {ids[ids.duplicated()].iloc[0]!r}")
        order = Vocabulary(ids, name=label).indices(ids)
        if not np.array_equal(order, np.arange(len(ids))):
            frame = frame.iloc[np.argsort(order)]
        frame = frame.assign(id=frame["id"].astype(str).astype(object))
        return frame[["id", *NODE_PROPS[label]]].reset_index(drop=True)

    def _check_edges(self, rel_type: str, frame: pd.DataFrame | None) -> pd.DataFrame:
        spec = REL_TYPES[rel_type]
        if frame is None:
            return empty_edges(rel_type)
        frame = _typed(frame, spec.props, f"{rel_type} relationships")
        for end, label in (("src", spec.src), ("dst", spec.dst)):
            idx = frame[end].to_numpy(dtype=np.int64)
            n = len(self.nodes[label])
            if len(idx) and (idx.min() < 0 or idx.max() >= n):
                bad = idx[(idx < 0) | (idx >= n)][0]
                raise ConfigError(f"{rel_type}: {end} index {bad} but only {n} {label} nodes")
            frame[end] = idx
        keys = ["src", "dst", *spec.key]
        if frame.duplicated(keys).any():
            raise ConfigError(f"{rel_type}: duplicate relationship {frame[frame.duplicated(keys)].iloc[0][keys].tolist()}")
        frame = frame.sort_values(keys, kind="stable")
        return frame[["src", "dst", *spec.props]].reset_index(drop=True)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_external(cls, nodes: dict[str, pd.DataFrame], edges: dict[str, pd.DataFrame],
                      item_vectors: np.ndarray | None = None) -> "KnowledgeGraph":
        """Build from tables whose edges name nodes by external id (``src``/``dst`` strings).

        Node tables may come in any order; they are sorted into vocabulary order and
        ``item_vectors`` rows (aligned with the given Item table) follow them.
        """
        sorted_nodes, vocabs = {}, {}
        for label in NODE_LABELS:
            frame = nodes.get(label, empty_nodes(label)).reset_index(drop=True)
            vocab = Vocabulary(frame["id"].astype(str), name=label)
            order = np.argsort(vocab.indices(frame["id"].astype(str)))
            if label == "Item" and item_vectors is not None:
                item_vectors = np.asarray(item_vectors)[order]
            sorted_nodes[label], vocabs[label] = frame.iloc[order].reset_index(drop=True), vocab
        mapped = {}
        for rel_type, frame in edges.items():
            spec = check_rel_type(rel_type)
            frame = frame.copy()
            frame["src"] = vocabs[spec.src].indices(frame["src"].astype(str))
            frame["dst"] = vocabs[spec.dst].indices(frame["dst"].astype(str))
            mapped[rel_type] = frame
        return cls(sorted_nodes, mapped, item_vectors)

    # ------------------------------------------------------------------ views
    def vocab(self, label: str) -> Vocabulary:
        """The vocabulary of ``label``'s external ids (index ``i`` = row ``i``)."""
        return Vocabulary(self.nodes[check_label(label)]["id"], name=label.lower())

    def counts(self) -> dict[str, int]:
        """Node count per label and relationship count per type (all of them, zeros too)."""
        out = {label: len(frame) for label, frame in self.nodes.items()}
        out.update({t: len(frame) for t, frame in self.edges.items()})
        return out

    def edges_external(self, rel_type: str) -> pd.DataFrame:
        """Relationships of ``rel_type`` with ``src``/``dst`` as external ids."""
        spec = check_rel_type(rel_type)
        frame = self.edges[rel_type].copy()
        frame["src"] = self.nodes[spec.src]["id"].to_numpy()[frame["src"].to_numpy()]
        frame["dst"] = self.nodes[spec.dst]["id"].to_numpy()[frame["dst"].to_numpy()]
        return frame

    def with_edges(self, rel_type: str, frame: pd.DataFrame) -> "KnowledgeGraph":
        """A new graph whose ``rel_type`` table is replaced by ``frame`` (indices)."""
        return KnowledgeGraph(self.nodes, {**self.edges, check_rel_type(rel_type).type: frame}, self.item_vectors)

    def __repr__(self) -> str:
        c = self.counts()
        nodes = ", ".join(f"{k}={c[k]}" for k in NODE_LABELS)
        rels = ", ".join(f"{k}={c[k]}" for k in REL_TYPES if c[k])
        dim = None if self.item_vectors is None else self.item_vectors.shape[1]
        return f"KnowledgeGraph({nodes}; {rels}; item_vectors dim={dim})"

    # ------------------------------------------------------------------ exports
    def to_heterodata(self) -> Any:
        """PyG ``HeteroData``: node types ``user``/``item``/``category``/``bundle``.

        Every label gets ``num_nodes``; ``item`` gets ``x`` (the text vectors, float32)
        when present. Each non-empty relationship type becomes edge type
        ``(src, type.lower(), dst)`` with ``edge_index`` (long, ``[2, E]``, sorted by
        source then target) and one tensor per numeric property (``count``, ``lift``,
        ``score``, ``position``; float32 or long). Timestamps and strings (the
        COMPLEMENTS ``model``) stay in the tables; ``CO_PURCHASED`` holds each pair
        once (apply ``torch_geometric.transforms.ToUndirected`` for both directions).
        """
        import torch
        from torch_geometric.data import HeteroData

        data = HeteroData()
        for label, frame in self.nodes.items():
            data[node_type(label)].num_nodes = len(frame)
        if self.item_vectors is not None:
            data["item"].x = torch.from_numpy(self.item_vectors.copy())
        for rel_type, frame in self.edges.items():
            if not len(frame):
                continue
            store = data[REL_TYPES[rel_type].edge_type]
            store.edge_index = torch.from_numpy(frame[["src", "dst"]].to_numpy(np.int64).T.copy())
            for prop, kind in REL_TYPES[rel_type].props.items():
                if kind == "int":
                    store[prop] = torch.from_numpy(np.array(frame[prop], dtype=np.int64))
                elif kind == "float":
                    store[prop] = torch.from_numpy(np.array(frame[prop], dtype=np.float32))
        return data

    def to_networkx(self, max_nodes: int = 200_000) -> Any:
        """A ``networkx.MultiDiGraph`` for small-graph analysis and drawing.

        Nodes are ``(label, id)`` tuples with a ``label`` attribute and the node's
        properties; each relationship is an edge keyed by its type with its
        properties. Refuses graphs above ``max_nodes`` nodes (use a store instead).
        """
        import networkx as nx

        total = sum(len(f) for f in self.nodes.values())
        if total > max_nodes:
            raise ConfigError(f"to_networkx: {total} nodes exceed max_nodes={max_nodes}")
        g = nx.MultiDiGraph()
        for label, frame in self.nodes.items():
            for row in frame.to_dict("records"):
                g.add_node((label, row.pop("id")), label=label, **row)
        for rel_type, frame in self.edges_iter_external():
            for row in frame.to_dict("records"):
                g.add_edge(row.pop("src"), row.pop("dst"), key=rel_type, **row)
        return g

    def edges_iter_external(self):
        """Yield ``(rel_type, table)`` with ``src``/``dst`` as ``(label, id)`` tuples."""
        for rel_type, frame in self.edges.items():
            spec = REL_TYPES[rel_type]
            out = frame.copy()
            src_ids = self.nodes[spec.src]["id"].to_numpy()[frame["src"].to_numpy()]
            dst_ids = self.nodes[spec.dst]["id"].to_numpy()[frame["dst"].to_numpy()]
            out["src"] = [(spec.src, i) for i in src_ids]
            out["dst"] = [(spec.dst, i) for i in dst_ids]
            yield rel_type, out
