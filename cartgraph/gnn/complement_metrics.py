"""How good a complement list is: precision on held-out groups, substitute rate.

- **precision@k** on held-out baskets or bundles: for every group ``g`` and every item
  ``a`` of ``g`` (groups of ≥ 2 catalogue items), the share of ``a``'s ``k`` listed
  complements that are other items of ``g``; the mean over all such ``(g, a)``.
- **substitute rate** (EVALUATION.md): the share of listed pairs whose two items sit in
  the same leaf category with text cosine > 0.9.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cartgraph.errors import ConfigError

__all__ = ["group_precision", "substitute_rate"]


def group_precision(top: np.ndarray, groups: sp.csr_matrix) -> float:
    """Mean precision@k of ``top`` over held-out groups.

    Args:
        top: ``(I, k)`` int64, row ``a`` = the items listed for ``a`` (``-1`` = none).
        groups: binary ``(n_groups, I)`` membership (e.g.
            :func:`cartgraph.gnn.complement_pairs.group_matrix`).

    Returns:
        The mean over ``(group, anchor)`` pairs; NaN when no group has 2 items.
    """
    top = np.asarray(top)
    if top.ndim != 2 or top.shape[0] != groups.shape[1]:
        raise ConfigError(f"top must have one row per item ({groups.shape[1]}), got shape {top.shape}")
    g = sp.csr_matrix(groups)
    sizes = np.diff(g.indptr)
    g_rows = np.repeat(np.arange(g.shape[0]), sizes)
    anchor_ok = sizes[g_rows] >= 2
    g_rows, anchors = g_rows[anchor_ok], g.indices[anchor_ok]
    if not len(anchors):
        return float("nan")
    n_items = g.shape[1]
    keys = np.sort(g_rows.astype(np.int64) * n_items + anchors)
    listed = top[anchors]
    q = g_rows[:, None].astype(np.int64) * n_items + listed
    pos = np.searchsorted(keys, q).clip(max=len(keys) - 1)
    hit = (keys[pos] == q) & (listed >= 0) & (listed != anchors[:, None])
    return float(hit.sum(axis=1).mean() / top.shape[1])


def substitute_rate(src: np.ndarray, dst: np.ndarray, leaf: np.ndarray, vectors: np.ndarray,
                    threshold: float = 0.9) -> float:
    """Share of pairs ``(src[k], dst[k])`` with the same leaf category (``>= 0``) and text
    cosine ``> threshold``; NaN for no pairs."""
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    if not len(src):
        return float("nan")
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    cos = np.einsum("ij,ij->i", unit[src], unit[dst])
    same = (leaf[src] >= 0) & (leaf[src] == leaf[dst])
    return float(np.mean(same & (cos > threshold)))
