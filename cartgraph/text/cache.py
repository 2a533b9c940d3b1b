"""An on-disk cache of text vectors, shared safely between processes.

Keyed by (model identity, hash of the text): re-encoding an unchanged catalogue costs
a hash and a lookup per text, and the model is not even loaded when every text hits.

Storage choice — one SQLite file per model identity, in WAL mode:

* **Atomic**: every :meth:`EmbeddingCache.put` is one transaction. A process killed
  mid-write leaves the file as it was before that transaction (SQLite rolls the
  incomplete WAL frames back on the next open), never a half-written vector.
* **Shared**: WAL lets readers proceed while one process writes; concurrent writers
  wait on SQLite's lock (``busy_timeout``) instead of failing, and ``INSERT OR
  IGNORE`` makes two processes writing the same texts harmless.
* **Cheap**: the standard library only, lookups by primary key in bulk; a
  temp-file-per-shard layout would need its own index and compaction.

Not for network file systems (SQLite's locking is unreliable there): point
``$CARTGRAPH_CACHE_DIR`` at a local disk.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["EmbeddingCache", "default_cache_dir", "text_key"]

_CHUNK = 500
"""Keys per ``IN (...)`` query (below SQLite's bound-parameter limit)."""

_LOOKUP_CHUNK = 30_000
"""Keys per query in :meth:`EmbeddingCache.lookup` (SQLite ≥ 3.32 allows 32,766 parameters)."""


def default_cache_dir() -> Path:
    """``$CARTGRAPH_CACHE_DIR`` if set, else ``~/.cache/cartgraph``."""
    value = os.environ.get("CARTGRAPH_CACHE_DIR")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "cartgraph"


def text_key(text: str) -> bytes:
    """16-byte BLAKE2b digest of the UTF-8 text (collisions are not a practical concern)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class EmbeddingCache:
    """Vectors of one model on disk: ``<folder>/text-vectors/<identity>.sqlite``.

    Args:
        identity: the model's identity key (see ``TextEncoder.identity``).
        folder: cache root; default :func:`default_cache_dir` (read when first used).

    Nothing is created until the first :meth:`put`.
    """

    def __init__(self, identity: str, folder: str | os.PathLike | None = None) -> None:
        self.identity = identity
        self.folder = None if folder is None else Path(folder)

    @property
    def path(self) -> Path:
        root = default_cache_dir() if self.folder is None else self.folder
        return root / "text-vectors" / f"{self.identity}.sqlite"

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID")
        return con

    def get(self, keys: Sequence[bytes], dim: int | None = None) -> dict[bytes, np.ndarray]:
        """The cached vectors among ``keys`` (float32, 1-D); missing keys are absent.

        A damaged or unreadable cache file is reported with a warning and treated as
        empty: the cache may only ever save work, never make encoding fail.
        """
        if not keys or not self.path.exists():
            return {}
        found: dict[bytes, np.ndarray] = {}
        try:
            con = self._connect()
            try:
                for start in range(0, len(keys), _CHUNK):
                    chunk = list(keys[start:start + _CHUNK])
                    marks = ",".join("?" * len(chunk))
                    for key, blob in con.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", chunk):
                        vec = np.frombuffer(blob, dtype=np.float32)
                        if dim is None or len(vec) == dim:
                            found[key] = vec
            finally:
                con.close()
        except sqlite3.Error as e:
            warnings.warn(f"text vector cache {self.path} is unreadable ({e}); encoding without it", stacklevel=3)
            return {}
        return found

    def lookup(self, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        """Vectorised :meth:`get`: ``(found, vectors)`` where ``found`` is a bool mask over
        ``keys`` (shape ``(n,)``) and ``vectors`` holds the found ones in key order,
        shape ``(found.sum(), dim)`` (None when nothing is found).

        Blobs are joined and decoded with one ``frombuffer`` instead of one small array
        per row; on a warm 20,000-text re-encode that is most of the time spent.
        """
        found = np.zeros(len(keys), dtype=bool)
        if not keys or not self.path.exists():
            return found, None
        position = {key: i for i, key in enumerate(keys)}
        rows: list[tuple[bytes, bytes]] = []
        try:
            con = self._connect()
            try:
                for start in range(0, len(keys), _LOOKUP_CHUNK):
                    chunk = list(keys[start:start + _LOOKUP_CHUNK])
                    marks = ",".join("?" * len(chunk))
                    rows += con.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", chunk).fetchall()
            finally:
                con.close()
        except sqlite3.Error as e:
            warnings.warn(f"text vector cache {self.path} is unreadable ({e}); encoding without it", stacklevel=3)
            return found, None
        sizes = {len(blob) for _, blob in rows}
        if not rows or len(sizes) != 1:  # empty, or vectors of mixed sizes (a damaged file): use the slow path
            hits = self.get(keys)
            if not hits:
                return found, None
            found[[position[k] for k in hits]] = True
            return found, np.stack([hits[k] for k in np.asarray(keys, dtype=object)[found]])
        where = np.fromiter((position[key] for key, _ in rows), dtype=np.int64, count=len(rows))
        matrix = np.frombuffer(b"".join(blob for _, blob in rows), dtype=np.float32).reshape(len(rows), -1)
        found[where] = True
        ordered = np.empty_like(matrix)
        ordered[np.searchsorted(np.flatnonzero(found), where)] = matrix
        return found, ordered

    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store ``vectors[i]`` under ``keys[i]`` in one transaction (existing keys kept)."""
        if len(keys) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = self._connect()
            try:
                con.execute("BEGIN IMMEDIATE")
                con.executemany("INSERT OR IGNORE INTO vectors (key, vec) VALUES (?, ?)",
                                zip(keys, (row.tobytes() for row in vectors)))
                con.execute("COMMIT")
            finally:
                con.close()
        except sqlite3.Error as e:
            warnings.warn(f"could not write text vector cache {self.path} ({e}); vectors not cached", stacklevel=3)

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        con = self._connect()
        try:
            return int(con.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
        finally:
            con.close()

    def clear(self) -> None:
        """Delete this model's cache file (and its WAL side files)."""
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)
