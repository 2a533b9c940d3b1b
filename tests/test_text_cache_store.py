"""The segment-file store under EmbeddingCache: validation, damage, compaction, migration,
concurrent writers and readers (real processes), determinism."""
from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time
import warnings

import numpy as np
import pytest

from cartgraph.text.cache import _MAX_SEGMENTS, EmbeddingCache, text_key
from cartgraph.text._segment import SegmentDamaged, key_array, read_segment


def _keys(ids) -> list[bytes]:
    return [text_key(f"text {i}") for i in ids]


def _vectors(ids, dim: int = 6) -> np.ndarray:
    """Row i is distinct per id (id in column 0, then a deterministic pattern)."""
    ids = np.asarray(list(ids), dtype=np.float32)
    return (ids[:, None] + np.linspace(0, 1, dim, dtype=np.float32)[None, :]).astype(np.float32)


def _segments(cache: EmbeddingCache) -> list[str]:
    return sorted(p.name for p in cache.path.glob("*.seg"))


def test_lookup_many_puts_and_repeated_query_keys(tmp_path):
    cache = EmbeddingCache("m", tmp_path)
    for start in range(0, 300, 50):
        cache.put(_keys(range(start, start + 50)), _vectors(range(start, start + 50)))
    query = list(range(320, 280, -1)) + [5, 5, 299]  # missing, present, repeated, out of order
    found, got = cache.lookup(_keys(query))
    assert found.tolist() == [i < 300 for i in query]
    np.testing.assert_array_equal(got, _vectors([i for i in query if i < 300]))
    assert len(cache) == 300 and len(_segments(cache)) == 6


def test_put_keeps_existing_and_first_of_repeated_keys(tmp_path):
    cache = EmbeddingCache("m", tmp_path)
    cache.put(_keys([1, 2]), _vectors([1, 2]))
    cache.put(_keys([2, 3, 3]), _vectors([20, 30, 31]))
    found, got = cache.lookup(_keys([1, 2, 3]))
    assert found.all() and got[:, 0].tolist() == [1, 2, 30]
    cache.put(_keys([1, 2, 3]), _vectors([7, 8, 9]))  # nothing new: no new segment
    assert len(_segments(cache)) == 2 and len(cache) == 3


def test_bad_arguments_name_what_is_wrong(tmp_path):
    cache = EmbeddingCache("m", tmp_path)
    with pytest.raises(ValueError, match=r"keys\[1\] must be 16 bytes.*got 3 bytes"):
        cache.lookup([text_key("a"), b"abc"])
    with pytest.raises(ValueError, match=r"keys\[0\].*got str"):
        cache.lookup(["a"])
    with pytest.raises(ValueError, match=r"shape \(2, dim\).*got \(3, 6\)"):
        cache.put(_keys([1, 2]), _vectors([1, 2, 3]))
    cache.put(_keys([1]), _vectors([1], dim=6))
    with pytest.raises(ValueError, match="dim 4 but the cache .* holds dim 6"):
        cache.put(_keys([2]), _vectors([2], dim=4))
    assert cache.get(_keys([1]), dim=4) == {} and len(cache.get(_keys([1]), dim=6)) == 1


@pytest.mark.parametrize("damage", ["truncate", "header", "keys", "empty"])
def test_damaged_segment_is_reported_set_aside_and_never_read(tmp_path, damage):
    cache = EmbeddingCache("m", tmp_path)
    cache.put(_keys(range(10)), _vectors(range(10)))
    cache.put(_keys(range(10, 20)), _vectors(range(10, 20)))
    bad = cache.path / _segments(cache)[1]
    data = bad.read_bytes()
    data = {"truncate": data[:-5], "header": b"XXXXXXXX" + data[8:], "empty": b"",
            "keys": data[:64] + bytes([data[64] ^ 1]) + data[65:]}[damage]
    bad.write_bytes(data)
    with pytest.raises(SegmentDamaged):
        read_segment(bad)
    with pytest.warns(UserWarning, match="damaged"):
        found, got = cache.lookup(_keys(range(20)))
    assert found.tolist() == [True] * 10 + [False] * 10  # the good segment still answers
    np.testing.assert_array_equal(got, _vectors(range(10)))
    assert (cache.path / (bad.name + ".damaged")).exists() and not bad.exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once: set aside, not read again
        assert len(cache) == 10


