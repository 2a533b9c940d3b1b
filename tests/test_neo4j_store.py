"""Neo4jStore against a real Neo4j server (``make test`` starts one and sets NEO4J_URI).

Without NEO4J_URI these tests skip locally; in CI (``CI=true``) they fail instead.
Each test empties the database first (Community has one user database).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cartgraph.errors import ConfigError
from cartgraph.graph import NODE_LABELS, MemoryStore, Neo4jStore, build, cypher
from cartgraph.graph.toy import INJECTION_TITLE, random_shop, toy_dataset

pytestmark = pytest.mark.neo4j
ROOT = Path(__file__).resolve().parents[1]


def neo4j_uri() -> str:
    uri = os.environ.get("NEO4J_URI")
    if not uri:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("NEO4J_URI is not set in CI: 'make test' must start Neo4j ('cartgraph neo4j run')")
        pytest.skip("NEO4J_URI is not set (make test starts a server and sets it)")
    return uri


@pytest.fixture(scope="module")
def store():
    neo4j_uri()
    with Neo4jStore() as s:
        yield s


def clear_safely(store: Neo4jStore) -> None:
    """Empty the test database, refusing one that holds labels cartgraph never writes."""
    labels = {r["label"] for r in store._run("CALL db.labels() YIELD label RETURN label")}
    foreign = labels - set(NODE_LABELS)
    if foreign:
        pytest.fail(f"NEO4J_URI={store.connection.uri} holds other data (labels {sorted(foreign)}); "
                    "the tests empty the database, so point them at a scratch server")
    store.clear()


@pytest.fixture
def empty(store):
    clear_safely(store)
    return store


def assert_same_heterodata(a, b) -> None:
    """Same node counts, same edge set per type, item features within 1e-6."""
    da, db = a.to_heterodata(), b.to_heterodata()
    assert set(da.node_types) == set(db.node_types)
    for nt in da.node_types:
        assert da[nt].num_nodes == db[nt].num_nodes, nt
    assert set(da.edge_types) == set(db.edge_types)
    for et in da.edge_types:
        ea, eb = da[et].edge_index.T.tolist(), db[et].edge_index.T.tolist()
        assert len(ea) == len(eb) and set(map(tuple, ea)) == set(map(tuple, eb)), et
        for prop in ("count", "lift", "score", "position"):
            if prop in da[et]:
                assert torch.allclose(da[et][prop].double(), db[et][prop].double(), atol=1e-9), (et, prop)
    if "x" in da["item"]:
        assert (da["item"].x - db["item"].x).abs().max().item() <= 1e-6


def test_round_trip_toy(empty):
    ds = toy_dataset()
    vectors = np.random.default_rng(0).normal(size=(ds.n_items, 8)).astype(np.float32)
    kg = build(ds, vectors, similar_k=2, co_purchase_min_count=1)
    assert empty.write(kg, batch_size=2) == kg.counts()
    back = empty.read()
    assert_same_heterodata(kg, back)
    for label, frame in kg.nodes.items():
        assert back.nodes[label].equals(frame), label
    for rel_type, frame in kg.edges.items():
        got = back.edges[rel_type]
        assert got[["src", "dst"]].equals(frame[["src", "dst"]]), rel_type
        for col in frame.columns[2:]:
            assert got[col].astype(frame[col].dtype).equals(frame[col]), (rel_type, col)


def test_write_is_idempotent(empty):
    ds, vectors = random_shop(n_users=120, n_items=60, n_baskets=600, seed=3)
    kg = build(ds, vectors, similar_k=4, co_purchase_min_count=1)
    first = empty.write(kg, batch_size=100)
    second = empty.write(kg, batch_size=37)
    assert first == second == kg.counts()
    assert_same_heterodata(kg, empty.read())


def test_concurrent_writers_on_shared_dense_nodes_write_the_exact_graph(store):
    """Four writers, tiny batches, every item shared by many batches (lock contention and
    deadlocks are retried with MERGE): the graph is exactly the memory store's; a second
    write (the MERGE path, also concurrent) changes nothing."""
    clear_safely(store)
    ds, vectors = random_shop(n_users=300, n_items=40, n_baskets=3000, seed=8)
    kg = build(ds, vectors, similar_k=3, co_purchase_min_count=1)
    with Neo4jStore(store.connection, writers=4) as parallel:
        assert parallel.write(kg, batch_size=60) == kg.counts()
        assert parallel.write(kg, batch_size=45) == kg.counts()
    assert_same_heterodata(kg, store.read())


def test_missing_relationship_values_round_trip_as_missing(empty):
    ds, vectors = random_shop(n_users=40, n_items=20, n_baskets=120, seed=9)
    kg = build(ds, vectors, similar_k=2, co_purchase_min_count=1)
    purchased = kg.edges["PURCHASED"]
    purchased.loc[purchased.index[::3], "first_ts"] = pd.NaT
    co = kg.edges["CO_PURCHASED"]
    co.loc[co.index[::2], "lift"] = np.nan
    empty.write(kg)
    back = empty.read()
    for rel, col in (("PURCHASED", "first_ts"), ("CO_PURCHASED", "lift")):
        want = kg.edges[rel].set_index(["src", "dst"])[col].sort_index()
        got = back.edges[rel].set_index(["src", "dst"])[col].sort_index()
        assert got.isna().tolist() == want.isna().tolist(), (rel, col)
        assert got.dropna().astype(want.dtype).equals(want.dropna()), (rel, col)


def test_injection_title_is_stored_verbatim_and_harms_nothing(empty):
    kg = build(toy_dataset(), co_purchase_min_count=1)
    counts = empty.write(kg)
    items = empty.read().nodes["Item"].set_index("id")
    assert items.loc["evil", "title"] == INJECTION_TITLE
    assert empty.neighbors("Item", INJECTION_TITLE, "CO_PURCHASED").empty
    with pytest.raises(ConfigError, match="unknown item"):
        empty.upsert_complements([("phone", INJECTION_TITLE, 1.0)], model=INJECTION_TITLE)
    assert empty.upsert_complements([("evil", "phone", 0.5)], model=INJECTION_TITLE) == 1
    assert empty.neighbors("Item", "evil", "COMPLEMENTS")["model"].tolist() == [INJECTION_TITLE]
    assert empty.counts() == {**counts, "COMPLEMENTS": 1}


def test_neighbors_and_complements_match_memory_store(empty):
    ds, vectors = random_shop(n_users=80, n_items=50, n_baskets=400, seed=4)
    kg = build(ds, vectors, similar_k=3, co_purchase_min_count=1)
    memory = MemoryStore()
    for s in (memory, empty):
        s.write(kg)
        s.upsert_complements([("i00001", "i00002", 0.8), ("i00002", "i00001", 0.3)], model="gnn")
        s.upsert_complements([("i00001", "i00002", 0.9)], model="gnn")
    assert empty.counts() == memory.counts()
    for label, node, rel, direction in [("Item", "i00001", "COMPLEMENTS", "out"), ("Item", "i00002", "CO_PURCHASED", "in"),
                                        ("Item", "i00003", "SIMILAR_TO", "out"), ("Item", "i00000", "PURCHASED", "in")]:
        a = memory.neighbors(label, node, rel, direction=direction)
        b = empty.neighbors(label, node, rel, direction=direction)
        assert a["id"].tolist() == b["id"].tolist(), (rel, direction)
        for col in a.columns[1:]:
            if a[col].dtype.kind == "f":
                np.testing.assert_allclose(a[col].to_numpy(), b[col].to_numpy(np.float64))
            else:
                assert a[col].tolist() == b[col].tolist(), (rel, col)
    assert_same_heterodata(memory.read(), empty.read())


def test_vector_query_matches_exact_search(empty):
    ds, vectors = random_shop(n_users=50, n_items=300, n_baskets=200, seed=5, dim=32)
    kg = build(ds, vectors, similar_k=0, co_purchase_min_count=1)
    empty.write(kg)
    memory = MemoryStore()
    memory.write(kg)
    for q in vectors[[0, 17, 123]]:
        ids_neo, scores_neo = empty.vector_query(q, k=10)
        ids_mem, scores_mem = memory.vector_query(q, k=10)
        assert list(ids_neo) == list(ids_mem)
        np.testing.assert_allclose(scores_neo, scores_mem, atol=1e-5)
    with pytest.raises(ConfigError, match="dimensions"):
        empty.vector_query(np.ones(5), k=3)
    empty.clear()  # drops the vector index with the data: the next write builds it afresh
    assert empty._run(cypher.SHOW_VECTOR_INDEX, name=cypher.VECTOR_INDEX) == []
    with pytest.raises(ConfigError, match="no item vectors"):
        empty.vector_query(vectors[0], k=3)
    empty.write(kg)
    assert list(empty.vector_query(vectors[17], k=10)[0]) == list(memory.vector_query(vectors[17], k=10)[0])


def test_kept_read_session_sees_later_writes_and_survives_close(empty):
    ds, vectors = random_shop(n_users=30, n_items=20, n_baskets=60, seed=6)
    empty.write(build(ds, vectors, similar_k=2, co_purchase_min_count=1))
    assert empty.neighbors("Item", "i00001", "COMPLEMENTS", direction="out").empty  # opens the read session
    empty.upsert_complements([("i00001", "i00003", 0.7)], model="gnn")
    assert empty.neighbors("Item", "i00001", "COMPLEMENTS", direction="out")["id"].tolist() == ["i00003"]
    empty.close()  # a later read reconnects on a new session
    assert empty.neighbors("Item", "i00001", "COMPLEMENTS", direction="out")["id"].tolist() == ["i00003"]


KILLED_WRITER = """
import sys
from cartgraph.graph import Neo4jStore, build
from cartgraph.graph.toy import random_shop
ds, vectors = random_shop(n_users=1500, n_items=400, n_baskets=8000, seed=7)
kg = build(ds, vectors, similar_k=5, co_purchase_min_count=1)
total = sum(kg.counts().values())
done = {}
def progress(stage, n, of):
    done[stage] = n
    print(sum(done.values()), total, flush=True)
