"""build() and the in-memory store on a toy shop whose graph is known by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartgraph.errors import ConfigError
from cartgraph.graph import MemoryStore, build
from cartgraph.graph.build import similar_edges
from cartgraph.graph.toy import INJECTION_TITLE, random_shop, toy_dataset


@pytest.fixture(scope="module")
def toy():
    ds = toy_dataset()
    vectors = np.random.default_rng(0).normal(size=(ds.n_items, 8)).astype(np.float32)
    return ds, vectors, build(ds, vectors, similar_k=2, co_purchase_min_count=1)


def edge_set(kg, rel_type):
    frame = kg.edges_external(rel_type)
    return set(zip(frame["src"], frame["dst"]))


def test_nodes_and_category_tree(toy):
    _, _, kg = toy
    assert kg.counts()["User"] == 3 and kg.counts()["Item"] == 5 and kg.counts()["Bundle"] == 1
    assert list(kg.nodes["Category"]["id"]) == ["Electronics", "Electronics > Accessories",
                                                "Electronics > Phones", "Home", "Home > Kitchen"]
    assert edge_set(kg, "SUBCATEGORY_OF") == {("Electronics > Accessories", "Electronics"),
                                              ("Electronics > Phones", "Electronics"), ("Home > Kitchen", "Home")}
    assert ("phone", "Electronics > Phones") in edge_set(kg, "IN_CATEGORY")
    assert len(kg.edges["IN_CATEGORY"]) == 4  # 'evil' has no category
    assert kg.nodes["Item"].set_index("id").loc["evil", "title"] == INJECTION_TITLE


def test_interactions_count_and_time_range(toy):
    _, _, kg = toy
    viewed = kg.edges_external("VIEWED").set_index(["src", "dst"])
    assert viewed.loc[("u2", "phone"), "count"] == 2
    assert viewed.loc[("u2", "phone"), "first_ts"] == pd.Timestamp("2024-01-03 12:00")
    assert viewed.loc[("u2", "phone"), "last_ts"] == pd.Timestamp("2024-01-04 12:00")
    assert edge_set(kg, "PURCHASED") == {("u1", "phone"), ("u1", "case"), ("u3", "charger")}
    assert edge_set(kg, "CARTED") == {("u3", "mug")}
    clicked = kg.edges_external("CLICKED")
    assert clicked["first_ts"].isna().all()  # unknown time stays unknown


def test_co_purchase_counts_anonymous_baskets_and_lift(toy):
    ds, _, kg = toy
    co = kg.edges_external("CO_PURCHASED").set_index(["src", "dst"])
    # o1 (u1) and o2 (anonymous) both hold case+phone; stored once, lower index first
    assert co.loc[("case", "phone"), "count"] == 2
    assert co.loc[("case", "phone"), "lift"] == pytest.approx(2 * 3 / (2 * 2))
    assert set(co.index) == {("case", "phone"), ("charger", "mug")}
    strict = build(ds, co_purchase_min_count=2)
    assert edge_set(strict, "CO_PURCHASED") == {("case", "phone")}


def test_similar_to_is_top_k_cosine():
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], dtype=np.float32)
    frame = similar_edges(vectors, k=2)
    top = frame.groupby("src")["dst"].apply(list).to_dict()
    assert top[0] == [1, 2] and top[3] == [2, 1]
    assert frame["score"].max() <= 1.0 + 1e-6


def test_bundle_edges(toy):
    _, _, kg = toy
    contains = kg.edges_external("CONTAINS").set_index("dst")["position"].to_dict()
    assert contains == {"phone": 0, "case": 1, "charger": 2}
    chose = kg.edges_external("CHOSE")
    assert len(chose) == 1 and chose["ts"].iloc[0] == pd.Timestamp("2024-02-03")


def test_heterodata_export(toy):
    ds, vectors, kg = toy
    data = kg.to_heterodata()
    assert data["item"].num_nodes == 5 and data["user"].num_nodes == 3
    np.testing.assert_allclose(data["item"].x.numpy(), vectors)
    ei = data["user", "purchased", "item"].edge_index
    assert ei.shape == (2, 3)
    assert ("item", "complements", "item") not in data.edge_types  # empty types are left out
    assert data["item", "co_purchased", "item"].lift.dtype.is_floating_point


def test_networkx_export(toy):
    _, _, kg = toy
    g = kg.to_networkx()
    assert g.nodes[("Item", "phone")]["title"] == "Smartphone X"
    assert g.has_edge(("User", "u1"), ("Item", "phone"), key="PURCHASED")
    assert g.number_of_edges() == sum(len(f) for f in kg.edges.values())


def test_bad_vectors_are_rejected():
    ds = toy_dataset()
    with pytest.raises(ConfigError, match="item_vectors"):
        build(ds, np.zeros((3, 4)))


def test_memory_store_queries(toy):
    _, vectors, kg = toy
    store = MemoryStore()
    assert store.write(kg) == kg.counts()
    assert store.write(kg) == kg.counts()  # idempotent
    nb = store.neighbors("Item", "phone", "PURCHASED", direction="in")
    assert list(nb["id"]) == ["u1"]
    with pytest.raises(ConfigError, match="start at User"):
        store.neighbors("Item", "phone", "PURCHASED")
    with pytest.raises(ConfigError, match="unknown relationship type"):
        store.neighbors("Item", "phone", "DROP")
    assert store.upsert_complements([("case", "phone", 0.9), ("charger", "phone", 0.4)], model="m1") == 2
    store.upsert_complements([("case", "phone", 0.95)], model="m1")
    store.upsert_complements([("case", "phone", 0.5)], model="m2")
    comp = store.neighbors("Item", "case", "COMPLEMENTS")
    assert comp[["id", "score", "model"]].values.tolist() == [["phone", 0.95, "m1"], ["phone", 0.5, "m2"]]
    with pytest.raises(ConfigError, match="unknown item"):
        store.upsert_complements([("case", "nope", 1.0)], model="m1")
    ids, scores = store.vector_query(vectors[2], k=3)
    assert ids[0] == kg.nodes["Item"]["id"][2] and scores[0] == pytest.approx(1.0)
    assert np.all(np.diff(scores) <= 0)


def test_random_shop_builds_consistently():
    ds, vectors = random_shop(n_users=50, n_items=40, n_baskets=200)
    kg = build(ds, vectors, similar_k=3, co_purchase_min_count=1)
    assert kg.counts()["SIMILAR_TO"] == 40 * 3
    assert (kg.edges["CO_PURCHASED"]["src"] < kg.edges["CO_PURCHASED"]["dst"]).all()
    ident = ds.events[ds.events["user_id"].notna()]
    assert len(kg.edges["PURCHASED"]) == len(ident[["user_id", "item_id"]].drop_duplicates())