def test_corrupt_vectors_are_caught_when_merging(tmp_path):
    cache = EmbeddingCache("m", tmp_path)
    cache.put(_keys([1]), _vectors([1]))
    cache.put(_keys([2]), _vectors([2]))
    bad = cache.path / _segments(cache)[1]
    data = bytearray(bad.read_bytes())
    data[-1] ^= 0x40  # a flipped bit in the last float
    bad.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="vectors does not match"):
        assert cache.compact()
    found, got = cache.lookup(_keys([1, 2]))
    assert found.tolist() == [True, False]
    np.testing.assert_array_equal(got, _vectors([1]))


def test_compaction_keeps_every_vector(tmp_path):
    cache = EmbeddingCache("m", tmp_path)
    for b in range(_MAX_SEGMENTS + 1):  # the put that passes the limit compacts
        cache.put(_keys(range(10 * b, 10 * b + 10 + b)), _vectors(range(10 * b, 10 * b + 10 + b)))
    names = _segments(cache)
    assert len(names) == 8 and sum("-m" in n for n in names) == 1
    n = 10 * _MAX_SEGMENTS + 10 + _MAX_SEGMENTS
    found, got = cache.lookup(_keys(range(n)))
    assert found.all() and len(cache) == n
    np.testing.assert_array_equal(got, _vectors(range(n)))
    assert cache.compact(keep=1) and len(_segments(cache)) == 1
    np.testing.assert_array_equal(cache.lookup(_keys(range(n)))[1], _vectors(range(n)))
    with pytest.raises(ValueError, match="keep"):
        cache.compact(keep=0)


def test_leftover_temp_files_are_ignored_then_removed_when_stale(tmp_path):
    cache = EmbeddingCache("m", tmp_path)
    cache.put(_keys([1]), _vectors([1]))
    good = (cache.path / _segments(cache)[0]).read_bytes()
    fresh, stale = cache.path / ".x.seg.abc.tmp", cache.path / ".y.seg.def.tmp"
    fresh.write_bytes(good[:40])  # a writer still at work, or one that crashed just now
    stale.write_bytes(good)
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    assert len(cache) == 1
    cache.put(_keys([2]), _vectors([2]))
    assert cache.compact()
    assert fresh.exists() and not stale.exists() and len(cache) == 2


