"""Dataset (+ item text vectors) → :class:`~cartgraph.graph.knowledge_graph.KnowledgeGraph`.

Everything is computed with vectorised pandas/scipy on integer indices of the
dataset's vocabularies, so the graph's node indices equal the dataset's.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError
from cartgraph.graph.knowledge_graph import KnowledgeGraph
from cartgraph.graph.schema import CATEGORY_SEP, EVENT_RELS

__all__ = ["build", "category_tables", "check_item_vectors", "co_purchase_edges", "similar_edges"]


def build(dataset: Dataset, item_vectors: np.ndarray | None = None, *, similar_k: int = 10,
          co_purchase_min_count: int = 5) -> KnowledgeGraph:
    """The knowledge graph of ``dataset`` (nodes and relationships of DESIGN.md).

    Args:
        dataset: the shop's items, users, events and bundles.
        item_vectors: ``(n_items, dim)`` text vectors, rows in ``dataset.item_vocab``
            order; they become the Item ``embedding`` and give ``SIMILAR_TO`` edges.
        similar_k: text neighbours per item (``SIMILAR_TO``; 0 for none).
        co_purchase_min_count: keep item pairs bought together in at least this many
            baskets (``CO_PURCHASED``), which bounds the graph (Online Retail: 1.6 M
            pairs at 5, 3.7 M at 1).

    ``COMPLEMENTS`` starts empty; models add it through a store's
    ``upsert_complements``.
    """
    if similar_k < 0 or co_purchase_min_count < 1:
        raise ConfigError(f"similar_k must be >= 0 and co_purchase_min_count >= 1, "
                          f"got {similar_k} and {co_purchase_min_count}")
    vectors = check_item_vectors(dataset, item_vectors)
    categories, subcategory, in_category = category_tables(dataset)
    edges = {**_interaction_edges(dataset),
             "IN_CATEGORY": in_category, "SUBCATEGORY_OF": subcategory,
             "CO_PURCHASED": co_purchase_edges(dataset, co_purchase_min_count),
             **_bundle_edges(dataset)}
    if vectors is not None and similar_k:
        edges["SIMILAR_TO"] = similar_edges(vectors, similar_k)
    nodes = {"User": pd.DataFrame({"id": dataset.user_vocab.ids}),
             "Item": _item_nodes(dataset), "Category": categories, "Bundle": _bundle_nodes(dataset)}
    return KnowledgeGraph(nodes, edges, vectors)


def check_item_vectors(dataset: Dataset, item_vectors: np.ndarray | None) -> np.ndarray | None:
    """``item_vectors`` as float32 ``(n_items, dim)`` in ``dataset.item_vocab`` order (None stays None).

    Raises:
        ConfigError: another shape, or NaN/infinite values.
    """
    if item_vectors is None:
        return None
    vec = np.asarray(item_vectors, dtype=np.float32)
    if vec.ndim != 2 or len(vec) != dataset.n_items:
        raise ConfigError(f"item_vectors: expected shape ({dataset.n_items}, dim) in item_vocab order, found {vec.shape}")
    if not np.isfinite(vec).all():
        raise ConfigError("item_vectors: contains NaN or infinite values")
    return vec


def _item_nodes(dataset: Dataset) -> pd.DataFrame:
    items = dataset.items
    order = np.argsort(dataset.item_vocab.indices(items["item_id"]))
    items = items.iloc[order]
    return pd.DataFrame({"id": items["item_id"].to_numpy(), "title": items["title"].to_numpy(),
                         "description": items["description"].to_numpy(), "brand": items["brand"].to_numpy(),
                         "price": items["price"].to_numpy(np.float64)})


def _bundle_nodes(dataset: Dataset) -> pd.DataFrame:
    b = dataset.bundles
    return pd.DataFrame({"id": b["bundle_id"].to_numpy(), "name": b["name"].to_numpy(),
                         "intent": b["intent"].to_numpy(), "price": b["price"].to_numpy(np.float64)})


def category_tables(dataset: Dataset) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Category nodes (every prefix of every item's path), SUBCATEGORY_OF and IN_CATEGORY.

    Returns ``(nodes, subcategory_of, in_category)``; the edge tables name categories
    by index into ``nodes`` in vocabulary order.
    """
    paths = dataset.items[["item_id", "category_path"]]
    paths = paths[paths["category_path"].map(len) > 0]
    prefixes: dict[str, tuple[str, int, str | None]] = {}
    for path in {tuple(p) for p in paths["category_path"]}:
        for depth in range(len(path)):
            key = CATEGORY_SEP.join(path[: depth + 1])
            parent = CATEGORY_SEP.join(path[:depth]) if depth else None
            prefixes[key] = (path[depth], depth, parent)
    from cartgraph.vocab import Vocabulary

    vocab = Vocabulary(list(prefixes), name="category")
    nodes = pd.DataFrame({"id": vocab.ids, "name": [prefixes[k][0] for k in vocab.ids],
                          "level": np.array([prefixes[k][1] for k in vocab.ids], dtype=np.int64)})
    children = [k for k in vocab.ids if prefixes[k][2] is not None]
    sub = pd.DataFrame({"src": vocab.indices(children) if children else np.zeros(0, np.int64),
                        "dst": vocab.indices([prefixes[k][2] for k in children]) if children else np.zeros(0, np.int64)})
    leaves = paths["category_path"].map(CATEGORY_SEP.join)
    in_cat = pd.DataFrame({"src": dataset.item_vocab.indices(paths["item_id"]),
                           "dst": vocab.indices(leaves) if len(leaves) else np.zeros(0, np.int64)})
    return nodes, sub, in_cat


