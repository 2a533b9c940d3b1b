"""Training signal of the complementarity model: co-occurrence, positive pairs, look-alikes.

- :func:`co_occurrence`: how often two items share a basket (``Dataset.basket_items``)
  or an explicit bundle (``Dataset.bundle_items``), an ``(I, I)`` sparse count matrix.
- :func:`positive_pairs`: per anchor item ``a`` its ``per_item`` most frequent partners
  ``b`` (directed: ``a → b`` ranks ``b`` by ``count(a, b)``, i.e. by ``P(b | a)``, so a
  phone case's list holds the phone while the phone's list holds its most common
  partners, not every case).
- :func:`look_alikes`: per item its text neighbours with cosine above a threshold,
  restricted to the item's own leaf category when the catalogue has categories —
  the substitutes the model learns to rank below complements.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cartgraph.dataset import Dataset
from cartgraph.graph.build import similar_edges
from cartgraph.graph.schema import CATEGORY_SEP

__all__ = ["co_occurrence", "group_matrix", "positive_pairs", "look_alikes", "leaf_categories"]


def group_matrix(groups: pd.DataFrame, dataset: Dataset, group_col: str, *,
                 return_ids: bool = False) -> sp.csr_matrix | tuple[sp.csr_matrix, np.ndarray]:
    """Binary ``(n_groups, n_items)`` membership of ``groups`` (columns ``group_col``,
    ``item_id``); items outside ``dataset``'s catalogue are dropped (and a group left
    empty with them). With ``return_ids`` also the group id of each row, shape ``(n_groups,)``."""
    idx = dataset.item_vocab.indices(groups["item_id"].to_numpy(), missing="ignore")
    keep = idx >= 0
    rows, ids = pd.factorize(groups[group_col].to_numpy()[keep])
    m = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (rows, idx[keep])),
                      shape=(int(rows.max()) + 1 if len(rows) else 0, dataset.n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    return (m, np.asarray(ids)) if return_ids else m


def co_occurrence(dataset: Dataset, *, bundle_weight: float = 1.0,
                  exclude_bundles: np.ndarray | None = None) -> sp.csr_matrix:
    """``C[a, b]`` = baskets holding both ``a`` and ``b`` + ``bundle_weight`` × bundles
    holding both, shape ``(I, I)`` float32, zero diagonal.

    Args:
        exclude_bundles: bundle ids left out (e.g. held-out test bundles).
    """
    c = _pair_counts(group_matrix(dataset.basket_items(), dataset, "basket_id"))
    bundles = dataset.bundle_items()
    if exclude_bundles is not None and len(bundles):
        bundles = bundles[~bundles["bundle_id"].isin(list(exclude_bundles))]
    if bundle_weight and len(bundles):
        c = c + bundle_weight * _pair_counts(group_matrix(bundles, dataset, "bundle_id"))
    c = sp.csr_matrix(c, dtype=np.float32)
    c.setdiag(0)
    c.eliminate_zeros()
    return c


def _pair_counts(groups: sp.csr_matrix) -> sp.csr_matrix:
    return (groups.T @ groups).tocsr()


def positive_pairs(counts: sp.csr_matrix, per_item: int, min_count: float = 1.0, *,
                   repeat_log2: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Directed pairs ``(src, dst)``: each row's ``per_item`` largest entries ``>= min_count``
    (ties: lower item index), as int64 arrays sorted by ``(src, rank)``.

    With ``repeat_log2`` a pair of count ``c`` is listed ``1 + floor(log2(c))`` times, so
    a uniform pass over the list weighs frequent partners more (without letting the
    most popular pairs swamp an epoch).
    """
    coo = counts.tocoo()
    keep = coo.data >= min_count
    row, col, val = coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64), coo.data[keep]
    order = np.lexsort((col, -val, row))
    row, col, val = row[order], col[order], val[order]
    starts = np.searchsorted(row, row, side="left")
    rank = np.arange(len(row)) - starts
    take = rank < per_item
    row, col, val = row[take], col[take], val[take]
    if not repeat_log2:
        return row, col
    times = 1 + np.floor(np.log2(np.maximum(val, 1.0))).astype(np.int64)
    return np.repeat(row, times), np.repeat(col, times)


def leaf_categories(dataset: Dataset) -> np.ndarray:
    """Leaf category code per item in item-index order (``-1``: no category), shape ``(I,)``."""
    items = dataset.items
    order = dataset.item_vocab.indices(items["item_id"].to_numpy())
    leaf = items["category_path"].map(lambda p: CATEGORY_SEP.join(p) if len(p) else None).to_numpy()
    codes = np.full(dataset.n_items, -1, dtype=np.int64)
    codes[order] = pd.factorize(pd.Series(leaf), use_na_sentinel=True)[0]
    return codes


def look_alikes(vectors: np.ndarray, leaf: np.ndarray, k: int = 20,
                min_cosine: float = 0.8) -> sp.csr_matrix:
    """Binary ``(I, I)`` matrix: ``b`` is among ``a``'s ``k`` text neighbours with cosine
    ``>= min_cosine`` and, when both have a leaf category, the same one."""
    n = len(vectors)
    edges = similar_edges(np.asarray(vectors, dtype=np.float32), k) if n > 1 and k > 0 else None
    if edges is None or not len(edges):
        return sp.csr_matrix((n, n), dtype=np.float32)
    src, dst = edges["src"].to_numpy(np.int64), edges["dst"].to_numpy(np.int64)
    same = (leaf[src] < 0) | (leaf[dst] < 0) | (leaf[src] == leaf[dst])
    keep = same & (edges["score"].to_numpy() >= min_cosine)
    return sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (src[keep], dst[keep])), shape=(n, n))
