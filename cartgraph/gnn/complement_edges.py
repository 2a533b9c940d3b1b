"""What every complement model serves the same way: COMPLEMENTS edges and index checks.

A complement model (:class:`~cartgraph.gnn.ComplementModel`,
:class:`~cartgraph.gnn.ComplementRanker`) implements ``complements(items, k)`` and holds
``item_ids_`` and ``name``; this mixin turns that into the edge table and store writes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from cartgraph.errors import ConfigError
from cartgraph.gnn.state_file import construct, load_state

__all__ = ["ComplementEdges"]


class ComplementEdges:
    """Mixin: :meth:`top_edges`, :meth:`write` and item-index checking."""

    item_ids_: np.ndarray
    name: str

    def complements(self, items: ArrayLike, k: int = 10) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def top_edges(self, m: int = 10) -> pd.DataFrame:
        """The ``m`` best COMPLEMENTS edges of every item: columns ``src``, ``dst``
        (external item ids), ``score``, and ``src_index``, ``dst_index``; best first per item
        (an item with fewer than ``m`` partners has fewer rows)."""
        idx, vals = self.complements(np.arange(len(self.item_ids_)), k=m)
        src = np.repeat(np.arange(len(idx)), idx.shape[1])
        dst = idx.ravel()
        keep = (dst >= 0) & np.isfinite(vals.ravel())
        src, dst, score = src[keep], dst[keep], vals.ravel()[keep]
        return pd.DataFrame({"src": self.item_ids_[src], "dst": self.item_ids_[dst],
                             "score": score.astype(np.float64), "src_index": src, "dst_index": dst})

    def write(self, store, m: int = 10, *, batch_size: int = 5000) -> int:
        """Upsert the top-``m`` COMPLEMENTS edges per item into ``store`` (a
        :class:`~cartgraph.graph.GraphStore` holding these items) with ``model=self.name``;
        returns the number of edges written."""
        edges = self.top_edges(m)
        return store.upsert_complements(edges[["src", "dst", "score"]], model=self.name, batch_size=batch_size)

    @classmethod
    def _restore(cls, path, fmt: str) -> tuple["ComplementEdges", dict]:
        """A model rebuilt from the settings and item ids of a file :func:`save_state` wrote
        in format ``fmt`` (version 1), and the file's whole state for the rest."""
        state = load_state(path, fmt, 1)
        model = construct(cls, state["settings"])
        model.item_ids_ = np.asarray(state["item_ids"], dtype=object)
        return model, state

    def _indices(self, values: ArrayLike, arg: str) -> np.ndarray:
        v = np.asarray(values)
        n = len(self.item_ids_)
        if v.size and (not np.issubdtype(v.dtype, np.integer) or v.min() < 0 or v.max() >= n):
            raise ConfigError(f"{arg} must be item indices in 0..{n - 1}, got {values!r}")
        return v.astype(np.int64)
