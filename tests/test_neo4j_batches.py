"""The client side of the Neo4j import, without a server: grouped relationship batches,
the writers setting, and which JVM the server command picks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartgraph.errors import ConfigError
from cartgraph.graph import Neo4jStore
from cartgraph.graph.neo4j_store import grouped_batches
from cartgraph.graph.server import _java, _java_major, _jvm_flags


def _flatten(batches):
    return [(row["src"], d, *(row[c][i] for c in ("count", "lift")))
            for batch in batches for row in batch for i, d in enumerate(row["dst"])]


def test_grouped_batches_keep_every_relationship_once_grouped_by_source():
    rng = np.random.default_rng(0)
    n = 1000
    src = rng.integers(0, 30, n)
    dst = np.array([f"d{j}" for j in rng.integers(0, 50, n)], dtype=object)
    props = pd.DataFrame({"count": rng.integers(1, 9, n), "lift": rng.random(n)})
    props.loc[::7, "lift"] = np.nan
    names = np.array([f"s{j}" for j in range(30)], dtype=object)
    batches = grouped_batches(src, dst, props, {"count": "int", "lift": "float"}, batch_size=64, names=names)

    got = sorted(_flatten(batches), key=repr)
    lift = [None if np.isnan(v) else float(v) for v in props["lift"]]
    want = sorted(zip(names[src], dst, props["count"].tolist(), lift), key=repr)
    assert got == want
    sizes = [sum(len(row["dst"]) for row in batch) for batch in batches]
    assert sum(sizes) == n and all(s >= 64 for s in sizes[:-1]) and max(sizes) < 64 + 64
    rows = [row for batch in batches for row in batch]
    assert [r["src"] for r in rows] == sorted((r["src"] for r in rows), key=lambda s: int(s[1:]))


def test_a_source_with_more_relationships_than_a_batch_is_split():
    src = np.zeros(25, dtype=np.int64)
    batches = grouped_batches(src, np.arange(25), pd.DataFrame(index=range(25)), {}, batch_size=10)
    assert [[len(r["dst"]) for r in b] for b in batches] == [[10], [10], [5]]
    assert [d for b in batches for r in b for d in r["dst"]] == list(range(25))
    assert all(r["src"] == 0 for b in batches for r in b)


def test_no_relationships_give_no_batches():
    assert grouped_batches(np.zeros(0, dtype=np.int64), np.zeros(0), pd.DataFrame(), {}, 10) == []


@pytest.mark.parametrize("writers", [0, -1, 1.5, "2"])
def test_writers_must_be_a_positive_int(writers):
    with pytest.raises(ConfigError, match="writers"):
        Neo4jStore("bolt://127.0.0.1:1", writers=writers)


def test_server_java_prefers_cartgraph_setting_then_java_home(tmp_path, monkeypatch):
    def fake_jdk(name: str, version: str):
        home = tmp_path / name
        (home / "bin").mkdir(parents=True)
        java = home / "bin" / "java"
        java.write_text("#!/bin/sh\n")
        java.chmod(0o755)
        (home / "release").write_text(f'IMPLEMENTOR="x"\nJAVA_VERSION="{version}"\n')
        return home

    old, new = fake_jdk("jdk17", "17.0.9"), fake_jdk("jdk25", "25.0.1")
    monkeypatch.setenv("JAVA_HOME", str(old))
    monkeypatch.delenv("CARTGRAPH_NEO4J_JAVA_HOME", raising=False)
    monkeypatch.delenv("CARTGRAPH_NEO4J_JVM_OPTS", raising=False)
    assert _java() == str(old / "bin" / "java")
    assert _java_major(_java()) == 17 and "-XX:+UseCompactObjectHeaders" not in _jvm_flags(_java())
    monkeypatch.setenv("CARTGRAPH_NEO4J_JAVA_HOME", str(new))
    assert _java() == str(new / "bin" / "java")
    assert _java_major(_java()) == 25 and "-XX:+UseCompactObjectHeaders" in _jvm_flags(_java())
    monkeypatch.setenv("CARTGRAPH_NEO4J_JVM_OPTS", "-XX:+UseG1GC  -Dx=1")
    assert _jvm_flags(_java())[-2:] == ["-XX:+UseG1GC", "-Dx=1"]
    (new / "release").unlink()
    assert _java_major(_java()) is None
