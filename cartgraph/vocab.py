"""External string ids outside, dense integer indices inside.

One :class:`Vocabulary` per entity type (users, items, bundles, categories). Indices
follow the *sorted* external ids (numerically when every id is an integer, else as
strings), so that "ties broken by the lower index" means "by the lower original id",
as the evaluation protocol requires, and the mapping does not depend on file order.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from cartgraph.errors import ConfigError

__all__ = ["Vocabulary"]


def _natural_order(ids: np.ndarray) -> np.ndarray:
    """Sort unique string ids numerically if all are integers, else lexically."""
    if len(ids) == 0:
        return ids
    numeric = pd.to_numeric(pd.Series(ids), errors="coerce")
    if numeric.notna().all() and (numeric == numeric.round()).all():
        order = np.lexsort((ids, numeric.to_numpy()))
        return ids[order]
    return np.sort(ids)


class Vocabulary:
    """A bijection between external ids (``str``) and indices ``0..n-1``.

    Args:
        ids: external ids; duplicates are removed and the rest sorted naturally.
        name: the entity type (``"item"``, ``"user"`` ...), used in error messages.
    """

    def __init__(self, ids: Iterable[Any], name: str = "id") -> None:
        arr = pd.unique(pd.Series(list(ids) if not isinstance(ids, (np.ndarray, pd.Series, pd.Index)) else ids, dtype=object).astype(str))
        self.name = name
        self.ids: np.ndarray = _natural_order(np.asarray(arr, dtype=object))
        self._index = pd.Index(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, external: object) -> bool:
        return str(external) in self._index

    def __repr__(self) -> str:
        return f"Vocabulary(name={self.name!r}, size={len(self)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and np.array_equal(self.ids, other.ids)

    def index(self, external: Any) -> int:
        """Index of one external id; raises :class:`ConfigError` naming it if unknown."""
        key = str(external)
        try:
            return int(self._index.get_loc(key))
        except KeyError:
            raise ConfigError(f"unknown {self.name} id {key!r} ({len(self)} {self.name}s known)") from None

    def indices(self, externals: Iterable[Any], *, missing: str = "raise") -> np.ndarray:
        """Indices of many external ids, shape ``(n,)`` int64.

        Args:
            missing: ``"raise"`` (default) or ``"ignore"`` (unknown ids map to -1).
        """
        keys = pd.Index(pd.Series(list(externals) if not isinstance(externals, (np.ndarray, pd.Series, pd.Index)) else externals, dtype=object).astype(str))
        out = self._index.get_indexer(keys).astype(np.int64)
        if missing == "raise" and (out < 0).any():
            bad = keys[out < 0][:3].tolist()
            raise ConfigError(f"unknown {self.name} ids {bad} ({int((out < 0).sum())} unknown, {len(self)} known)")
        if missing not in ("raise", "ignore"):
            raise ConfigError(f"missing must be 'raise' or 'ignore', got {missing!r}")
        return out

    def external(self, indices: int | Iterable[int]) -> Any:
        """External id(s) for index or indices (scalar in, scalar out)."""
        if isinstance(indices, (int, np.integer)):
            return str(self.ids[int(indices)])
        return self.ids[np.asarray(indices, dtype=np.int64)]
