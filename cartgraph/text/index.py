"""A content-based recommender on text vectors; it serves cold-start items and users.

:class:`TextIndex` follows the project's model contract (``fit(dataset) -> self``;
``recommend(users, k, exclude_seen) -> (items, scores)`` with user and item
*indices*, batch-first, ties by lower item index) and adds the cold-start verbs:

* :meth:`TextIndex.similar_items` — neighbours of a catalogue item, of a *new* item
  given as a row (title, brand ...) that has no interactions, or of a free text;
* :meth:`TextIndex.recommend_for_query` — "gifts for a coffee lover";
* :meth:`TextIndex.recommend_for_events` — a new user with a handful of events.

Scores are cosine similarities (all vectors have unit length).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, DataError, NotFittedError
from cartgraph.evaluation.topk import topk
from cartgraph.text.encoder import TextEncoder
from cartgraph.text.item_text import ItemTextTemplate, price_bands
from cartgraph.text.vectors import UserVectorConfig, events_vector, item_vectors, user_vectors

__all__ = ["TextIndex"]

_USER_CHUNK = 1024
"""Users scored per matrix product (bounds the ``(chunk, n_items)`` score block)."""


class TextIndex:
    """Nearest items by text vectors, for known and new items and users.

    Args:
        encoder: the :class:`TextEncoder` (default: the bundled MiniLM on CPU/GPU).
        template: item → text (default :class:`ItemTextTemplate`).
        user_config: behaviour weights and recency half-life for user vectors.

    Learned state (after :meth:`fit`): ``item_vectors_`` ``(n_items, dim)``,
    ``user_vectors_`` ``(n_users, dim)``, ``item_vocab_``, ``user_vocab_``,
    ``seen_`` (CSR user × item).
    """

    def __init__(self, encoder: TextEncoder | None = None, template: ItemTextTemplate | None = None,
                 user_config: UserVectorConfig | None = None) -> None:
        self.encoder = encoder
        self.template = template
        self.user_config = user_config

    def fit(self, dataset: Dataset, events: Any = None) -> "TextIndex":
        """Encode the catalogue and aggregate user vectors from ``events`` (default all)."""
        self.encoder_ = self.encoder or TextEncoder()
        self.template_ = self.template or ItemTextTemplate()
        self.item_vectors_ = item_vectors(dataset, self.encoder_, self.template_)
        self.user_vectors_ = user_vectors(dataset, self.item_vectors_, self.user_config, events=events)
        self.item_vocab_ = dataset.item_vocab
        self.user_vocab_ = dataset.user_vocab
        self.seen_ = dataset.interactions(events=events)
        self._prices = dataset.items["price"].to_numpy(dtype=np.float64)
        return self

    # ------------------------------------------------------------------ contract
    def recommend(self, users: int | np.ndarray, k: int = 10, exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item indices and cosine scores for user indices.

        One user index gives 1-D arrays, an array of them 2-D ``(n, k)``. Seen items
        are excluded by default; users without events score every item 0 (ties:
        lower item index first).
        """
        self._check_fitted()
        single = np.ndim(users) == 0
        u = np.atleast_1d(np.asarray(users, dtype=np.int64))
        if len(u) and (u.min() < 0 or u.max() >= len(self.user_vectors_)):
            raise ConfigError(f"user indices must be in [0, {len(self.user_vectors_)}), got {u.min()}..{u.max()}")
        k = _check_k(k, len(self.item_vectors_))
        items = np.empty((len(u), k), dtype=np.int64)
        scores = np.empty((len(u), k), dtype=np.float32)
        for start in range(0, len(u), _USER_CHUNK):
            block = u[start:start + _USER_CHUNK]
            s = self.user_vectors_[block] @ self.item_vectors_.T
            if exclude_seen:
                seen = self.seen_[block]
                s[seen.nonzero()] = -np.inf
            items[start:start + len(block)], scores[start:start + len(block)] = _topk(s, k)
        return (items[0], scores[0]) if single else (items, scores)

    # ------------------------------------------------------------------ cold start
    def similar_items(self, items: Any, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Items most similar to each query item, by text; 1-D for one, 2-D for a list.

        Each query is one of: an ``int`` (item index), a ``str`` that is a catalogue
        item id, a ``dict`` item row for a *new* item (``title``, ``brand``,
        ``category_path`` ...; rendered with the template), or any other ``str``
        (encoded as free text). A catalogue item is never its own neighbour.
        """
        self._check_fitted()
        single = isinstance(items, (int, np.integer, str, Mapping))
        queries = [items] if single else list(items)
        k = _check_k(k, len(self.item_vectors_))
        vecs, selves = self._query_vectors(queries)
        s = vecs @ self.item_vectors_.T
        own = selves >= 0
        s[np.flatnonzero(own), selves[own]] = -np.inf
        idx, sc = _topk(s, k)
        return (idx[0], sc[0]) if single else (idx, sc)

    def recommend_for_query(self, query: str | list[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Items for a free-text need ("gifts for a coffee lover"); 1-D for one str."""
        self._check_fitted()
        single = isinstance(query, str)
        q = self.encoder_.encode([query] if single else list(query))
        idx, sc = _topk(q @ self.item_vectors_.T, _check_k(k, len(self.item_vectors_)))
        return (idx[0], sc[0]) if single else (idx, sc)

    def recommend_for_events(self, events: Any, k: int = 10, exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Items for a new user from a handful of events (see :func:`events_vector`); 1-D."""
        self._check_fitted()
        vec = events_vector(events, self.item_vectors_, self.item_vocab_, self.user_config)
        s = (vec @ self.item_vectors_.T)[None, :]
        if exclude_seen:
            ids = events["item_id"] if hasattr(events, "columns") else [e[0] if isinstance(e, (tuple, list)) else e for e in events]
            s[0, self.item_vocab_.indices(list(ids))] = -np.inf
        idx, sc = _topk(s, _check_k(k, len(self.item_vectors_)))
        return idx[0], sc[0]

    # ------------------------------------------------------------------ helpers
    def _query_vectors(self, queries: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of mixed queries and, per query, its own item index (-1 if new)."""
        selves = np.full(len(queries), -1, dtype=np.int64)
        texts: dict[int, str] = {}
        for i, q in enumerate(queries):
            if isinstance(q, (int, np.integer)) and not isinstance(q, bool):
                if not 0 <= q < len(self.item_vectors_):
                    raise ConfigError(f"item index {q} out of range [0, {len(self.item_vectors_)})")
                selves[i] = q
            elif isinstance(q, str) and q in self.item_vocab_:
                selves[i] = self.item_vocab_.index(q)
            elif isinstance(q, Mapping):
                texts[i] = self.template_.render(q, self._band(q.get("price")))
            elif isinstance(q, str):
                texts[i] = q
            else:
                raise DataError("similar_items(items)", "an item index, item id, item dict or text", q,
                                row=i, row_label="index")
        vecs = self.item_vectors_[np.maximum(selves, 0)].copy()
        if texts:
            vecs[list(texts)] = self.encoder_.encode(list(texts.values()))
        return vecs, selves

    def _band(self, price: Any) -> str | None:
        """Price band of a new item against the fitted catalogue's prices."""
        if price is None:
            return None
        bands = price_bands(np.append(self._prices, float(price)), self.template_.band_names)
        return bands[-1]

    def _check_fitted(self) -> None:
        if not hasattr(self, "item_vectors_"):
            raise NotFittedError("TextIndex is not fitted; call fit(dataset) first")


def _check_k(k: Any, n_items: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    return min(int(k), n_items)


def _topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-k, ties by lower index (the project's ``evaluation.topk``)."""
    idx, vals = topk(scores, k)
    return idx, vals.astype(np.float32)
