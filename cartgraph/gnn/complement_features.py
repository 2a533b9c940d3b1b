"""Candidate partners and pair features for the complement re-ranker (fixed message passing).

:class:`ComplementView` holds one period's item graph: the co-occurrence counts ``C``
(baskets + weighted bundles), group counts per item ``n``, the random-walk matrix
``P = C / rowsum(C)``, the row-normalised text-neighbour matrix ``T`` and the leaf-level
co-occurrence ``L`` (how often leaf ``y`` is bought with leaf ``x``). For a block of
anchors :meth:`ComplementView.candidates` propagates these one or two hops:

- ``C[a]``: bought together; ``(P P)[a]``: bought with what ``a`` is bought with;
- ``(T P)[a]``: bought with ``a``'s look-alikes (reaches items ``a`` never shared a basket
  with, e.g. a new camera's battery);
- ``L[leaf a, leaf ·] · n``: popular items of the leaves bought with ``a``'s leaf;
- text neighbours of ``a`` (the look-alikes: mostly substitutes, so the scorer sees them as
  the negatives that separate complements from substitutes).

The union of each signal's top few is ``a``'s candidate list, ordered by ``(C, PP)``; each
(anchor, candidate) gets :data:`FEATURES`. No feature is an item id, so a scorer learned
on one period carries to the next.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cartgraph.dataset import Dataset
from cartgraph.evaluation.topk import topk
from cartgraph.gnn.complement_pairs import group_matrix, leaf_categories
from cartgraph.gnn.similar import text_neighbours

__all__ = ["ComplementView", "FEATURES", "QUOTAS", "SUBSTITUTE_COSINE"]

FEATURES: tuple[str, ...] = (
    "base_rank",    # log(1 + position) in the (count, two-hop) order: the start ranking
    "log_count",    # log(1 + C[a, b])
    "conf",         # C[a, b] / n[a]: P(b | a)
    "rev_conf",     # C[a, b] / n[b]: P(a | b) (a phone case names its phone)
    "pmi",          # log(C N / (n[a] n[b])) where C > 0, else 0
    "has_count",    # C[a, b] > 0
    "two_hop",      # log(1 + 1000 (P P)[a, b])
    "text_hop",     # log(1 + 1000 (T P)[a, b])
    "leaf_hop",     # log(1 + 1000 L[leaf a, leaf b])
    "text_cos",     # cosine of the text vectors
    "same_leaf",    # same leaf category
    "substitute",   # same leaf and cosine > SUBSTITUTE_COSINE (the substitute-rate rule)
    "pop",          # log(1 + n[b])
    "anchor_pop",   # log(1 + n[a])
    "recent_count",  # log(1 + C_recent[a, b]): groups weighted by 2^(-age / half-life)
    "recent_pop",   # log(1 + n_recent[b])
)

QUOTAS: dict[str, int] = {"count": 50, "two_hop": 40, "text_hop": 30, "leaf": 20, "text": 10}
"""Candidates per anchor taken from each signal (their union, at most the sum, is the list)."""

SUBSTITUTE_COSINE = 0.9


@dataclasses.dataclass
class ComplementView:
    """One period's item graph (see the module docstring); build with :meth:`build`."""

    counts: sp.csr_matrix        # (I, I) C
    walk: sp.csr_matrix          # (I, I) P
    text_walk: sp.csr_matrix     # (I, I) T P
    leaf_walk: np.ndarray        # (n_leaves + 1, n_leaves + 1) L, last row/column: no leaf
    n: np.ndarray                # (I,) groups per item (bundles weighted)
    n_total: float               # N
    unit: np.ndarray             # (I, D) unit text vectors
    leaf: np.ndarray             # (I,) leaf code, -1: none
    text_nbrs: np.ndarray        # (I, k) text neighbours
    recent: sp.csr_matrix        # (I, I) C_recent
    n_recent: np.ndarray         # (I,)

    @classmethod
    def build(cls, dataset: Dataset, text: np.ndarray, *, bundle_weight: float = 2.0, text_k: int = 10,
              half_life_days: float = 30.0, exclude_bundles=None) -> "ComplementView":
        """The view of ``dataset``'s baskets and bundles (minus ``exclude_bundles``);
        ``text (I, D)`` item vectors in item-index order. A group's recency weight is
        ``2^(-age / half_life_days)``, its age counted from the view's latest group (a
        group without a time weighs 0 there, every group 1 when none has a time)."""
        g, ids = group_matrix(dataset.basket_items(), dataset, "basket_id", return_ids=True)
        ev = dataset.events
        groups = [(g, 1.0, ev[ev["basket_id"].notna()].groupby("basket_id")["ts"].min().reindex(ids).to_numpy())]
        bundles = dataset.bundle_items()
        if exclude_bundles is not None and len(bundles):
            bundles = bundles[~bundles["bundle_id"].isin(list(exclude_bundles))]
        if bundle_weight and len(bundles):
            g, ids = group_matrix(bundles, dataset, "bundle_id", return_ids=True)
            chosen = dataset.user_bundles.groupby("bundle_id")["ts"].min() if dataset.user_bundles is not None \
                else pd.Series(dtype="datetime64[ns]")
            groups.append((g, float(bundle_weight), chosen.reindex(ids).to_numpy()))
        n_items = dataset.n_items
        counts = sp.csr_matrix((n_items, n_items), dtype=np.float64)
        recent = sp.csr_matrix((n_items, n_items), dtype=np.float64)
        n, n_recent, n_total = np.zeros(n_items), np.zeros(n_items), 0.0
        for (g, w, _), decay in zip(groups, _recency([t for *_, t in groups], half_life_days)):
            counts = counts + w * (g.T @ g)
            recent = recent + w * (g.T @ sp.diags(decay) @ g)
            n += w * np.asarray(g.sum(axis=0)).ravel()
            n_recent += w * (g.T @ decay)
            n_total += w * g.shape[0]
        counts, recent = sp.csr_matrix(counts), sp.csr_matrix(recent)
        for m in (counts, recent):
            m.setdiag(0)
            m.eliminate_zeros()
        walk = _row_normalise(counts)
        unit = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)
        every = np.arange(n_items)
        k = min(text_k, max(n_items - 1, 1))
        nbrs, cos = text_neighbours(unit, every, every, k)
        t = sp.csr_matrix((np.maximum(cos.ravel(), 0.0), (np.repeat(every, k), nbrs.ravel())), shape=(n_items, n_items))
        leaf = leaf_categories(dataset)
        n_leaves = int(leaf.max()) + 1 if len(leaf) else 0
        member = sp.csr_matrix((np.ones(n_items), (every, np.where(leaf >= 0, leaf, n_leaves))),
                               shape=(n_items, n_leaves + 1))
        by_leaf = (member.T @ counts @ member).toarray()
        by_leaf[n_leaves, :] = 0.0
        by_leaf[:, n_leaves] = 0.0
        leaf_walk = by_leaf / np.maximum(by_leaf.sum(axis=1, keepdims=True), 1e-12)
        return cls(counts.astype(np.float32), walk, (_row_normalise(t) @ walk).tocsr(), leaf_walk, n, max(n_total, 1.0),
                   unit.astype(np.float32), leaf, nbrs, recent.astype(np.float32), n_recent)

    @property
    def n_items(self) -> int:
        return self.counts.shape[0]

    @property
    def width(self) -> int:
        """Candidate slots per anchor (the sum of :data:`QUOTAS`, at most ``I − 1``)."""
        return min(sum(QUOTAS.values()), max(self.n_items - 1, 1))

    def _leaf_top(self) -> np.ndarray:
        """Per leaf row of ``L`` (no-leaf last), the :data:`QUOTAS` ``["leaf"]`` items with the
        largest ``L[x, leaf b] · log(1 + n[b])`` > 0 (ties: lower index), ``-1`` padded."""
        if getattr(self, "_leaf_top_cache", None) is None:
            leaf_code = np.where(self.leaf >= 0, self.leaf, self.leaf_walk.shape[0] - 1)
            weight = np.log1p(self.n)
            k = min(QUOTAS["leaf"], self.n_items)
            out = np.full((self.leaf_walk.shape[0], QUOTAS["leaf"]), -1, dtype=np.int64)
            for start in range(0, len(out), 256):
                s = self.leaf_walk[start:start + 256][:, leaf_code] * weight
                idx, vals = topk(np.where(s > 0, s, -np.inf), k)
                out[start:start + 256, :k] = np.where(np.isfinite(vals), idx, -1)
            self._leaf_top_cache = out
        return self._leaf_top_cache

    def candidates(self, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate partners and features of ``anchors (r,)``.

        Returns ``(items (r, W) int64, features (r, W, F) float32, mask (r, W) bool)``:
        candidates in the base order (count, then two-hop), ``-1`` and False where a list is
        shorter than ``W`` = :attr:`width`; ``F`` = ``len(FEATURES)``.
        """
        a = np.asarray(anchors, dtype=np.int64)
        r, width = len(a), self.width
        count_rows, two_rows, text_rows = self.counts[a], (self.walk[a] @ self.walk).tocsr(), self.text_walk[a]
        leaf_code = np.where(self.leaf >= 0, self.leaf, self.leaf_walk.shape[0] - 1)
        pool = np.concatenate([_row_top(count_rows, QUOTAS["count"]), _row_top(two_rows, QUOTAS["two_hop"]),
                               _row_top(text_rows, QUOTAS["text_hop"]), self._leaf_top()[leaf_code[a]],
                               self.text_nbrs[a][:, :QUOTAS["text"]]], axis=1)
        pool = np.sort(pool, axis=1)
        pool[:, 1:][pool[:, 1:] == pool[:, :-1]] = -1                      # each item once
        pool[pool == a[:, None]] = -1
        count, two = count_rows.toarray().astype(np.float64), two_rows.toarray()
        text_hop = text_rows.toarray()
        rows_all = np.arange(r)[:, None]
        safe = np.maximum(pool, 0)
        key = np.where(pool >= 0, count[rows_all, safe] + 0.5 * two[rows_all, safe]
                       / np.maximum(two.max(axis=1, keepdims=True), 1e-12), -np.inf)
        order = np.lexsort((pool.ravel(), -key.ravel(), np.repeat(np.arange(r), pool.shape[1])))
        items = pool.ravel()[order].reshape(pool.shape)[:, :width]
        mask = items >= 0
        leaf_hop_of = lambda rows, cols: self.leaf_walk[leaf_code[a][rows], leaf_code[cols]]  # noqa: E731
        b = np.where(mask, items, 0)
        rows = np.arange(r)[:, None]
        c = count[rows, b]
        na, nb = self.n[a][:, None], self.n[b]
        cos = np.einsum("rd,rwd->rw", self.unit[a], self.unit[b])
        same = (self.leaf[a][:, None] >= 0) & (self.leaf[a][:, None] == self.leaf[b])
        position = np.broadcast_to(np.arange(width, dtype=np.float64), (r, width))
        f = np.stack([
            np.log1p(position), np.log1p(c), c / np.maximum(na, 1e-12), c / np.maximum(nb, 1e-12),
            np.where(c > 0, np.log(np.maximum(c * self.n_total, 1e-12) / np.maximum(na * nb, 1e-12)), 0.0),
            (c > 0).astype(np.float64), np.log1p(1000 * two[rows, b]), np.log1p(1000 * text_hop[rows, b]),
            np.log1p(1000 * leaf_hop_of(rows, b)), cos, same.astype(np.float64),
            (same & (cos > SUBSTITUTE_COSINE)).astype(np.float64), np.log1p(nb), np.broadcast_to(np.log1p(na), (r, width)),
            np.log1p(self.recent[a].toarray()[rows, b]), np.log1p(self.n_recent[b]),
        ], axis=2).astype(np.float32)
        f[~mask] = 0.0
        return items, f, mask


def _row_top(m: sp.csr_matrix, k: int) -> np.ndarray:
    """Each row's ``k`` largest positive entries (ties: lower column) as column indices,
    best first, ``(rows, k)`` int64 padded with ``-1``: a sparse row's top-k without
    densifying it."""
    m = sp.csr_matrix(m)
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    keep = m.data > 0
    rows, cols, vals = rows[keep], m.indices[keep].astype(np.int64), m.data[keep]
    order = np.lexsort((cols, -vals, rows))
    rows, cols = rows[order], cols[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left")
    out = np.full((m.shape[0], k), -1, dtype=np.int64)
    take = rank < k
    out[rows[take], rank[take]] = cols[take]
    return out


def _recency(times: list[np.ndarray], half_life_days: float) -> list[np.ndarray]:
    """Per group ``2^(-age / half_life)`` with the age from the latest time of all groups;
    undated groups 0, or every group 1 when none is dated. Shapes follow ``times``."""
    dated = [pd.to_datetime(pd.Series(t)) for t in times]
    latest = max((d.max() for d in dated if d.notna().any()), default=None)
    if latest is None:
        return [np.ones(len(t)) for t in times]
    out = []
    for d in dated:
        age = (latest - d).dt.total_seconds().to_numpy() / 86400.0
        out.append(np.where(np.isnan(age), 0.0, np.exp2(-np.nan_to_num(age, nan=0.0) / half_life_days)))
    return out


def _row_normalise(m: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float64)
    s = np.asarray(m.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(1.0 / np.where(s > 0, s, 1.0)) @ m)