def test_second_compactor_skips_while_one_holds_the_lock(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    cache = EmbeddingCache("m", tmp_path)
    cache.put(_keys([1]), _vectors([1]))
    cache.put(_keys([2]), _vectors([2]))
    with open(cache.path / ".compact.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        assert cache.compact() is False and len(_segments(cache)) == 2
    assert cache.compact() is True and len(_segments(cache)) == 1


def test_reader_lists_again_when_a_segment_vanishes(tmp_path, monkeypatch):
    """A compaction in another process deletes a segment between our listing and opening it."""
    cache = EmbeddingCache("m", tmp_path)
    cache.put(_keys([1]), _vectors([1]))
    cache.put(_keys([2]), _vectors([2]))
    other = EmbeddingCache("m", tmp_path)
    real_names = cache._names
    calls = []

    def names_then_compact():
        listed = real_names()
        if not calls:
            other.compact()  # merges both away after we listed them
        calls.append(listed)
        return listed

    monkeypatch.setattr(cache, "_names", names_then_compact)
    found, got = cache.lookup(_keys([1, 2]))
    assert len(calls) == 2 and found.all()
    np.testing.assert_array_equal(got, _vectors([1, 2]))


def test_old_sqlite_cache_is_migrated_once(tmp_path):
    cache = EmbeddingCache("m", tmp_path)
    legacy = tmp_path / "text-vectors" / "m.sqlite"
    legacy.parent.mkdir(parents=True)
    con = sqlite3.connect(legacy)
    con.execute("CREATE TABLE vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID")
    con.executemany("INSERT INTO vectors VALUES (?, ?)", zip(_keys(range(5)), (v.tobytes() for v in _vectors(range(5)))))
    con.commit()
    con.close()
    found, got = cache.lookup(_keys(range(6)))
    assert found.tolist() == [True] * 5 + [False] and not legacy.exists()
    np.testing.assert_array_equal(got, _vectors(range(5)))
    assert len(_segments(cache)) == 1 and len(cache) == 5


def test_unreadable_old_sqlite_cache_is_set_aside(tmp_path):
    legacy = tmp_path / "text-vectors" / "m.sqlite"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"not a database" * 100)
    cache = EmbeddingCache("m", tmp_path)
    with pytest.warns(UserWarning, match="unreadable"):
        assert cache.lookup(_keys([1]))[1] is None
    assert (legacy.parent / "m.sqlite.unreadable").exists()
    cache.put(_keys([1]), _vectors([1]))
    assert len(cache) == 1


def _writer(folder: str, start: int, barrier) -> None:
    """Many small puts (forcing compactions) and reads, racing another writer."""
    cache = EmbeddingCache("m", folder)
    barrier.wait()
    for b in range(60):
        ids = range(start + 5 * b, start + 5 * b + 5)
        cache.put(_keys(ids), _vectors(ids))
        found, got = cache.lookup(_keys(ids))
        assert found.all() and np.array_equal(got, _vectors(ids))  # never a partial or wrong read


def test_two_processes_writing_and_compacting_lose_nothing(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), start, barrier)) for start in (0, 150)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0]  # ids 0..299 and 150..449 overlap on 150..299
    cache = EmbeddingCache("m", tmp_path)
    assert len(_segments(cache)) <= _MAX_SEGMENTS
    found, got = cache.lookup(_keys(range(450)))
    assert found.all() and len(cache) == 450
    np.testing.assert_array_equal(got, _vectors(range(450)))


def test_same_puts_give_the_same_files_and_answers(tmp_path):
    contents = []
    for run in ("a", "b"):
        cache = EmbeddingCache("m", tmp_path / run)
        for start in (30, 0, 10):
            cache.put(_keys(range(start, start + 20)), _vectors(range(start, start + 20)))
        cache.compact()
        contents.append(((cache.path / _segments(cache)[0]).read_bytes(), cache.lookup(_keys(range(60)))[1]))
    assert contents[0][0] == contents[1][0]
    np.testing.assert_array_equal(contents[0][1], contents[1][1])


def test_key_array_views_the_joined_bytes():
    keys = _keys(range(3))
    arr = key_array(keys)
    assert arr.dtype == np.dtype("S16") and arr.tobytes() == b"".join(keys)
    assert key_array(arr) is arr and len(key_array([])) == 0


def test_keys_sharing_their_first_8_bytes_are_still_told_apart(tmp_path):
    """The fast search compares 8-byte prefixes; a segment where two keys share one must
    fall back to whole keys."""
    keys = [b"\x07" * 8 + bytes([i]) * 8 for i in (1, 2, 3)] + [b"\x09" * 16]
    cache = EmbeddingCache("m", tmp_path)
    cache.put(keys, _vectors(range(4)))
    query = [keys[2], b"\x07" * 8 + b"\x00" * 8, keys[0], keys[3], b"\x08" * 16]
    found, got = cache.lookup(query)
    assert found.tolist() == [True, False, True, True, False]
    np.testing.assert_array_equal(got, _vectors([2, 0, 3]))


def test_a_failed_write_is_a_warning_and_stores_nothing(tmp_path, monkeypatch):
    import errno

    import cartgraph.text.cache as cache_module

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    cache = EmbeddingCache("m", tmp_path)
    monkeypatch.setattr(cache_module, "write_segment", disk_full)
    with pytest.warns(UserWarning, match="could not write .*No space left"):
        cache.put(_keys([1]), _vectors([1]))
    assert len(cache) == 0 and cache.lookup(_keys([1]))[1] is None
