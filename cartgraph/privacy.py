"""Pseudonymous user ids: a keyed hash (HMAC-SHA256) applied at load time.

The same key always maps a raw id to the same pseudonym, so datasets loaded on
different days still join; without the key the raw id cannot be recovered or
confirmed by hashing guesses. The raw → pseudonym mapping is never written unless
``mapping_path`` is given.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import pandas as pd

from cartgraph.atomic import atomic_file
from cartgraph.errors import ConfigError

__all__ = ["pseudonymize", "pseudonym", "KEY_ENV"]

KEY_ENV = "CARTGRAPH_PSEUDONYM_KEY"
"""Environment variable read when the key argument is ``"env"``."""


def _key_bytes(key: str | bytes) -> bytes:
    if key == "env":
        value = os.environ.get(KEY_ENV)
        if not value:
            raise ConfigError(f"pseudonymize key 'env' given but environment variable {KEY_ENV} is not set")
        key = value
    data = key.encode() if isinstance(key, str) else bytes(key)
    if len(data) < 16:
        raise ConfigError(f"pseudonymize key must be at least 16 bytes (got {len(data)}); use a long random secret")
    return data


def pseudonym(raw_id: str, key: str | bytes) -> str:
    """The pseudonym of one id: ``"u_"`` + first 24 hex digits of HMAC-SHA256(key, id)."""
    return "u_" + hmac.new(_key_bytes(key), str(raw_id).encode(), hashlib.sha256).hexdigest()[:24]


def pseudonymize(dataset, key: str | bytes, mapping_path: str | Path | None = None):
    """Replace every user id of ``dataset`` (users, events, user_bundles) by its pseudonym.

    Args:
        key: the secret (≥ 16 bytes), or ``"env"`` to read :data:`KEY_ENV`.
        mapping_path: if given, a CSV ``raw_user_id,user_id`` is written there
            (atomically); otherwise the mapping exists only in memory.
    Returns:
        A new :class:`~cartgraph.dataset.Dataset`.
    """
    secret = _key_bytes(key)
    raw = pd.Series(dataset.users["user_id"].unique(), dtype=object)
    mapping = dict(zip(raw, (pseudonym(r, secret) for r in raw)))
    if mapping_path is not None:
        with atomic_file(mapping_path, "w") as fh:
            pd.DataFrame({"raw_user_id": list(mapping), "user_id": list(mapping.values())}).to_csv(fh, index=False)

    def swap(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out["user_id"] = out["user_id"].map(lambda u: mapping.get(u) if u is not None else None)
        return out

    return dataset.replace(users=swap(dataset.users), events=swap(dataset.events),
                           user_bundles=swap(dataset.user_bundles), meta={**dataset.meta, "pseudonymized": True})