Neo4jStore(on_batch=progress).write(kg, batch_size=400)
print("DONE", flush=True)
"""


def test_import_killed_half_way_then_rerun_gives_exact_counts(empty):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    killed_at = None
    for line in proc.stdout:
        if line.startswith("DONE"):
            break
        written, total = map(int, line.split())
        if written >= total // 2:
            proc.send_signal(signal.SIGKILL)
            killed_at = written
            break
    proc.wait(timeout=60)
    assert killed_at is not None and proc.returncode == -signal.SIGKILL, "writer finished before the kill"
    ds, vectors = random_shop(n_users=1500, n_items=400, n_baskets=8000, seed=7)
    kg = build(ds, vectors, similar_k=5, co_purchase_min_count=1)
    partial = empty.counts()
    assert partial != kg.counts()
    assert sum(partial.values()) < sum(kg.counts().values())
    assert empty.write(kg, batch_size=400) == kg.counts()
    assert_same_heterodata(kg, empty.read())


@pytest.mark.data
def test_online_retail_round_trip(data_dir, empty):
    from cartgraph.loaders import load

    ds = load("online-retail", data_dir / "online-retail")
    vectors = np.random.default_rng(0).normal(size=(ds.n_items, 64)).astype(np.float32)
    kg = build(ds, vectors, similar_k=5, co_purchase_min_count=20)
    assert empty.write(kg) == kg.counts()
    assert_same_heterodata(kg, empty.read())
