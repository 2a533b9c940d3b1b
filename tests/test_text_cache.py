"""EmbeddingCache: hits skip the model, crashes leave a readable cache, processes share it.

The segment store itself (damage, compaction, migration, concurrency) is tested in
test_text_cache_store.py."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cartgraph.text import EmbeddingCache, TextEncoder, default_cache_dir
from cartgraph.text.cache import text_key

ROOT = Path(__file__).resolve().parents[1]


def _vec(i: int, dim: int = 8) -> np.ndarray:
    return np.full(dim, i, dtype=np.float32)


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_default_folder_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CARTGRAPH_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path
    assert EmbeddingCache("abc").path == tmp_path / "text-vectors" / "abc"
    monkeypatch.delenv("CARTGRAPH_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "cartgraph"


def test_put_get_roundtrip_and_nothing_created_before_first_put(tmp_path):
    cache = EmbeddingCache("m1", tmp_path)
    assert cache.get([text_key("a")]) == {} and not cache.path.exists()
    keys = [text_key(t) for t in ("a", "b")]
    cache.put(keys, np.stack([_vec(1), _vec(2)]))
    cache.put(keys[:1], np.stack([_vec(9)]))  # an existing key keeps its vector
    got = cache.get(keys + [text_key("c")])
    assert set(got) == set(keys) and got[keys[0]][0] == 1 and got[keys[1]][0] == 2
    assert len(cache) == 2


def test_encoder_cache_hit_skips_the_model(tmp_path):
    texts = ["espresso cups", "green tea", "espresso cups", "dog toy"]
    first = TextEncoder(device="cpu", cache=tmp_path)
    a = first.encode(texts)
    cache = EmbeddingCache(first.identity, tmp_path)
    assert len(cache) == 3
    again = TextEncoder(device="cpu", cache=tmp_path)
    b = again.encode(texts)
    assert again._loaded is None  # every text hit: the model never loaded
    np.testing.assert_array_equal(a, b)
    c = again.encode(texts + ["teapot"])  # one miss: only it is encoded and stored
    np.testing.assert_array_equal(c[:4], a)
    assert len(cache) == 4
    uncached = TextEncoder(device="cpu").encode(["teapot"])
    np.testing.assert_allclose(c[4], uncached[0], atol=1e-6)


def test_other_settings_use_another_cache_file(tmp_path):
    a = TextEncoder(device="cpu", cache=tmp_path)
    b = TextEncoder(device="cpu", cache=tmp_path, max_length=16)
    assert a._cache().path != b._cache().path


@pytest.mark.parametrize("dies_at", ["fsync", "replace"])
def test_crash_mid_put_leaves_the_previous_state(tmp_path, dies_at):
    """The writer dies with its segment written to a temporary file but not yet fsynced, or
    fsynced but not renamed: readers see only the earlier put, and the cache stays writable."""
    cache = EmbeddingCache("m", tmp_path)
    cache.put([text_key("kept")], _vec(1)[None])
    code = f"""
        import os, sys, numpy as np
        import cartgraph.atomic
        from cartgraph.text.cache import EmbeddingCache, text_key
        cartgraph.atomic.os.{dies_at} = lambda *a: os._exit(17)  # the process dies mid-write
        cache = EmbeddingCache("m", sys.argv[1])
        cache.put([text_key(f"t{{i}}") for i in range(5000)], np.ones((5000, 8), np.float32))
    """
    assert _run(code, str(tmp_path)).returncode == 17
    assert [p.name for p in cache.path.glob(".*.tmp")]  # the partial file is there ...
    assert len(cache) == 1 and cache.get([text_key("kept")])[text_key("kept")][0] == 1  # ... and ignored
    assert cache.lookup([text_key("t0")])[0].tolist() == [False]
    cache.put([text_key("after")], _vec(2)[None])  # and it is still writable
    assert len(cache) == 2


def test_killed_writer_leaves_a_readable_cache(tmp_path):
    code = """
        import os, signal, sys, numpy as np
        from cartgraph.text.cache import EmbeddingCache, text_key
        cache = EmbeddingCache("m", sys.argv[1])
        for batch in range(1000):
            keys = [text_key(f"{batch}-{i}") for i in range(200)]
            cache.put(keys, np.full((200, 8), batch, np.float32))
            if batch == 3:
                print("ready", flush=True)
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.kill()  # SIGKILL, most likely inside a put
    proc.wait(timeout=60)
    cache = EmbeddingCache("m", tmp_path)
    n = len(cache)
    assert n % 200 == 0 and n >= 800  # whole transactions only
    got = cache.get([text_key(f"{b}-{i}") for b in range(n // 200) for i in range(200)])
    assert len(got) == n
    assert all(got[text_key(f"{b}-{i}")][0] == b for b in range(n // 200) for i in range(200))


def test_two_processes_share_one_cache(tmp_path):
    code = """
        import sys, numpy as np
        from cartgraph.text.cache import EmbeddingCache, text_key
        cache, start = EmbeddingCache("m", sys.argv[1]), int(sys.argv[2])
        for b in range(40):
            ids = range(start + 10 * b, start + 10 * b + 10)
            cache.put([text_key(str(i)) for i in ids], np.array([np.full(8, i, np.float32) for i in ids]))
            cache.get([text_key(str(i)) for i in range(0, 600, 7)])
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(tmp_path), str(s)], env=env)
             for s in (0, 200)]  # keys 0..399 and 200..599 overlap on 200..399
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    cache = EmbeddingCache("m", tmp_path)
    got = cache.get([text_key(str(i)) for i in range(600)])
    assert len(got) == 600 and all(got[text_key(str(i))][0] == i for i in range(600))


def test_damaged_file_warns_and_encodes_without_cache(tmp_path):
    enc = TextEncoder(device="cpu", cache=tmp_path)
    path = enc._cache().path
    path.mkdir(parents=True)
    (path / "00000000000000000001-1-0000.seg").write_bytes(b"this is not a segment" * 100)
    with pytest.warns(UserWarning, match="damaged"):
        v = enc.encode(["green tea"])
    assert v.shape == (1, 384)
    np.testing.assert_array_equal(enc.encode(["green tea"]), v)  # cached now, from a good segment


def test_lookup_returns_found_vectors_in_key_order(tmp_path):
    from cartgraph.text.cache import EmbeddingCache, text_key

    cache = EmbeddingCache("model-x", tmp_path)
    keys = [text_key(t) for t in ("a", "b", "c", "d", "e")]
    vectors = np.arange(5 * 3, dtype=np.float32).reshape(5, 3)
    cache.put([keys[3], keys[0], keys[4]], vectors[[3, 0, 4]])
    found, got = cache.lookup(keys)
    assert found.tolist() == [True, False, False, True, True]
    np.testing.assert_array_equal(got, vectors[[0, 3, 4]])
    assert cache.lookup([text_key("zzz")])[1] is None
    assert EmbeddingCache("model-y", tmp_path).lookup(keys)[1] is None  # another model: nothing
