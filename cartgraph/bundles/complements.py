"""Complement evidence: where "item b goes with item a" comes from.

The walk reads complement scores as one sparse ``(n_items, n_items)`` matrix whose
entry ``[a, b]`` says how strongly ``b`` complements ``a`` (directed; 0 = no
evidence). Any source can supply it:

- :func:`co_purchase_matrix` (the default): items bought in the same basket or put
  in the same training bundle, scored ``log1p(lift) · count / (count + 1)`` so that
  a pair seen once between two rare items does not outrank a pair seen 40 times;
- a learned complement model (the GNN's directed ``COMPLEMENTS`` scores) through
  :func:`as_complement_matrix`, which accepts a scipy sparse matrix, a dense array,
  a :class:`~cartgraph.graph.KnowledgeGraph` (its ``COMPLEMENTS`` edges, else its
  ``CO_PURCHASED`` lift), any object with a ``complement_matrix()`` method, or a model
  with ``complements(items, k) -> (idx (b, k), score (b, k))`` such as
  :class:`cartgraph.gnn.complements.ComplementModel` (its top ``k`` per item, scores
  passed through a sigmoid since they are logits).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError
from cartgraph.graph.build import co_purchase_edges

__all__ = ["co_purchase_matrix", "as_complement_matrix", "basket_dataset"]


def basket_dataset(dataset: Dataset) -> Dataset:
    """``dataset`` whose events also hold its bundles, each as one anonymous basket.

    When the dataset records choices (``user_bundles``), only chosen bundles count: a
    split keeps the held-out choices out of ``user_bundles`` while ``bundles`` still
    lists every bundle's members. Without choices (a catalogue of bundles, e.g.
    Steam) every bundle counts.
    """
    chosen = dataset.bundles
    if len(dataset.user_bundles):
        chosen = chosen[chosen["bundle_id"].isin(set(dataset.user_bundles["bundle_id"]))]
    if not len(chosen):
        return dataset
    members = chosen[["bundle_id", "item_ids"]].explode("item_ids").dropna()
    extra = pd.DataFrame({"user_id": None, "item_id": members["item_ids"].to_numpy(), "kind": "purchase",
                          "basket_id": "bundle:" + members["bundle_id"].astype(str).to_numpy()})
    return dataset.replace(events=pd.concat([dataset.events, extra], ignore_index=True))


def co_purchase_matrix(dataset: Dataset, min_count: int = 1) -> sp.csr_matrix:
    """Symmetric co-purchase complement scores, shape ``(n_items, n_items)`` float32.

    Baskets are the dataset's cart/purchase baskets plus its chosen bundles
    (:func:`basket_dataset`); pairs in fewer than ``min_count`` of them are dropped.
    Reuses :func:`cartgraph.graph.build.co_purchase_edges` (the ``CO_PURCHASED`` lift).
    """
    edges = co_purchase_edges(basket_dataset(dataset), min_count)
    src, dst = edges["src"].to_numpy(np.int64), edges["dst"].to_numpy(np.int64)
    count = edges["count"].to_numpy(np.float64)
    score = (np.log1p(edges["lift"].to_numpy(np.float64)) * count / (count + 1.0)).astype(np.float32)
    n = dataset.n_items
    m = sp.coo_matrix((np.concatenate([score, score]), (np.concatenate([src, dst]), np.concatenate([dst, src]))),
                      shape=(n, n))
    return m.tocsr()


def as_complement_matrix(source: Any, n_items: int) -> sp.csr_matrix:
    """Any supported complement source as a csr ``(n_items, n_items)`` float32 matrix.

    Accepts a scipy sparse matrix, a dense 2-D array, a ``KnowledgeGraph`` or an
    object with a ``complement_matrix()`` method returning one of the first two.
    Negative scores are dropped (the walk treats them as "no evidence").
    """
    from cartgraph.graph.knowledge_graph import KnowledgeGraph

    if hasattr(source, "complement_matrix"):
        source = source.complement_matrix()
    elif callable(getattr(source, "complements", None)):
        source = _model_matrix(source, n_items)
    if isinstance(source, KnowledgeGraph):
        source = _graph_matrix(source)
    if isinstance(source, np.ndarray) or sp.issparse(source):
        m = sp.csr_matrix(source, dtype=np.float32)
    else:
        raise ConfigError(f"complements: expected a sparse matrix, a 2-D array, a KnowledgeGraph, an object with "
                          f"complement_matrix() or a model with complements(items, k), found {type(source).__name__}")
    if m.shape != (n_items, n_items):
        raise ConfigError(f"complements: expected shape ({n_items}, {n_items}), found {m.shape}")
    if not np.isfinite(m.data).all():
        raise ConfigError("complements: contains NaN or infinite scores")
    m.data[m.data < 0] = 0
    m.eliminate_zeros()
    return m


def _model_matrix(model: Any, n_items: int, k: int = 50) -> sp.csr_matrix:
    """A model's top-``k`` complements of every item as a csr matrix, each anchor's list scored
    relative to its best: ``2 · sigmoid(s − s_best)`` in (0, 1], 1 for the best.

    A ranking model's score (e.g. BPR) means something only as a difference between two
    items of one anchor: ``sigmoid(s_b − s_c)`` is how surely ``b`` is preferred to ``c``.
    A plain ``sigmoid(s)`` of large scores is 1.0 for a whole list, and the walk could
    not tell the anchor's clear complement from its tenth-best guess.
    """
    idx, score = model.complements(np.arange(n_items), k=k)
    idx, score = np.asarray(idx, dtype=np.int64), np.asarray(score, dtype=np.float64)
    keep = (idx >= 0) & np.isfinite(score)
    best = np.where(keep, score, -np.inf).max(axis=1, keepdims=True)
    rel = np.where(keep, score - np.where(np.isfinite(best), best, 0.0), 0.0)
    rows = np.repeat(np.arange(len(idx)), idx.shape[1])[keep.ravel()]
    vals = (2.0 / (1.0 + np.exp(-rel[keep]))).astype(np.float32)
    return sp.csr_matrix((vals, (rows, idx[keep])), shape=(len(idx), n_items))


def _graph_matrix(kg: Any) -> sp.csr_matrix:
    """COMPLEMENTS scores (directed) if the graph has any, else CO_PURCHASED lift both ways."""
    n = len(kg.nodes["Item"])
    comp = kg.edges["COMPLEMENTS"]
    if len(comp):
        frame = comp.groupby(["src", "dst"], sort=True)["score"].max().reset_index()
        return sp.csr_matrix((frame["score"].to_numpy(np.float32), (frame["src"], frame["dst"])), shape=(n, n))
    co = kg.edges["CO_PURCHASED"]
    s, d, v = co["src"].to_numpy(), co["dst"].to_numpy(), np.log1p(co["lift"].to_numpy(np.float32))
    return sp.csr_matrix((np.concatenate([v, v]), (np.concatenate([s, d]), np.concatenate([d, s]))), shape=(n, n))
