"""ComplementRanker: it must learn a planted shift that raw co-purchase counts get wrong."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, NotFittedError
from cartgraph.gnn import ComplementRanker
from cartgraph.gnn.complement_features import FEATURES, ComplementView
from cartgraph.gnn.complement_holdout import default_holdouts, last_bundles
from cartgraph.gnn.listwise import PairScorer, standardise, start_sharpness, train_listwise
from cartgraph.graph import MemoryStore, build

KITS = 12
DAY0 = pd.Timestamp("2024-01-01")


def shifting_shop() -> tuple[Dataset, np.ndarray]:
    """Per kit k: a phone ``p{k}`` and its look-alike ``q{k}`` (same leaf, near-identical
    text, never bought with it); an old case ``o{k}`` bought with the phone 6 times in
    days 0–39, and the new case ``a{k}`` that replaced it, bought with the phone 4 times in
    days 90–100. Over all the data the old case has more shared baskets (6 vs 4), so raw
    counts list it first, yet the latest baskets (and any held-out slice of them) hold the
    new case: only a model that learned from the holdouts that recent co-purchase predicts
    the next basket lists ``a{k}`` first."""
    rng = np.random.default_rng(0)
    ids, cats, vecs = [], [], []
    for k in range(KITS):
        for role, cat in (("p", "Phones"), ("q", "Phones"), ("o", "Cases"), ("a", "Cases")):
            ids.append(f"{role}{k}")
            cats.append(["Electronics", cat])
            v = np.zeros(KITS + 2, np.float32)
            v[k] = 1.0
            v[KITS + (role in "oa")] = 1.0
            vecs.append(v)
    rows, basket = [], 0
    for k in range(KITS):
        for j in range(6):
            ts = DAY0 + pd.Timedelta(days=int(rng.integers(0, 40)), hours=k)
            rows += [(f"b{basket}", f"p{k}", ts), (f"b{basket}", f"o{k}", ts)]
            basket += 1
        for j in range(4):
            ts = DAY0 + pd.Timedelta(days=90 + 2.5 * j, hours=k)
            rows += [(f"b{basket}", f"p{k}", ts), (f"b{basket}", f"a{k}", ts)]
            basket += 1
    events = pd.DataFrame(rows, columns=["basket_id", "item_id", "ts"]).assign(kind="purchase", user_id="u")
    items = pd.DataFrame({"item_id": ids, "title": ids, "category_path": cats})
    ds = Dataset(items, events=events, name="shifting").validate()
    vectors = np.stack(vecs) + rng.normal(scale=0.02, size=(len(ids), KITS + 2)).astype(np.float32)
    return ds, vectors[np.argsort(ds.item_vocab.indices(ids))]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def shop():
    return shifting_shop()


@pytest.fixture(scope="module")
def model(shop):
    ds, vectors = shop
    return ComplementRanker(epochs=60, patience=60, valid_k=1, seed=0).fit(ds, item_vectors=vectors)


def idx(ds: Dataset, *ids: str) -> np.ndarray:
    return ds.item_vocab.indices(list(ids))


def test_raw_counts_and_the_untrained_ranker_list_the_old_case_first(shop):
    ds, vectors = shop
    untrained = ComplementRanker(epochs=0).fit(ds, item_vectors=vectors)
    for k in range(KITS):
        p, o = idx(ds, f"p{k}", f"o{k}")
        assert untrained.complements(p, k=1)[0][0] == o, k


def test_learns_the_new_complement_and_keeps_look_alikes_below(shop, model):
    ds, _ = shop
    assert model.n_train_anchors_ > 0 and model.history_.best_epoch > 0
    assert model.valid_precision_["kept"] > model.valid_precision_["start"]
    for k in range(KITS):
        p, q, o, a = idx(ds, f"p{k}", f"q{k}", f"o{k}", f"a{k}")
        top, scores = model.complements(p, k=3)
        assert top[0] == a, k
        assert model.served_score([p], [q])[0] < model.served_score([p], [o])[0]
        assert np.all(np.diff(scores) <= 0)


def test_dropping_substitutes_leaves_out_the_look_alike_phone(shop, model):
    """Each phone's look-alike ``q{k}`` (same leaf, cosine ~1) is listed among its candidates; with
    ``substitutes="drop"`` it never is, and every other partner keeps its rank order."""
    ds, _ = shop
    width = model.candidates_.shape[1]
    for k in range(KITS):
        p, q = idx(ds, f"p{k}", f"q{k}")
        kept, kept_scores = model.complements(p, k=width)
        dropped, dropped_scores = model.complements(p, k=width, substitutes="drop")
        assert q in kept and q not in dropped, k
        assert dropped[dropped >= 0].tolist() == [i for i in kept[kept >= 0].tolist() if i != q]
        assert dropped_scores[dropped >= 0].tolist() == [s for i, s in zip(kept, kept_scores) if i >= 0 and i != q]
    batch, _ = model.complements(idx(ds, "p0", "p1"), k=3, substitutes="drop")
    assert batch.shape == (2, 3)
    with pytest.raises(ConfigError, match="'keep' or 'drop'"):
        model.complements(idx(ds, "p0"), k=3, substitutes="mask")


def test_same_seed_same_lists_other_seed_differs(shop, model):
    ds, vectors = shop
    again = ComplementRanker(epochs=60, patience=60, valid_k=1, seed=0).fit(ds, item_vectors=vectors)
    other = ComplementRanker(epochs=60, patience=60, seed=1).fit(ds, item_vectors=vectors)
    assert np.array_equal(model.candidates_, again.candidates_)
    assert np.array_equal(model.scores_, again.scores_)
    assert not np.array_equal(model.scores_, other.scores_)


def test_view_features_on_known_counts(shop):
    ds, vectors = shop
    view = ComplementView.build(ds, vectors, text_k=3)
    p, q, o, a = idx(ds, "p0", "q0", "o0", "a0")
    items, f, mask = view.candidates(np.array([p]))
    assert items.shape == (1, view.width) and f.shape == (1, view.width, len(FEATURES))
    listed = list(items[0][mask[0]])
    assert listed[:2] == [o, a] and q in listed and p not in listed       # counts first, look-alike as well
    row = dict(zip(FEATURES, f[0, listed.index(o)]))
    assert row["log_count"] == pytest.approx(np.log1p(6)) and row["conf"] == pytest.approx(0.6)
    assert row["rev_conf"] == pytest.approx(1.0) and row["has_count"] == 1.0 and row["same_leaf"] == 0.0
    new = dict(zip(FEATURES, f[0, listed.index(a)]))
    assert new["recent_count"] > row["recent_count"]                     # the shift is visible
    alike = dict(zip(FEATURES, f[0, listed.index(q)]))
    assert alike["substitute"] == 1.0 and alike["has_count"] == 0.0
    assert np.all(f[0][~mask[0]] == 0)


def test_holdouts_roll_back_and_hold_out_bundles():
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(8)], "title": [f"item {k}" for k in range(8)]})
    rows = [(f"b{b:02d}", f"i{(b + j) % 8}", DAY0 + pd.Timedelta(days=b)) for b in range(60) for j in range(2)]
    events = pd.DataFrame(rows, columns=["basket_id", "item_id", "ts"]).assign(kind="purchase", user_id="u")
    ds = Dataset(items, events=events, name="timed").validate()
    first, second = default_holdouts(ds, 0.25, n_rolling=2)
    assert set(first.groups["group_id"]) == {f"b{b}" for b in range(45, 60)}
    assert set(second.groups["group_id"]) == {f"b{b}" for b in range(34, 45)}      # 25 % of the 45 left
    assert not set(second.train.events["basket_id"]) & set(first.groups["group_id"])
    assert last_bundles(ds) is None                                       # no bundles chosen


def test_listwise_trainer_learns_which_feature_matters():
    """Known answer: the right candidate is the one with the largest feature 1, while the
    start order (feature 0) is random; the trained scorer must find it."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(400, 8, 3, generator=gen)
    y = torch.zeros(400, 8)
    y[torch.arange(400), z[:, :, 1].argmax(dim=1)] = 1.0
    scorer = PairScorer(3, 8, 0, gen, start_sharpness(z[:, :, 0], y))
    before = (scorer(z).argmax(dim=1) == y.argmax(dim=1)).float().mean()
    hist = train_listwise(scorer, z, y, epochs=60, lr=0.05, weight_decay=0.0, batch=64, generator=gen)
    after = (scorer(z).argmax(dim=1) == y.argmax(dim=1)).float().mean()
    assert before < 0.3 and after > 0.9 and hist.loss[-1] < hist.loss[0]
    zs, mu, sd = standardise(np.arange(12, dtype=np.float32).reshape(1, 4, 3), np.array([[True, True, True, False]]))
    assert mu == pytest.approx([3.0, 4.0, 5.0]) and np.all(zs[0, 3] == 0)


