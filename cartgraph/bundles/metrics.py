"""Bundle quality metrics, as EVALUATION.md ("Bundle quality") defines them.

For one generated bundle ``b`` (item indices, the ``a`` revealed anchors first) and
its held-out items ``T`` (the real bundle/basket without the anchors):

- recall = |added ∩ T| / |T|, precision = |added ∩ T| / |added| (``added`` = b without anchors);
- complement precision: share of b's item pairs that co-occur in some held-out
  basket or bundle (``heldout_pairs``, any user);
- substitute rate: share of b's pairs in the same leaf category with text cosine > 0.9;
- category coverage: distinct leaf categories / |b|;
- intra-list diversity: 1 − mean pairwise text cosine;
- constraint satisfaction: 1 if the bundle keeps every constraint.

Pair metrics are undefined for bundles of one item and then skipped in means.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from cartgraph.bundles.features import SUBSTITUTE_COSINE

__all__ = ["pair_matrix", "bundle_metrics", "mean_metrics", "METRICS"]

METRICS = ("recall", "precision", "complement_precision", "substitute_rate", "category_coverage",
           "intra_list_diversity", "constraint_satisfaction")


def pair_matrix(baskets: Sequence[Sequence[int]], n_items: int) -> sp.csr_matrix:
    """Boolean ``(n_items, n_items)`` csr: True where two items share a held-out basket/bundle."""
    rows = np.repeat(np.arange(len(baskets)), [len(b) for b in baskets])
    cols = np.concatenate([np.asarray(b, dtype=np.int64) for b in baskets]) if baskets else np.zeros(0, np.int64)
    m = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(baskets), n_items))
    m.data[:] = 1
    co = (m.T @ m).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    return co.astype(bool)


def bundle_metrics(bundle: Sequence[int], n_anchors: int, target: set[int], heldout_pairs: sp.csr_matrix,
                   vectors: np.ndarray, leaf: np.ndarray, violations: int = 0) -> dict[str, float]:
    """The metrics of one bundle (see the module doc); NaN where undefined."""
    b = np.asarray(bundle, dtype=np.int64)
    added = b[n_anchors:]
    hits = len(set(added.tolist()) & target)
    out = {"recall": hits / len(target) if target else np.nan,
           "precision": hits / len(added) if len(added) else np.nan,
           "category_coverage": len(set(leaf[b].tolist())) / len(b) if len(b) else np.nan,
           "constraint_satisfaction": float(violations == 0)}
    if len(b) < 2:
        return {**out, "complement_precision": np.nan, "substitute_rate": np.nan, "intra_list_diversity": np.nan}
    i, j = np.triu_indices(len(b), k=1)
    cos = np.einsum("pd,pd->p", vectors[b[i]], vectors[b[j]])
    same = (leaf[b[i]] == leaf[b[j]]) & (leaf[b[i]] >= 0)
    out["complement_precision"] = float(np.asarray(heldout_pairs[b[i], b[j]]).ravel().mean())
    out["substitute_rate"] = float((same & (cos > SUBSTITUTE_COSINE)).mean())
    out["intra_list_diversity"] = float(1.0 - cos.mean())
    return out


def mean_metrics(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over bundles, ignoring NaN; ``n`` = number of bundles."""
    out = {m: float(np.nanmean([r[m] for r in rows])) if any(np.isfinite(r[m]) for r in rows) else float("nan")
           for m in METRICS}
    out["n"] = len(rows)
    return out
