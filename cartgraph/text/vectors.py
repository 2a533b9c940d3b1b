"""Item vectors from item text, and user vectors from behaviour.

A user's vector is the normalised weighted sum of the vectors of the items they
touched. Each event weighs ``w[kind] * 0.5 ** (age / half_life)``: a purchase says
more than a view, and last week says more than last year. ``age`` is counted back
from the newest event in the data (or a given reference time); events without a
time are not decayed. Quantities are ignored on purpose (a wholesaler's 1,200
tea lights are one signal, not 1,200).
"""
from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, DataError, described
from cartgraph.schema import EVENT_KINDS
from cartgraph.text.encoder import TextEncoder
from cartgraph.text.item_text import ItemTextTemplate, item_texts
from cartgraph.vocab import Vocabulary

__all__ = ["UserVectorConfig", "item_vectors", "user_vectors", "events_vector", "normalize_rows"]

_DEFAULT_WEIGHTS = {"view": 1.0, "click": 2.0, "cart": 4.0, "purchase": 8.0}


@dataclasses.dataclass(frozen=True)
class UserVectorConfig:
    """How events become a user vector.

    Args:
        weights: weight per event kind (default view 1, click 2, cart 4, purchase 8);
            kinds left out weigh 0.
        half_life_days: an event this many days older than the reference counts
            half; ``None`` disables decay.
        reference_ts: "now" for the decay; default the newest event's time.
    """

    weights: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(_DEFAULT_WEIGHTS))
    half_life_days: float | None = 90.0
    reference_ts: pd.Timestamp | None = None

    def __post_init__(self) -> None:
        bad = sorted(set(self.weights) - set(EVENT_KINDS))
        if bad:
            raise ConfigError(f"UserVectorConfig.weights: unknown event kinds {bad}; valid: {list(EVENT_KINDS)}")
        if any(not np.isfinite(w) or w < 0 for w in self.weights.values()):
            raise ConfigError(f"UserVectorConfig.weights must be finite and >= 0, got {dict(self.weights)}")
        if self.half_life_days is not None and not self.half_life_days > 0:
            raise ConfigError(f"UserVectorConfig.half_life_days must be > 0 or None, got {self.half_life_days!r}")
        object.__setattr__(self, "weights", types.MappingProxyType(dict(self.weights)))

    def event_weights(self, kinds: pd.Series, ts: pd.Series, reference: pd.Timestamp | None) -> np.ndarray:
        """Weight of each event, shape ``(n,)`` float64."""
        w = kinds.astype(str).map(lambda k: self.weights.get(k, 0.0)).to_numpy(dtype=np.float64)
        if self.half_life_days is None or reference is None or pd.isna(reference):
            return w
        age_days = (reference - pd.to_datetime(ts)).dt.total_seconds().to_numpy() / 86400.0
        decay = np.where(np.isfinite(age_days), 0.5 ** (np.maximum(age_days, 0.0) / self.half_life_days), 1.0)
        return w * decay


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def item_vectors(dataset: Dataset, encoder: TextEncoder | None = None,
                 template: ItemTextTemplate | None = None) -> np.ndarray:
    """Text vectors of every item, shape ``(n_items, dim)``, rows in item-index order."""
    encoder = encoder or TextEncoder()
    order = dataset.item_vocab.indices(dataset.items["item_id"].to_numpy())
    texts = item_texts(dataset.items, template)
    vecs = encoder.encode(texts)
    out = np.empty_like(vecs)
    out[order] = vecs
    return out


def user_vectors(dataset: Dataset, item_vecs: np.ndarray, config: UserVectorConfig | None = None,
                 events: pd.DataFrame | None = None) -> np.ndarray:
    """Behaviour vectors of every user, shape ``(n_users, dim)``, user-index order.

    Args:
        item_vecs: ``(n_items, dim)`` in item-index order (see :func:`item_vectors`).
        events: a subset of the dataset's events (e.g. a training split); default all.

    Users without (weighted) events get a zero vector.
    """
    config = config or UserVectorConfig()
    _check_item_vecs(item_vecs, dataset.n_items)
    ev = dataset.events if events is None else events
    ev = ev[ev["user_id"].notna()]
    reference = config.reference_ts if config.reference_ts is not None else dataset.events["ts"].max()
    w = config.event_weights(ev["kind"], ev["ts"], reference)
    rows = dataset.user_vocab.indices(ev["user_id"].to_numpy())
    cols = dataset.item_vocab.indices(ev["item_id"].to_numpy())
    weights = sp.csr_matrix((w, (rows, cols)), shape=(dataset.n_users, dataset.n_items))
    return normalize_rows(weights @ item_vecs.astype(np.float64))


def events_vector(events: Any, item_vecs: np.ndarray, item_vocab: Vocabulary,
                  config: UserVectorConfig | None = None) -> np.ndarray:
    """The vector of one (new) user from a handful of events, shape ``(dim,)``.

    Args:
        events: item ids (equal weights), ``(item_id, kind)`` pairs, or a DataFrame
            with ``item_id`` and optional ``kind`` / ``ts`` columns.
        item_vecs, item_vocab: the catalogue's vectors and vocabulary.
    """
    config = config or UserVectorConfig()
    frame = _events_frame(events)
    unknown = ~frame["item_id"].astype(str).isin(item_vocab.ids)
    if unknown.any():
        raise DataError("events", "item ids of the fitted catalogue", frame["item_id"][unknown].iloc[0],
                        row=int(np.flatnonzero(unknown.to_numpy())[0]), row_label="index")
    if "kind" in frame:
        ts = frame["ts"] if "ts" in frame else pd.Series(pd.NaT, index=frame.index)
        reference = config.reference_ts if config.reference_ts is not None else pd.to_datetime(ts).max()
        w = config.event_weights(frame["kind"], ts, reference)
    else:
        w = np.ones(len(frame))
    idx = item_vocab.indices(frame["item_id"].to_numpy())
    vec = (w[:, None] * item_vecs[idx].astype(np.float64)).sum(axis=0)
    return normalize_rows(vec[None, :])[0]


def _events_frame(events: Any) -> pd.DataFrame:
    if isinstance(events, pd.DataFrame):
        if "item_id" not in events:
            raise DataError("events", "a DataFrame with an 'item_id' column", list(events.columns))
        frame = events.reset_index(drop=True)
    elif isinstance(events, (str, bytes)) or not isinstance(events, Sequence):
        raise DataError("events", "a list of item ids, (item_id, kind) pairs, or a DataFrame", events)
    elif events and all(isinstance(e, (tuple, list)) for e in events):
        frame = pd.DataFrame([tuple(e)[:2] for e in events], columns=["item_id", "kind"])
    else:
        frame = pd.DataFrame({"item_id": list(events)})
    if len(frame) == 0:
        raise DataError("events", "at least one event", described("no events"))
    if "kind" in frame:
        bad = ~frame["kind"].astype(str).isin(EVENT_KINDS)
        if bad.any():
            raise DataError("events", f"kind in {list(EVENT_KINDS)}", frame["kind"][bad].iloc[0],
                            row=int(np.flatnonzero(bad.to_numpy())[0]), row_label="index", column="kind")
    return frame


def _check_item_vecs(item_vecs: np.ndarray, n_items: int) -> None:
    if item_vecs.ndim != 2 or item_vecs.shape[0] != n_items:
        raise ConfigError(f"item_vecs must have shape (n_items={n_items}, dim), got {item_vecs.shape}")