def test_writes_edges_saves_and_loads(tmp_path, shop, model):
    ds, vectors = shop
    store = MemoryStore()
    store.write(build(ds, vectors, similar_k=0, co_purchase_min_count=1))
    assert model.write(store, m=2) == 2 * ds.n_items
    got = store.neighbors("Item", "p0", "COMPLEMENTS").sort_values("score", ascending=False)
    assert got["id"].tolist()[0] == "a0" and set(got["model"]) == {"complement-ranker"}
    path = tmp_path / "ranker.cgm"
    model.save(path)
    back = ComplementRanker.load(path)
    everything = np.arange(ds.n_items)
    assert np.array_equal(back.complements(everything, 5)[0], model.complements(everything, 5)[0])
    assert np.array_equal(back.served_score(everything, everything[::-1]), model.served_score(everything, everything[::-1]))
    assert np.array_equal(back.complements(everything, 5, substitutes="drop")[0],
                          model.complements(everything, 5, substitutes="drop")[0])
    old_file = torch.load(path, weights_only=False)           # a file saved before the substitute flags
    del old_file["substitute"]
    torch.save(old_file, tmp_path / "old.cgm")
    old = ComplementRanker.load(tmp_path / "old.cgm")
    assert np.array_equal(old.complements(everything, 5)[0], model.complements(everything, 5)[0])
    with pytest.raises(ConfigError, match="saved without its substitute flags"):
        old.complements(everything, 5, substitutes="drop")


@pytest.mark.parametrize("kw, match", [({"epochs": -1}, "epochs >= 0"), ({"lr": 0}, "lr > 0"),
                                       ({"valid_fraction": 1.0}, r"in \(0, 1\)"), ({"n_rolling": 0}, "n_rolling"), ({"valid_k": 0}, "valid_k"),
                                       ({"name": ""}, "non-empty")])
def test_bad_settings_fail_clearly(kw, match):
    with pytest.raises(ConfigError, match=match):
        ComplementRanker(**kw)


def test_bad_inputs_fail_clearly(shop, model):
    ds, vectors = shop
    with pytest.raises(NotFittedError):
        ComplementRanker().complements([0])
    with pytest.raises(ConfigError, match="item indices in 0..47"):
        model.complements([48])
    with pytest.raises(ConfigError, match="positive integer"):
        model.complements([0], k=0)
    tiny = Dataset(ds.items, events=ds.events.iloc[:4], name="tiny").validate()
    with pytest.raises(ConfigError, match="tiny: too few baskets or bundles.*epochs=0"):
        ComplementRanker().fit(tiny, item_vectors=vectors)
