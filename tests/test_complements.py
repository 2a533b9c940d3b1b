"""ComplementModel: planted complements and substitutes, cold items, determinism, stores, save/load."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, NotFittedError
from cartgraph.gnn import ComplementModel
from cartgraph.gnn.complement_metrics import group_precision, substitute_rate
from cartgraph.gnn.complement_pairs import co_occurrence, group_matrix, leaf_categories, look_alikes, positive_pairs
from cartgraph.graph import MemoryStore, build

KITS = 6


def planted_shop() -> tuple[Dataset, np.ndarray]:
    """Per kit k: a phone ``p{k}``, its look-alike ``q{k}`` (same leaf category, almost the
    same text, never bought with ``p{k}``), two accessories ``a{k}``/``b{k}`` bought with
    either phone, and ``n{k}``, a new accessory like ``a{k}`` that nobody has bought yet.
    A bundle ``p{k} + a{k} + b{k}`` per kit adds explicit bundles."""
    rng = np.random.default_rng(0)
    rows, ids, cats, vecs = [], [], [], []
    for k in range(KITS):
        for role, cat in (("p", "Phones"), ("q", "Phones"), ("a", "Cases"), ("b", "Chargers"), ("n", "Cases")):
            ids.append(f"{role}{k}")
            cats.append(["Electronics", cat])
            v = np.zeros(KITS + 3, np.float32)
            v[k] = 1.0
            v[KITS + {"p": 0, "q": 0, "a": 1, "n": 1, "b": 2}[role]] = 1.0
            vecs.append(v)
    basket = 0
    for k in range(KITS):
        for phone in ("p", "q"):
            for acc in ("a", "b", "a", "b"):
                rows += [(f"o{basket}", f"{phone}{k}"), (f"o{basket}", f"{acc}{k}")]
                basket += 1
    events = pd.DataFrame(rows, columns=["basket_id", "item_id"]).assign(kind="purchase", user_id=None)
    items = pd.DataFrame({"item_id": ids, "title": ids, "category_path": cats})
    bundles = pd.DataFrame({"bundle_id": [f"kit{k}" for k in range(KITS)],
                            "item_ids": [[f"p{k}", f"a{k}", f"b{k}"] for k in range(KITS)]})
    ds = Dataset(items, events=events, bundles=bundles, name="planted").validate()
    vectors = np.stack(vecs) + rng.normal(scale=0.02, size=(len(ids), KITS + 3)).astype(np.float32)
    return ds, vectors[np.argsort(ds.item_vocab.indices(ids))]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def shop():
    return planted_shop()


def fit(shop, seed: int = 0, **kw) -> ComplementModel:
    ds, vectors = shop
    options = dict(embedding_dim=16, epochs=100, batch_size=256, lr=0.01, hard_fraction=0.5, look_alike_k=3,
                   look_alike_cosine=0.9, seed=seed, progress=False, device="cpu")
    return ComplementModel(**{**options, **kw}).fit(ds, item_vectors=vectors)


@pytest.fixture(scope="module")
def model(shop):
    return fit(shop)


def idx(ds: Dataset, *ids: str) -> np.ndarray:
    return ds.item_vocab.indices(list(ids))


def test_learns_planted_complements_not_substitutes(shop, model):
    ds, _ = shop
    for k in range(KITS):
        p, q, a, b = idx(ds, f"p{k}", f"q{k}", f"a{k}", f"b{k}")
        top, _ = model.complements(p, k=2)
        assert set(top) == {a, b}, k
        assert model.score([p], [q])[0] < min(model.score([p, p], [a, b]))  # substitute below complements
        top_a, _ = model.complements(a, k=2)
        assert set(top_a) == {p, q}, k  # directed: the case's best partners are the phones


def test_cold_item_gets_complements_from_its_text(shop, model):
    ds, _ = shop
    hits = 0
    for k in range(KITS):
        n, p, q = idx(ds, f"n{k}", f"p{k}", f"q{k}")
        top, _ = model.complements(n, k=2)
        hits += set(top) == {p, q}
    assert hits >= KITS - 1


def test_same_seed_same_model_other_seed_differs(shop):
    a, b, c = fit(shop, 0, epochs=3), fit(shop, 0, epochs=3), fit(shop, 1, epochs=3)
    assert np.array_equal(a.src_factors_, b.src_factors_) and np.array_equal(a.dst_bias_, b.dst_bias_)
    assert not np.allclose(a.src_factors_, c.src_factors_)


def test_early_stopping_on_held_out_groups(shop):
    ds, vectors = shop
    valid = pd.DataFrame({"group_id": ["g0", "g0", "g1", "g1"], "item_id": ["p0", "a0", "b1", "q1"]})
    m = ComplementModel(embedding_dim=8, epochs=6, eval_every=2, patience=5, progress=False,
                        device="cpu").fit(ds, item_vectors=vectors, valid=valid)
    assert [e for e, _ in m.history_.valid] == [1, 3, 5]
    assert 0.0 <= m.history_.best_score <= 0.1  # one listed partner of 10 at most per anchor
    with pytest.raises(ConfigError, match="group_id, item_id"):
        ComplementModel(epochs=1, progress=False).fit(ds, item_vectors=vectors, valid=valid.rename(columns={"group_id": "b"}))


def test_pairs_counts_and_look_alikes(shop):
    ds, vectors = shop
    c = co_occurrence(ds, bundle_weight=2.0)
    p0, q0, a0, b0 = idx(ds, "p0", "q0", "a0", "b0")
    assert c[p0, a0] == 2 + 2 and c[a0, b0] == 2 and c[p0, q0] == 0 and c[p0, p0] == 0
    assert co_occurrence(ds, exclude_bundles=["kit0"])[a0, b0] == 0
    src, dst = positive_pairs(c, per_item=1)
    assert len(src) == ds.n_items - KITS  # every item but the never-bought ones has one partner
    alike = look_alikes(vectors, leaf_categories(ds), k=3, min_cosine=0.9)
    assert alike[p0, q0] == 1 and alike[p0, a0] == 0


def test_metrics_on_known_lists():
    groups = group_matrix(pd.DataFrame({"g": [0, 0, 1, 1, 1], "item_id": ["x", "y", "x", "z", "w"]}),
                          Dataset(pd.DataFrame({"item_id": ["w", "x", "y", "z"]})), "g")
    top = np.array([[1, 2], [2, 3], [1, 0], [0, 1]])  # items w, x, y, z
    # group 0 {x,y}: x lists y (1/2), y lists x (1/2); group 1 {x,z,w}: x lists z (1/2),
    # z lists w, x (2/2), w lists x (1/2)
    assert group_precision(top, groups) == pytest.approx((0.5 + 0.5 + 0.5 + 1.0 + 0.5) / 5)
    leaf = np.array([0, 0, 1, -1])
    vec = np.array([[1, 0], [1, 0.01], [1, 0], [1, 0]], dtype=np.float32)
    assert substitute_rate([0, 0, 3], [1, 2, 3], leaf, vec) == pytest.approx(1 / 3)


def test_writes_top_edges_to_a_memory_store(shop, model):
    ds, vectors = shop
    store = MemoryStore()
    store.write(build(ds, vectors, similar_k=0, co_purchase_min_count=1))
    assert model.write(store, m=2) == 2 * ds.n_items
    edges = model.top_edges(2)
    got = store.neighbors("Item", "p0", "COMPLEMENTS").sort_values("score", ascending=False)
    want = edges[edges["src"] == "p0"]
    assert got["id"].tolist() == want["dst"].tolist()
    assert np.allclose(got["score"], want["score"]) and set(got["model"]) == {"complement-gnn"}
    assert store.counts()["COMPLEMENTS"] == 2 * ds.n_items


@pytest.mark.parametrize("kw, match", [
    ({"hard_fraction": 1.5}, "hard_fraction"),
    ({"per_item": 0}, "per_item"),
    ({"min_count": 0}, "min_count"),
    ({"name": ""}, "name"),
])
def test_bad_settings_fail_clearly(kw, match):
    with pytest.raises(ConfigError, match=match):
        ComplementModel(**kw)


def test_bad_inputs_fail_clearly(shop, model):
    ds, vectors = shop
    with pytest.raises(NotFittedError):
        ComplementModel().complements([0])
    with pytest.raises(ConfigError, match="items must be item indices"):
        model.complements([ds.n_items])
    with pytest.raises(ConfigError, match="same shape"):
        model.score([0, 1], [2])
    lonely = ds.replace(events=ds.events.head(1), bundles=ds.bundles.head(0))
    with pytest.raises(ConfigError, match="no item pair shares a basket"):
        ComplementModel(progress=False).fit(lonely, item_vectors=vectors)


def test_save_load_round_trip(tmp_path, shop, model):
    model.save(tmp_path / "c.pt")
    back = ComplementModel.load(tmp_path / "c.pt")
    a, b = model.complements(np.arange(5), k=3), back.complements(np.arange(5), k=3)
    assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])
    assert back.top_edges(2).equals(model.top_edges(2)) and back.name == model.name


def test_count_weight_is_chosen_on_held_out_groups(shop):
    from cartgraph.gnn.complements import COUNT_WEIGHTS

    ds, vectors = shop
    valid = pd.DataFrame({"group_id": ["g0", "g0", "g1", "g1"], "item_id": ["p0", "a0", "b1", "q1"]})
    with pytest.raises(ConfigError, match="pass valid="):
        ComplementModel(count_weight="auto", epochs=1, progress=False).fit(ds, item_vectors=vectors)
    with pytest.raises(ConfigError, match="count_weight"):
        ComplementModel(count_weight=-1.0)
    m = ComplementModel(embedding_dim=8, epochs=2, eval_every=0, count_weight="auto", progress=False,
                        device="cpu").fit(ds, item_vectors=vectors, valid=valid)
    assert set(m.count_weight_scores_) == set(COUNT_WEIGHTS) and m.count_weight_ in COUNT_WEIGHTS
    assert m.count_weight_scores_[m.count_weight_] == max(m.count_weight_scores_.values())
    counts_only = ComplementModel(embedding_dim=8, epochs=1, count_weight=1e6, progress=False,
                                  device="cpu").fit(ds, item_vectors=vectors)
    p0, a0, b0 = idx(ds, "p0", "a0", "b0")
    assert set(counts_only.complements(p0, k=2)[0]) == {a0, b0}  # an untrained model follows the counts


def test_served_score_is_what_complements_ranks_by(shop):
    """``served_score`` gives the scores :meth:`complements` lists, fused with the counts or not."""
    ds, vectors = shop
    for weight in (0.0, 2.0):
        m = ComplementModel(embedding_dim=8, epochs=2, count_weight=weight, progress=False,
                            device="cpu").fit(ds, item_vectors=vectors)
        anchors = idx(ds, "p0", "a1", "q2")
        top, scores = m.complements(anchors, k=4)
        served = m.served_score(np.repeat(anchors, 4), top.ravel()).reshape(top.shape)
        np.testing.assert_allclose(served, scores, rtol=1e-5, atol=1e-5)
        if weight == 0.0:
            np.testing.assert_array_equal(served, m.score(np.repeat(anchors, 4), top.ravel()).reshape(top.shape))
    with pytest.raises(ConfigError, match="same shape"):
        m.served_score(anchors, anchors[:1])


def test_latest_baskets_hold_out_what_was_bought_last():
    """Known answer: 20 timed baskets of 2 items; the latest 20 % (4) are held out whole,
    everything else stays, and too few held-out baskets give None."""
    from cartgraph.gnn.complement_holdout import latest_baskets

    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(10)], "title": [f"item {k}" for k in range(10)]})
    rows = []
    for b in range(20):
        ts = pd.Timestamp("2024-01-01") + pd.Timedelta(days=(7 * b) % 20)  # shuffled basket times
        rows += [(f"b{b:02d}", f"i{b % 10}", ts), (f"b{b:02d}", f"i{(b + 1) % 10}", ts)]
    events = pd.DataFrame(rows, columns=["basket_id", "item_id", "ts"]).assign(kind="purchase", user_id="u")
    ds = Dataset(items, events=events, name="timed").validate()
    h = latest_baskets(ds, 0.2, min_groups=2)
    first = events.groupby("basket_id")["ts"].min().sort_values(kind="stable")
    latest = set(first.index[-4:])
    assert set(h.groups["group_id"]) == latest and len(h.groups) == 8
    assert not set(h.train.events["basket_id"]) & latest
    assert len(h.train.events) == len(events) - 8 and h.train.n_items == ds.n_items
    assert latest_baskets(ds, 0.2, min_groups=5) is None
    with pytest.raises(ConfigError, match=r"fraction must be in \(0, 1\), got 1.5"):
        latest_baskets(ds, 1.5)
