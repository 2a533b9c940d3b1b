"""ComplementModel and ComplementRanker .write into the real Neo4j server (``make test`` starts one and sets NEO4J_URI).

Without NEO4J_URI this skips locally and fails in CI, like ``test_neo4j_store.py``.
"""
from __future__ import annotations

import numpy as np
import pytest

from cartgraph.gnn import ComplementModel
from cartgraph.graph import Neo4jStore, build
from tests.test_complements import planted_shop
from tests.test_neo4j_store import clear_safely, neo4j_uri

pytestmark = pytest.mark.neo4j


def test_complements_edges_reach_neo4j():
    neo4j_uri()
    ds, vectors = planted_shop()
    model = ComplementModel(embedding_dim=8, epochs=5, batch_size=256, lr=0.01, progress=False,
                            device="cpu", name="complement-test").fit(ds, item_vectors=vectors)
    with Neo4jStore() as store:
        clear_safely(store)
        store.write(build(ds, vectors, similar_k=0, co_purchase_min_count=1))
        assert model.write(store, m=3) == 3 * ds.n_items
        assert model.write(store, m=3) == 3 * ds.n_items  # an upsert: no duplicates
        assert store.counts()["COMPLEMENTS"] == 3 * ds.n_items
        edges = model.top_edges(3)
        for item in ("p0", "a3", "n5"):
            got = store.neighbors("Item", item, "COMPLEMENTS").set_index("id")
            want = edges[edges["src"] == item].set_index("dst")
            assert set(got.index) == set(want.index)
            assert np.allclose(got.loc[want.index, "score"], want["score"])
            assert set(got["model"]) == {"complement-test"}


def test_ranker_edges_reach_neo4j():
    """The facade's default complement model writes through the same upsert."""
    from cartgraph.gnn import ComplementRanker
    from tests.test_complement_ranker import shifting_shop

    neo4j_uri()
    ds, vectors = shifting_shop()
    model = ComplementRanker(epochs=30, valid_k=1, name="ranker-test").fit(ds, item_vectors=vectors)
    with Neo4jStore() as store:
        clear_safely(store)
        store.write(build(ds, vectors, similar_k=0, co_purchase_min_count=1))
        assert model.write(store, m=2) == 2 * ds.n_items
        got = store.neighbors("Item", "p3", "COMPLEMENTS").sort_values("score", ascending=False)
        want = model.top_edges(2)
        want = want[want["src"] == "p3"]
        assert got["id"].tolist() == want["dst"].tolist() and set(got["model"]) == {"ranker-test"}
