"""Everything the walk reads per item, precomputed once as flat numpy arrays.

Serving a bundle must not build a graph per request: the item graph is flattened
into fixed-width neighbour lists (``(n_items, k)`` arrays, ``-1`` padded) per edge
kind, plus per-item attributes. A request then only gathers a few rows.

Edge kinds (the "edge that brought an item in", see :data:`EDGE_KINDS`):

- ``complements``: the top ``k_complements`` items by complement score (directed,
  from :mod:`cartgraph.bundles.complements`: co-purchase lift or a learned model);
- ``similar``: the top ``k_similar`` text neighbours (``SIMILAR_TO``, cosine);
- ``category``: the ``k_category`` most popular other items of the same leaf category;
- ``lexical``: the top ``k_lexical`` items by TF-IDF cosine of the titles (shared brand
  and model words, :mod:`cartgraph.bundles.lexical`).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError
from cartgraph.bundles.lexical import lexical_neighbours, title_tfidf
from cartgraph.graph.build import similar_edges
from cartgraph.text.vectors import normalize_rows

__all__ = ["ItemTables", "LexicalIndex", "EDGE_KINDS", "item_titles", "top_rows"]

EDGE_KINDS = ("complements", "similar", "category", "lexical")


def top_rows(matrix: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` largest entries, best first (ties: lower column).

    Returns ``(idx, score)`` of shape ``(n_rows, k)``: int32 columns (``-1`` pads rows
    with fewer entries) and float32 scores (0 where padded).
    """
    n = matrix.shape[0]
    idx = np.full((n, k), -1, np.int32)
    val = np.zeros((n, k), np.float32)
    for r in range(n):
        lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
        if lo == hi:
            continue
        cols, data = matrix.indices[lo:hi], matrix.data[lo:hi]
        order = np.lexsort((cols, -data))[:k]
        idx[r, :len(order)], val[r, :len(order)] = cols[order], data[order]
    return idx, val


