"""One immutable segment file of the text-vector cache: sorted keys plus a float32 matrix.

Layout (little-endian), read with one ``np.memmap`` and two zero-copy views::

    bytes [0, 64)              header: magic b"CGTVSEG1", dim (u32), key size (u32, 16),
                               rows n (u64), CRC-32 of header fields + keys (u32),
                               CRC-32 of the vectors (u32), zero padding
    bytes [64, 64 + 16 n)      keys, shape (n,), dtype S16, strictly increasing
    bytes [64 + 16 n, end)     vectors, shape (n, dim), float32, row i belongs to key i

A segment is written once under a temporary name (flushed and fsynced) and renamed into
place, so a reader either sees all of it or none of it. Opening one checks the magic, the
key size, the exact file size and the CRC of the keys (cheap: 16 bytes a row); the CRC of
the vectors is checked when a segment is merged (:func:`read_segment` with
``verify_vectors=True``), where every byte is read anyway — a lookup reads only the
rows it returns.
"""
from __future__ import annotations

import functools
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cartgraph.atomic import atomic_file

__all__ = ["KEY_SIZE", "Segment", "SegmentDamaged", "key_array", "read_segment", "write_segment"]

KEY_SIZE = 16
"""Bytes per key (a 16-byte BLAKE2b digest of the text)."""

_MAGIC = b"CGTVSEG1"
_FIELDS = struct.Struct("<8sIIQ")  # magic, dim, key size, rows
_CRCS = struct.Struct("<II")  # keys (with the fields), vectors
_HEADER_SIZE = 64
_KEY_DTYPE = np.dtype(f"S{KEY_SIZE}")


class SegmentDamaged(ValueError):
    """A segment file whose header, size or checksum is not what was written."""


@dataclass(frozen=True)
class Segment:
    """An opened segment: ``keys`` shape ``(n,)`` S16 sorted, ``vectors`` shape ``(n, dim)``
    float32 (both views of one read-only memory map; indexing them copies)."""

    path: Path
    keys: np.ndarray
    vectors: np.ndarray
    vectors_crc: int

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def rows_of(self, query: np.ndarray) -> np.ndarray:
        """Per key of ``query`` (shape ``(m,)`` S16) its row here, or -1; shape ``(m,)`` int64.

        Searches on the keys' first 8 bytes as big-endian integers (sorted the same way
        as the bytes, and several times faster to compare than 16-byte strings), then
        checks the whole key; a segment where two keys share their first 8 bytes is
        searched on whole keys instead."""
        if not len(self.keys):
            return np.full(len(query), -1, dtype=np.int64)
        prefix = self._prefix
        if prefix is None:
            rows = np.searchsorted(self.keys, query)
        else:
            rows = np.searchsorted(prefix, _prefix(query))
        rows = np.minimum(rows, len(self.keys) - 1)
        return np.where(self.keys[rows] == query, rows, -1)

    @functools.cached_property
    def _prefix(self) -> np.ndarray | None:
        prefix = _prefix(self.keys)
        return prefix if (prefix[1:] != prefix[:-1]).all() else None

    def __len__(self) -> int:
        return len(self.keys)


def _prefix(keys: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each S16 key as a native uint64 (big-endian read: same order)."""
    return np.ascontiguousarray(keys).view(">u8")[::2].astype(np.uint64)


def key_array(keys, argument: str = "keys") -> np.ndarray:
    """``keys`` (a sequence of 16-byte ``bytes``, or an S16 array) as an array, shape ``(n,)`` S16.

    Raises:
        ValueError: a key is not 16 bytes (names ``argument`` and the first bad index).
    """
    if isinstance(keys, np.ndarray) and keys.dtype == _KEY_DTYPE:
        return keys
    keys = list(keys)
    if not keys:
        return np.empty(0, dtype=_KEY_DTYPE)
    try:
        lengths = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
        joined = b"".join(keys)
    except TypeError:
        bad = next(i for i, k in enumerate(keys) if not isinstance(k, bytes))
        raise ValueError(f"{argument}[{bad}] must be {KEY_SIZE} bytes (see text_key), got {type(keys[bad]).__name__}") from None
    if (lengths != KEY_SIZE).any():
        bad = int(np.flatnonzero(lengths != KEY_SIZE)[0])
        raise ValueError(f"{argument}[{bad}] must be {KEY_SIZE} bytes (see text_key), got {lengths[bad]} bytes")
    return np.frombuffer(joined, dtype=_KEY_DTYPE)


def write_segment(path: Path, keys: np.ndarray, vectors: np.ndarray) -> None:
    """Write ``keys`` (shape ``(n,)`` S16, strictly increasing) and ``vectors`` (shape
    ``(n, dim)``) to ``path`` atomically (temporary file, fsync, rename, fsync of the folder)."""
    vectors = np.ascontiguousarray(vectors, dtype="<f4")
    keys = np.ascontiguousarray(keys, dtype=_KEY_DTYPE)
    if vectors.ndim != 2 or len(vectors) != len(keys):
        raise ValueError(f"vectors must have shape ({len(keys)}, dim), got {vectors.shape}")
    fields = _FIELDS.pack(_MAGIC, vectors.shape[1], KEY_SIZE, len(keys))
    crcs = _CRCS.pack(zlib.crc32(keys.data, zlib.crc32(fields)), zlib.crc32(vectors.data))
    header = (fields + crcs).ljust(_HEADER_SIZE, b"\0")
    with atomic_file(path) as fh:
        fh.write(header)
        fh.write(keys.data)
        fh.write(vectors.data)
    _fsync_folder(path.parent)


def read_segment(path: Path, verify_vectors: bool = False) -> Segment:
    """Open the segment at ``path`` (memory-mapped, validated).

    Raises:
        FileNotFoundError: it vanished (merged away by another process): list again.
        SegmentDamaged: wrong magic or key size, a size that does not match the header
            (a truncated file), or a checksum mismatch.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < _HEADER_SIZE:
            raise SegmentDamaged(f"{size} bytes, shorter than the {_HEADER_SIZE}-byte header")
        head = fh.read(_HEADER_SIZE)
        magic, dim, key_size, n = _FIELDS.unpack_from(head)
        keys_crc, vectors_crc = _CRCS.unpack_from(head, _FIELDS.size)
        if magic != _MAGIC or key_size != KEY_SIZE or dim < 1:
            raise SegmentDamaged(f"not a cartgraph vector segment (header {head[:24]!r})")
        expected = _HEADER_SIZE + n * (KEY_SIZE + 4 * dim)
        if size != expected:
            raise SegmentDamaged(f"{size} bytes, the header promises {expected} ({n} vectors of dim {dim})")
        data = np.memmap(fh, dtype=np.uint8, mode="r")
    keys = data[_HEADER_SIZE:_HEADER_SIZE + n * KEY_SIZE].view(_KEY_DTYPE)
    vectors = data[_HEADER_SIZE + n * KEY_SIZE:].view("<f4").reshape(n, dim)
    if zlib.crc32(keys, zlib.crc32(head[:_FIELDS.size])) != keys_crc:
        raise SegmentDamaged("checksum of the keys does not match")
    if verify_vectors and zlib.crc32(vectors) != vectors_crc:
        raise SegmentDamaged("checksum of the vectors does not match")
    return Segment(Path(path), keys, vectors, vectors_crc)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