def _interaction_edges(dataset: Dataset) -> dict[str, pd.DataFrame]:
    """VIEWED/CLICKED/CARTED/PURCHASED: events of identified users per (user, item, kind)."""
    ev = dataset.events[dataset.events["user_id"].notna()]
    frame = pd.DataFrame({"kind": ev["kind"].astype(str).to_numpy(),
                          "src": dataset.user_vocab.indices(ev["user_id"].to_numpy()),
                          "dst": dataset.item_vocab.indices(ev["item_id"].to_numpy()),
                          "ts": ev["ts"].to_numpy()})
    grouped = frame.groupby(["kind", "src", "dst"], sort=True)["ts"]
    agg = pd.DataFrame({"count": grouped.size(), "first_ts": grouped.min(), "last_ts": grouped.max()}).reset_index()
    return {rel: agg[agg["kind"] == kind].drop(columns="kind") for kind, rel in EVENT_RELS.items()}


def co_purchase_edges(dataset: Dataset, min_count: int = 5) -> pd.DataFrame:
    """CO_PURCHASED: item pairs in at least ``min_count`` common baskets, stored once (src < dst).

    Baskets are all cart/purchase events with a basket id, anonymous ones included.
    ``count`` is the number of shared baskets; ``lift = count · N / (n_a · n_b)``
    with ``N`` baskets and ``n_a`` the baskets holding item ``a`` (> 1: bought
    together more often than chance).
    """
    bi = dataset.basket_items()
    if not len(bi):
        return pd.DataFrame({"src": [], "dst": [], "count": [], "lift": []})
    rows = pd.factorize(bi["basket_id"])[0]
    cols = dataset.item_vocab.indices(bi["item_id"].to_numpy())
    b = sp.csr_matrix((np.ones(len(rows), np.int32), (rows, cols)), shape=(rows.max() + 1, dataset.n_items))
    per_item = np.asarray(b.sum(axis=0)).ravel().astype(np.float64)
    pairs = sp.triu(b.T.tocsr() @ b, k=1).tocoo()
    keep = pairs.data >= min_count
    src, dst, count = pairs.row[keep].astype(np.int64), pairs.col[keep].astype(np.int64), pairs.data[keep].astype(np.int64)
    lift = count * float(b.shape[0]) / (per_item[src] * per_item[dst])
    return pd.DataFrame({"src": src, "dst": dst, "count": count, "lift": lift})


def similar_edges(vectors: np.ndarray, k: int, chunk: int = 2048) -> pd.DataFrame:
    """SIMILAR_TO: each item's ``k`` nearest items by cosine, best first, ``score`` = cosine.

    Items with an all-zero vector get no neighbours and are nobody's neighbour.
    """
    norms = np.linalg.norm(vectors, axis=1)
    valid = norms > 0
    unit = np.where(valid[:, None], vectors / np.where(valid, norms, 1)[:, None], 0).astype(np.float32)
    k = min(k, int(valid.sum()) - 1)
    if k <= 0:
        return pd.DataFrame({"src": [], "dst": [], "score": []})
    out_src, out_dst, out_score = [], [], []
    for start in range(0, len(unit), chunk):
        block = unit[start:start + chunk] @ unit.T
        rows = np.arange(block.shape[0])
        block[rows, start + rows] = -np.inf
        block[:, ~valid] = -np.inf
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        top.sort(axis=1)  # then a stable sort by score: equal scores keep the lower index first
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(block, top, axis=1), axis=1, kind="stable"), axis=1)
        src = np.repeat(start + rows, k)
        keep = valid[src]
        out_src.append(src[keep])
        out_dst.append(top.ravel()[keep])
        out_score.append(np.take_along_axis(block, top, axis=1).ravel()[keep])
    return pd.DataFrame({"src": np.concatenate(out_src), "dst": np.concatenate(out_dst),
                         "score": np.concatenate(out_score).astype(np.float64)})


def _bundle_edges(dataset: Dataset) -> dict[str, pd.DataFrame]:
    """CONTAINS (first position of each member) and CHOSE (latest choice per user and bundle)."""
    members = dataset.bundle_items().drop_duplicates(["bundle_id", "item_id"])
    contains = pd.DataFrame({"src": dataset.bundle_vocab.indices(members["bundle_id"].to_numpy()),
                             "dst": dataset.item_vocab.indices(members["item_id"].to_numpy()),
                             "position": members["position"].to_numpy(np.int64)})
    ub = dataset.user_bundles
    chose = pd.DataFrame({"src": dataset.user_vocab.indices(ub["user_id"].to_numpy()),
                          "dst": dataset.bundle_vocab.indices(ub["bundle_id"].to_numpy()),
                          "ts": ub["ts"].to_numpy()})
    chose = chose.groupby(["src", "dst"], sort=True)["ts"].max().reset_index()
    return {"CONTAINS": contains, "CHOSE": chose}