@dataclasses.dataclass(frozen=True, eq=False)
class ItemTables:
    """Per-item arrays of one catalogue (``n`` items in ``item_vocab`` order).

    Attributes:
        item_ids: ``(n,)`` external ids.  titles: ``(n,)`` display names.
        neighbours: edge kind → ``(idx (n, k) int32, score (n, k) float32)``.
        comp_scale: complement scores are divided by it (their 99th percentile), so
            the complement feature is about 0..1 whatever the source.
        leaf: ``(n,)`` int32 leaf-category id (-1 none).  parent: ``(n,)`` int32 id of
            the leaf's parent path (-1 none).  category_names: id → leaf name.
        price: ``(n,)`` float64 (NaN unknown).  popularity: ``(n,)`` float32 in 0..1
            (``log1p(buyers) / log1p(max buyers)``).
        vectors: ``(n, dim)`` L2-normalised text vectors (float32).
        lexical: ``(n, vocabulary)`` csr, the titles' L2-normalised TF-IDF rows (their
            dot product is the ``lexical`` similarity; zero columns when unknown).
    """

    item_ids: np.ndarray
    titles: np.ndarray
    neighbours: dict[str, tuple[np.ndarray, np.ndarray]]
    comp_scale: float
    leaf: np.ndarray
    parent: np.ndarray
    category_names: np.ndarray
    price: np.ndarray
    popularity: np.ndarray
    vectors: np.ndarray
    lexical: sp.csr_matrix

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @classmethod
    def build(cls, dataset: Dataset, item_vectors: np.ndarray, complements: sp.csr_matrix, *,
              k_complements: int = 30, k_similar: int = 10, k_category: int = 10, k_lexical: int = 10,
              lexical: "LexicalIndex | None" = None) -> "ItemTables":
        """Flatten ``dataset``'s item graph.

        Args:
            dataset: the catalogue and the interactions (popularity).
            item_vectors: ``(n_items, dim)`` text vectors in ``item_vocab`` order.
            complements: ``(n_items, n_items)`` csr complement scores.
            k_complements, k_similar, k_category, k_lexical: list widths per edge kind.
            lexical: the catalogue's :class:`LexicalIndex` when already computed (it
                depends on the titles only, so data cuts of one catalogue share it).
        """
        n = dataset.n_items
        vectors = normalize_rows(np.asarray(item_vectors, dtype=np.float32))
        if vectors.shape[0] != n:
            raise ConfigError(f"item_vectors: expected {n} rows in item_vocab order, found {vectors.shape[0]}")
        if complements.shape != (n, n):
            raise ConfigError(f"complements: expected shape ({n}, {n}), found {complements.shape}")
        items = dataset.items.iloc[np.argsort(dataset.item_vocab.indices(dataset.items["item_id"]))]
        leaf, parent, names = _categories(items["category_path"])
        buyers = np.asarray(dataset.interactions().sum(axis=0)).ravel()
        popularity = (np.log1p(buyers) / max(np.log1p(buyers.max(initial=0.0)), 1e-9)).astype(np.float32)
        comp = top_rows(complements.tocsr(), k_complements)
        positive = complements.data[complements.data > 0]
        scale = float(np.percentile(positive, 99)) if len(positive) else 1.0
        titles = item_titles(dataset)
        lexical = lexical if lexical is not None else LexicalIndex.build(titles, k_lexical)
        if lexical.matrix.shape[0] != n:
            raise ConfigError(f"lexical: expected an index of {n} titles, found {lexical.matrix.shape[0]}")
        neighbours = {"complements": comp, "similar": _similar(vectors, k_similar),
                      "category": _category_lists(leaf, popularity, k_category), "lexical": lexical.neighbours}
        return cls(items["item_id"].astype(str).to_numpy(), titles, neighbours, max(scale, 1e-9), leaf, parent,
                   names, items["price"].to_numpy(np.float64), popularity, vectors, lexical.matrix)

    # ------------------------------------------------------------------ persistence
    def save(self, folder: Path) -> None:
        """Write into an (atomic) folder: ``tables.npz`` + ``tables.json``."""
        arrays = {f"nb_{k}_idx": v[0] for k, v in self.neighbours.items()}
        arrays.update({f"nb_{k}_score": v[1] for k, v in self.neighbours.items()})
        np.savez(folder / "tables.npz", leaf=self.leaf, parent=self.parent, price=self.price,
                 popularity=self.popularity, vectors=self.vectors, **arrays)
        sp.save_npz(folder / "lexical.npz", self.lexical)
        meta = {"item_ids": self.item_ids.tolist(), "titles": self.titles.tolist(),
                "category_names": self.category_names.tolist(), "comp_scale": self.comp_scale,
                "edge_kinds": list(self.neighbours)}
        (folder / "tables.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: Path) -> "ItemTables":
        """Read :meth:`save`'s files. Folders written before the ``lexical`` edges existed
        load with empty lexical lists (the lexical features are then 0)."""
        meta = json.loads((folder / "tables.json").read_text())
        n = len(meta["item_ids"])
        lexical = sp.load_npz(folder / "lexical.npz").tocsr() if (folder / "lexical.npz").exists() \
            else sp.csr_matrix((n, 0), dtype=np.float32)
        with np.load(folder / "tables.npz") as z:
            nb = {k: (z[f"nb_{k}_idx"], z[f"nb_{k}_score"]) for k in meta["edge_kinds"]}
            empty = (np.full((n, 1), -1, np.int32), np.zeros((n, 1), np.float32))
            nb = {k: nb.get(k, empty) for k in EDGE_KINDS}
            return cls(np.array(meta["item_ids"], dtype=object), np.array(meta["titles"], dtype=object), nb,
                       float(meta["comp_scale"]), z["leaf"], z["parent"], np.array(meta["category_names"], dtype=object),
                       z["price"], z["popularity"], z["vectors"], lexical)


def item_titles(dataset: Dataset) -> np.ndarray:
    """``(n_items,)`` display titles in item-index order (the item id where a title is missing)."""
    items = dataset.items.iloc[np.argsort(dataset.item_vocab.indices(dataset.items["item_id"]))]
    return items["title"].fillna(items["item_id"]).astype(str).to_numpy()


@dataclasses.dataclass(frozen=True, eq=False)
class LexicalIndex:
    """A catalogue's title TF-IDF rows ``matrix`` ``(n, vocabulary)`` and its ``lexical``
    neighbour lists ``(idx, score)`` ``(n, k)`` (see :mod:`cartgraph.bundles.lexical`)."""

    matrix: sp.csr_matrix
    neighbours: tuple[np.ndarray, np.ndarray]

    @classmethod
    def build(cls, titles, k: int) -> "LexicalIndex":
        matrix = title_tfidf(list(titles))
        return cls(matrix, lexical_neighbours(matrix, k))


def _categories(paths) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leaf and parent-path ids per item, and each leaf id's display name."""
    leaf_keys = [" > ".join(p) if len(p) else None for p in paths]
    parent_keys = [" > ".join(p[:-1]) if len(p) > 1 else None for p in paths]
    vocab = sorted({k for k in leaf_keys + parent_keys if k is not None})
    pos = {k: i for i, k in enumerate(vocab)}
    leaf = np.array([pos.get(k, -1) if k else -1 for k in leaf_keys], dtype=np.int32)
    parent = np.array([pos.get(k, -1) if k else -1 for k in parent_keys], dtype=np.int32)
    names = np.array([k.split(" > ")[-1] for k in vocab], dtype=object)
    return leaf, parent, names


def _similar(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``SIMILAR_TO`` lists from :func:`cartgraph.graph.build.similar_edges`."""
    n = len(vectors)
    edges = similar_edges(vectors, k) if k else None
    m = sp.csr_matrix((n, n), dtype=np.float32) if edges is None or not len(edges) else sp.csr_matrix(
        (edges["score"].to_numpy(np.float32) + 1.0, (edges["src"], edges["dst"])), shape=(n, n))
    idx, val = top_rows(m, max(k, 1))
    return idx, np.where(idx >= 0, val - 1.0, 0.0).astype(np.float32)


def _category_lists(leaf: np.ndarray, popularity: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per item: the ``k`` most popular other items of its leaf (score = their popularity)."""
    n = len(leaf)
    idx = np.full((n, max(k, 1)), -1, np.int32)
    val = np.zeros((n, max(k, 1)), np.float32)
    order = np.lexsort((np.arange(n), -popularity, leaf))
    starts = np.flatnonzero(np.r_[True, leaf[order][1:] != leaf[order][:-1]])
    for lo, hi in zip(starts, np.r_[starts[1:], n]):
        group = order[lo:hi]
        if leaf[group[0]] < 0 or k == 0:
            continue
        top = group[:k + 1]
        for item in group:
            others = top[top != item][:k]
            idx[item, :len(others)], val[item, :len(others)] = others, popularity[others]
    return idx, val
