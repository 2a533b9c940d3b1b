"""An on-disk cache of text vectors, shared safely between processes.

Keyed by (model identity, hash of the text): re-encoding an unchanged catalogue costs
a hash and a lookup per text, and the model is not even loaded when every text hits.

Storage — per model identity a folder of immutable segment files
(:mod:`cartgraph.text._segment`: sorted 16-byte keys + a float32 matrix, memory-mapped):

* **Fast**: a lookup is one ``np.searchsorted`` per segment over all the query keys and
  one fancy-index gather of the rows found; no per-row Python work.
* **Atomic**: each :meth:`EmbeddingCache.put` writes one new segment under a temporary
  name, fsyncs it and renames it into place. A process killed mid-write leaves only a
  ``.tmp`` file that readers never look at (removed by a later compaction).
* **Shared**: segments are never modified, and each writer picks a unique name, so two
  processes writing at once each add their own segment — nothing is lost or
  overwritten. A key already stored is not stored again; a key written by two racing
  processes may sit in two segments, and the older segment (by name) answers.
* **Compacted**: when a folder holds more than ``_MAX_SEGMENTS`` segments, the writer
  that notices merges the smallest ones into one (under a non-blocking file lock; a
  second compactor simply skips). The merged segment is durable before its inputs
  are deleted, and a reader that finds a listed segment gone lists again.
* **Damage** (a truncated file, a wrong header, a checksum mismatch) is reported with a
  warning; the segment is set aside as ``*.damaged`` and its vectors are simply
  re-encoded. The cache can only ever save work, never make encoding fail or return
  another text's vector.

Older versions kept one SQLite file per model (``text-vectors/<identity>.sqlite``);
it is migrated once, on the first use of that model's cache, into a segment and then
deleted (an unreadable one is renamed ``*.sqlite.unreadable`` and ignored).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from cartgraph.text._segment import KEY_SIZE, Segment, SegmentDamaged, key_array, read_segment, write_segment

__all__ = ["EmbeddingCache", "default_cache_dir", "text_key"]

_SUFFIX = ".seg"
_MAX_SEGMENTS = 16
"""More segments than this in a folder triggers a compaction ..."""
_KEEP_SEGMENTS = 8
"""... which merges the smallest ones so that this many remain."""
_STALE_TMP_S = 3600.0
"""Temporary files older than this are leftovers of a crashed writer (removed when compacting)."""
_RETRIES = 20
"""Listings tried when segments keep vanishing under a reader (a compaction in progress)."""


def default_cache_dir() -> Path:
    """``$CARTGRAPH_CACHE_DIR`` if set, else ``~/.cache/cartgraph``."""
    value = os.environ.get("CARTGRAPH_CACHE_DIR")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "cartgraph"


def text_key(text: str) -> bytes:
    """16-byte BLAKE2b digest of the UTF-8 text (collisions are not a practical concern)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class EmbeddingCache:
    """Vectors of one model on disk: segment files in ``<folder>/text-vectors/<identity>/``.

    Args:
        identity: the model's identity key (see ``TextEncoder.identity``).
        folder: cache root; default :func:`default_cache_dir` (read when first used).

    Nothing is created until the first :meth:`put`. All vectors of one identity share
    one dimension; a :meth:`put` of another dimension raises ``ValueError``.
    """

    def __init__(self, identity: str, folder: str | os.PathLike | None = None) -> None:
        self.identity = identity
        self.folder = None if folder is None else Path(folder)

    @property
    def path(self) -> Path:
        """The folder holding this model's segment files."""
        root = default_cache_dir() if self.folder is None else self.folder
        return root / "text-vectors" / self.identity

    @property
    def _legacy_path(self) -> Path:
        return self.path.with_name(f"{self.identity}.sqlite")

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.path)!r})"

    # ------------------------------------------------------------------ reading
    def get(self, keys: Sequence[bytes], dim: int | None = None) -> dict[bytes, np.ndarray]:
        """The cached vectors among ``keys`` (float32, shape ``(dim,)``); missing keys are
        absent; with ``dim`` given, vectors of another size count as missing."""
        found, vectors = self.lookup(keys)
        if vectors is None or (dim is not None and vectors.shape[1] != dim):
            return {}
        hits = [k for k, f in zip(keys, found.tolist()) if f]
        return dict(zip(hits, vectors))

    def lookup(self, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        """Vectorised :meth:`get`: ``(found, vectors)`` where ``found`` is a bool mask over
        ``keys`` (shape ``(n,)``) and ``vectors`` holds the found ones in key order,
        shape ``(found.sum(), dim)`` float32 (None when nothing is found).

        Raises:
            ValueError: a key is not 16 bytes (:func:`text_key` makes them).
        """
        query = key_array(keys)
        found = np.zeros(len(query), dtype=bool)
        if not len(query):
            return found, None
        out, found = self._search(query, self._open_all(), gather=True)
        if out is None or not found.any():
            return found, None
        return found, out if found.all() else out[found]

    def __len__(self) -> int:
        """Distinct keys stored."""
        segments = self._open_all()
        if len(segments) <= 1:
            return sum(len(s) for s in segments)
        return len(np.unique(np.concatenate([s.keys for s in segments])))

    def _search(self, query: np.ndarray, segments: list[Segment],
                gather: bool) -> tuple[np.ndarray | None, np.ndarray]:
        """``(vectors, found)``: per query key its row (shape ``(n, dim)``, rows not found
        are garbage; None if no segment or ``gather`` is False) and the found mask.

        Segments are searched in name order (oldest first), so the oldest answer wins."""
        found = np.zeros(len(query), dtype=bool)
        out = None
        pending = np.arange(len(query))
        dim = segments[0].dim if segments else None
        for seg in segments:
            if seg.dim != dim:
                warnings.warn(f"text vector cache segment {seg.path} holds vectors of dim {seg.dim}, the others "
                              f"{dim}; skipped", stacklevel=4)
                continue
            if not len(seg) or not len(pending):
                continue
            wanted = query[pending]
            rows = seg.rows_of(wanted)
            hit = rows >= 0
            if gather and out is None and hit.all():
                out = seg.vectors[rows]  # the common case, every key in the first segment: one copy
            elif gather:
                if out is None:
                    out = np.empty((len(query), dim), dtype=np.float32)
                out[pending[hit]] = seg.vectors[rows[hit]]
            found[pending[hit]] = True
            pending = pending[~hit]
        return None if out is None else np.asarray(out), found

    def _open_all(self, migrate: bool = True) -> list[Segment]:
        """Every readable segment, oldest first; damaged ones are warned about and set aside."""
        if migrate and self._legacy_path.exists():
            self._migrate_legacy()
        for _ in range(_RETRIES):
            try:
                return [seg for seg in map(self._open, self._names()) if seg is not None]
            except FileNotFoundError:  # merged away since the listing: list again
                continue
        warnings.warn(f"text vector cache {self.path} kept changing while read; encoding without it", stacklevel=3)
        return []

    def _names(self) -> list[str]:
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        except OSError as e:
            warnings.warn(f"text vector cache {self.path} is unreadable ({e}); encoding without it", stacklevel=4)
            return []
        return sorted(n for n in names if n.endswith(_SUFFIX) and not n.startswith("."))

    def _open(self, name: str, verify_vectors: bool = False) -> Segment | None:
        path = self.path / name
        try:
            return read_segment(path, verify_vectors=verify_vectors)
        except SegmentDamaged as e:
            _set_aside(path, f"is damaged ({e})")
        except FileNotFoundError:
            raise
        except OSError as e:
            warnings.warn(f"text vector cache segment {path} is unreadable ({e}); skipped", stacklevel=5)
        return None

    # ------------------------------------------------------------------ writing
    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store ``vectors[i]`` (shape ``(n, dim)``) under ``keys[i]`` as one new segment.

        Keys already stored keep their vector, and so does the first of repeated keys.
        An I/O error (disk full, no permission) is a warning: the vectors are just not cached.

        Raises:
            ValueError: ``keys`` and ``vectors`` disagree in length, a key is not 16
                bytes, or ``dim`` differs from the vectors already stored.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(keys):
            raise ValueError(f"vectors must have shape ({len(keys)}, dim) to match keys, got {vectors.shape}")
        if not len(keys):
            return
        query, first = np.unique(key_array(keys), return_index=True)
        try:
            self._store(query, vectors[first], self._open_all())
        except OSError as e:
            warnings.warn(f"could not write text vector cache {self.path} ({e}); vectors not cached", stacklevel=2)

    def _store(self, keys: np.ndarray, vectors: np.ndarray, segments: list[Segment]) -> None:
        """Write the rows of ``keys`` (sorted, unique) not in ``segments`` as a new segment."""
        if segments and segments[0].dim != vectors.shape[1]:
            raise ValueError(f"vectors have dim {vectors.shape[1]} but the cache {self.path} holds "
                             f"dim {segments[0].dim}; use another identity for another model")
        new = ~self._search(keys, segments, gather=False)[1]
        if not new.any():
            return
        self.path.mkdir(parents=True, exist_ok=True)
        write_segment(self.path / _new_name(), keys[new], vectors[new])
        if len(self._names()) > _MAX_SEGMENTS:
            try:
                self.compact(_KEEP_SEGMENTS)
            except OSError as e:  # the vectors are stored; only the merge failed (inputs kept)
                warnings.warn(f"could not compact text vector cache {self.path} ({e}); will retry", stacklevel=3)

    def compact(self, keep: int = 1) -> bool:
        """Merge the smallest segments into one so that at most ``keep`` remain.

        Holds a non-blocking lock: returns False (and does nothing) when another
        process is compacting, True otherwise. Every vector is kept (the oldest one of
        a repeated key); inputs are deleted only once the merged segment is durable.
        """
        if keep < 1:
            raise ValueError(f"keep must be ≥ 1, got {keep!r}")
        if not self.path.is_dir():
            return True
        with _lock(self.path / ".compact.lock") as held:
            if not held:
                return False
            _remove_stale_tmp(self.path)
            try:
                self._merge(self._names(), keep)
            except FileNotFoundError:  # another compactor got there first (no lock support): nothing to do
                pass
            return True

    def _merge(self, names: list[str], keep: int) -> None:
        """Merge the ``len(names) - keep + 1`` smallest of ``names`` (in name order, so the
        oldest answer of a repeated key wins) into one segment named after the oldest."""
        if len(names) <= keep:
            return
        sizes = {name: (self.path / name).stat().st_size for name in names}
        chosen = sorted(sorted(names, key=lambda n: (sizes[n], n))[:len(names) - keep + 1])
        segments = [seg for seg in (self._open(n, verify_vectors=True) for n in chosen) if seg is not None]
        if segments:
            keys, first = np.unique(np.concatenate([s.keys for s in segments]), return_index=True)
            vectors = np.concatenate([s.vectors for s in segments])[first]
            write_segment(self.path / _new_name(stamp=chosen[0][:20], tag="m"), keys, vectors)
        for seg in segments:
            seg.path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Delete this model's cache folder (and an old SQLite file, if any)."""
        shutil.rmtree(self.path, ignore_errors=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self._legacy_path}{suffix}").unlink(missing_ok=True)

    def _migrate_legacy(self) -> None:
        """Copy an older version's SQLite file into a segment once, then delete it."""
        import sqlite3

        legacy = self._legacy_path
        try:
            con = sqlite3.connect(legacy, timeout=60.0)
            try:
                rows = con.execute("SELECT key, vec FROM vectors").fetchall()
            finally:
                con.close()
        except sqlite3.Error as e:
            with contextlib.suppress(OSError):
                os.replace(legacy, f"{legacy}.unreadable")
            warnings.warn(f"old text vector cache {legacy} is unreadable ({e}); set aside as "
                          f"{legacy.name}.unreadable and ignored", stacklevel=5)
            return
        sizes = [len(v) for k, v in rows if len(k) == KEY_SIZE]
        if sizes:
            size = max(set(sizes), key=sizes.count)  # a damaged row of another size is dropped
            rows = [(k, v) for k, v in rows if len(k) == KEY_SIZE and len(v) == size]
            keys, first = np.unique(key_array([k for k, _ in rows]), return_index=True)
            vectors = np.frombuffer(b"".join(v for _, v in rows), dtype=np.float32).reshape(len(rows), -1)
            try:
                self._store(keys, vectors[first], self._open_all(migrate=False))
            except (OSError, ValueError) as e:
                warnings.warn(f"could not migrate old text vector cache {legacy} ({e}); ignored", stacklevel=5)
                return
        for suffix in ("", "-wal", "-shm"):
            Path(f"{legacy}{suffix}").unlink(missing_ok=True)


def _new_name(stamp: str | None = None, tag: str = "") -> str:
    """Unique, and sorting in write order: nanoseconds (or ``stamp``), process id, random suffix."""
    return f"{stamp or f'{time.time_ns():020d}'}-{os.getpid()}-{tag}{secrets.token_hex(4)}{_SUFFIX}"


def _set_aside(path: Path, why: str) -> None:
    warnings.warn(f"text vector cache segment {path} {why}; set aside as {path.name}.damaged and skipped",
                  stacklevel=6)
    with contextlib.suppress(OSError):
        os.replace(path, path.with_name(path.name + ".damaged"))


def _remove_stale_tmp(folder: Path) -> None:
    """Temporary files left by a crashed writer (old enough that no live writer owns them)."""
    cutoff = time.time() - _STALE_TMP_S
    for tmp in folder.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[bool]:
    """A non-blocking exclusive ``flock`` on ``path``: yields whether it was taken (always
    True where ``fcntl`` is missing: merging twice keeps every vector, only costs time)."""
    try:
        import fcntl
    except ImportError:
        yield True
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
