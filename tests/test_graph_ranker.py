"""TextGraphRanker (pair features + learned scorer, rolling folds), TextEASE, rolling_folds.

Known answer ("trend"): every period one hot item appears; a random half of the customers
buys it in the first days of that period, the other half in the first days of the next.
Between, the item is what most customers bought *lately* (recent and first-time buyers),
which EASE's co-occurrence order does not see (the regular items have more buyers over
all). Trained fold-out on earlier periods, the ranker must put the last period's hot item
first for (almost) every customer of the half that has not bought it yet.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, DataError
from cartgraph.evaluation import evaluate, splits
from cartgraph.gnn.graph_ranker import FEATURE_SETS, TextGraphRanker
from cartgraph.gnn.listwise import list_ndcg
from cartgraph.gnn.pair_features import FEATURES, PairSettings
from cartgraph.gnn.rolling_folds import rolling_folds
from cartgraph.gnn.text_ease import TextEASE, text_neighbours, tune_text_ease

pytestmark = pytest.mark.usefixtures("torch_one_thread")

USERS, REGULAR, PERIODS, PER_PERIOD = 40, 30, 6, 8


def trend_shop() -> tuple[Dataset, np.ndarray, int, np.ndarray]:
    """Returns ``(dataset, item_vectors (I, 8), the last hot item, users still to buy it)``;
    a never-sold item ``cold`` has the text of regular item ``r00``."""
    rng = np.random.default_rng(0)
    ids = [f"r{i:02d}" for i in range(REGULAR)] + [f"hot{p}" for p in range(PERIODS)] + ["cold"]
    items = pd.DataFrame({"item_id": ids, "title": ids, "category_path": [["Shop"]] * len(ids)})
    rows, day0 = [], pd.Timestamp("2020-01-01")
    late = np.array([], dtype=np.int64)
    for p in range(PERIODS):
        first = rng.permutation(USERS)
        early, late_prev, late = first[:USERS // 2], late, first[USERS // 2:]
        for u in early:
            rows.append((f"u{u:02d}", f"hot{p}", day0 + pd.Timedelta(days=30 * p + int(rng.integers(1, 5)))))
        for u in late_prev:
            rows.append((f"u{u:02d}", f"hot{p - 1}", day0 + pd.Timedelta(days=30 * p + int(rng.integers(1, 5)))))
        for u in range(USERS):
            for i in rng.choice(REGULAR, size=PER_PERIOD, replace=False):
                rows.append((f"u{u:02d}", f"r{i:02d}", day0 + pd.Timedelta(days=30 * p + int(rng.integers(6, 29)))))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]).assign(kind="purchase")
    events["basket_id"] = events["user_id"] + "-" + events["ts"].astype(str)
    ds = Dataset(items, events=events, name="trend").validate()
    vectors = rng.normal(size=(ds.n_items, 8)).astype(np.float32)
    vectors[ds.item_vocab.index("cold")] = vectors[ds.item_vocab.index("r00")] + rng.normal(scale=0.1, size=8)
    waiting = np.sort(ds.user_vocab.indices(np.array([f"u{u:02d}" for u in late])))
    return ds, vectors, ds.item_vocab.index(f"hot{PERIODS - 1}"), waiting


@pytest.fixture(scope="module")
def shop():
    return trend_shop()


def ranker(**kw) -> TextGraphRanker:
    options = dict(lam=10.0, neighbours=3, candidates=50, fold="time", n_folds=4, fold_fraction=0.2, hidden=8,
                   epochs=100, lr=0.05, batch_users=64, seed=0)
    return TextGraphRanker(**{**options, **kw})


def test_learns_to_rank_the_trending_item_first(shop):
    ds, vectors, hot, waiting = shop
    untrained = ranker(epochs=0).fit(ds, item_vectors=vectors)
    assert (untrained.recommend(waiting, k=1)[0][:, 0] == hot).mean() < 0.5   # EASE's order does not see it
    model = ranker().fit(ds, item_vectors=vectors)
    top, scores = model.recommend(waiting, k=5)
    assert (top[:, 0] == hot).mean() >= 0.9
    assert model.history_.loss[-1] < model.history_.loss[0]
    assert np.isfinite(scores[:, 0]).all()
    assert len(model.n_train_users_) == 4 and min(model.n_train_users_) > 0
    users = np.arange(ds.n_users)
    seen = ds.interactions().toarray() > 0
    assert not seen[users[:, None], model.recommend(users, k=1)[0]].any()       # bought items stay masked


def test_untrained_ranker_serves_text_imputed_ease(shop):
    ds, vectors, _, _ = shop
    users = np.arange(ds.n_users)
    untrained = ranker(epochs=0).fit(ds, item_vectors=vectors)
    ease = TextEASE(10.0, 3).fit(ds, item_vectors=vectors)
    # the whole ranking, candidates and the rest, is EASE's (ties: lower index)
    assert np.array_equal(untrained.recommend(users, k=ds.n_items - 10)[0], ease.recommend(users, k=ds.n_items - 10)[0])


def test_deterministic_for_a_seed(shop):
    ds, vectors, _, _ = shop
    a = ranker(epochs=5).fit(ds, item_vectors=vectors).recommend(np.arange(10), k=5)
    b = ranker(epochs=5).fit(ds, item_vectors=vectors).recommend(np.arange(10), k=5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_validation_keeps_the_best_epoch(shop):
    ds, vectors, _, _ = shop
    cut = pd.Timestamp("2020-01-01") + pd.Timedelta(days=30 * (PERIODS - 1))
    train = ds.replace(events=ds.events[ds.events["ts"] < cut])
    later = ds.events[ds.events["ts"] >= cut]
    test = train.interactions(events=later)
    test = (test - test.multiply(train.interactions())).tocsr()
    test.eliminate_zeros()
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    valid = splits.Split("trend/valid", train, test, users, "new", True)
    model = ranker(epochs=30, patience=3, n_folds=2).fit(train, valid=valid, item_vectors=vectors)
    h = model.history_
    assert h.valid[0][0] == 0 and 0 <= h.best_epoch <= 30
    assert h.best_score == max(s for _, s in h.valid)
    assert evaluate(model, valid, ks=(20,), progress=False)["ndcg@20"] == pytest.approx(h.best_score)


@pytest.mark.parametrize("bad", [dict(fold="week"), dict(n_folds=0), dict(n_folds=5, fold_fraction=0.2),
                                 dict(candidates=0), dict(lam=0.0), dict(neighbours=-1), dict(hidden=0),
                                 dict(epochs=-1), dict(lr=0.0), dict(features=["nope"]), dict(features=[]),
                                 dict(valid_metric="mrr"), dict(half_life_days=0.0), dict(patience=0),
                                 dict(clock="local")])
def test_bad_options_are_clear_errors(shop, bad):
    ds, vectors, _, _ = shop
    with pytest.raises(ConfigError):
        ranker(**bad).fit(ds, item_vectors=vectors)


def test_features_subset_keeps_the_rank_column():
    model = ranker(features=["pop"])
    assert model.feature_names == ["ease_rank", "pop"] and set(model.feature_names) <= set(FEATURES)
    assert all("ease_rank" in ranker(features=f).feature_names for f in FEATURE_SETS.values())


def test_wrong_valid_split_and_missing_times_are_errors(shop):
    ds, vectors, _, _ = shop
    other = ds.replace(items=ds.items[ds.items["item_id"] != "cold"])
    valid = splits.Split("x", other, other.interactions(), np.arange(3), "new", True)
    with pytest.raises(ConfigError, match="valid"):
        ranker().fit(ds, valid=valid, item_vectors=vectors)
    no_time = ds.replace(events=ds.events.assign(ts=pd.NaT))
    with pytest.raises(DataError):
        rolling_folds(no_time, "time")


# ---------------------------------------------------------------------- rolling folds
def test_time_folds_step_back_one_window_each(shop):
    ds = shop[0]
    ev = ds.events
    w = (ev["ts"].max() - ev["ts"].min()) * 0.2
    for j, fold in enumerate(rolling_folds(ds, "time", n_folds=3, fraction=0.2), start=1):
        assert fold.now == ev["ts"].max() - j * w
        assert len(fold.early_events) == int((ev["ts"] <= fold.now).sum())
        had = ds.interactions(events=fold.early_events).toarray() > 0
        late = ds.interactions(events=ev[(ev["ts"] > fold.now) & (ev["ts"] <= fold.now + w)]).toarray() > 0
        assert np.array_equal(fold.target.toarray() > 0, late & ~had & had.any(axis=1, keepdims=True))


def test_basket_folds_take_the_last_baskets_in_turn():
    items = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "title": ["a", "b", "c", "d"]})
    t = pd.Timestamp("2021-01-01")
    rows = [("u", "a", t, "1"), ("u", "b", t + pd.Timedelta(days=1), "2"), ("u", "c", t + pd.Timedelta(days=2), "3"),
            ("u", "d", t + pd.Timedelta(days=3), "4"), ("v", "d", t, "5")]
    ds = Dataset(items, events=pd.DataFrame(rows, columns=["user_id", "item_id", "ts", "basket_id"])
                 .assign(kind="purchase"), name="baskets")
    f1, f2 = rolling_folds(ds, "basket", n_folds=2)
    u = ds.user_vocab.index("u")
    assert list(np.flatnonzero(f1.target[u].toarray()[0])) == [ds.item_vocab.index("d")]
    assert set(f1.early_events["basket_id"]) == {"1", "2", "3"}
    assert list(np.flatnonzero(f2.target[u].toarray()[0])) == [ds.item_vocab.index("c")]
    assert set(f2.early_events["basket_id"]) == {"1", "2"}
    with pytest.raises(ConfigError, match="no target"):
        rolling_folds(ds, "basket", n_folds=4)


# ---------------------------------------------------------------------- TextEASE
def test_text_ease_imputes_cold_scores_from_text_neighbours(shop):
    ds, vectors, _, _ = shop
    future = ds.item_vocab.index("cold")
    model = TextEASE(10.0, 3).fit(ds, item_vectors=vectors)
    plain = TextEASE(10.0, 0).fit(ds, item_vectors=vectors)
    assert list(model.cold_) == [future]
    nbr, cos = text_neighbours(vectors, np.array([future]), np.flatnonzero(np.arange(ds.n_items) != future), 3)
    w = np.maximum(cos[0], 0) / np.maximum(cos[0], 0).sum()
    s, p = model.scores(np.arange(5)), plain.scores(np.arange(5))
    assert np.allclose(s[:, future], p[:, nbr[0]] @ w)
    assert np.allclose(np.delete(s, future, axis=1), np.delete(p, future, axis=1))
    assert (p[:, future] == 0).all()


def test_text_ease_errors_and_tuning(shop):
    ds, vectors, _, _ = shop
    with pytest.raises(ConfigError):
        TextEASE(0.0)
    with pytest.raises(ConfigError):
        TextEASE(10.0, -1)
    with pytest.raises(ConfigError, match="text"):
        TextEASE(10.0, 3).fit_text(ds.interactions(), vectors[:-1])
    with pytest.raises(ConfigError, match="text"):
        TextEASE(10.0).fit_matrix(ds.interactions())
    cut = pd.Timestamp("2020-01-01") + pd.Timedelta(days=30 * (PERIODS - 1))
    train = ds.replace(events=ds.events[ds.events["ts"] < cut])
    test = train.interactions(events=ds.events[ds.events["ts"] >= cut])
    valid = splits.Split("v", train, test.tocsr(), np.arange(ds.n_users), "all", False)
    lam, k, table = tune_text_ease(valid, vectors, lams=(10.0, 100.0), neighbours=(0, 3))
    assert (lam, k) in {(10.0, 0), (10.0, 3), (100.0, 0), (100.0, 3)} and len(table) == 4
    assert table[f"{lam:g}/{k}"] == max(table.values())
    with pytest.raises(ConfigError):
        PairSettings(candidates=0).check()


def test_hide_future_items_keeps_later_launches_out_of_fold_candidates(shop):
    ds, vectors, _, _ = shop
    cold = ds.item_vocab.index("cold")
    model = ranker(epochs=3, hide_future_items=True).fit(ds, item_vectors=vectors)
    assert model.hide_future_items and len(model.n_train_users_) == 4
    assert cold in set(model.serve_items_.ravel())        # serving still offers the never-sold item
    folds = rolling_folds(ds, "time", n_folds=2)
    assert folds[0].end is not None and rolling_folds(ds, "time", n_folds=1)[0].end == ds.events["ts"].max()


def test_pair_features_offer_only_available_items(shop):
    from cartgraph.gnn.pair_features import item_category_matrix, pair_features

    ds, vectors, hot, _ = shop
    every = np.arange(ds.n_items)
    nbrs = text_neighbours(vectors, every, every, 3)[0]
    available = np.ones(ds.n_items, bool)
    available[hot] = False
    batch = pair_features(ds, ds.events, ds.events["ts"].max(), vectors, item_category_matrix(ds), nbrs,
                          PairSettings(lam=10.0, neighbours=3, candidates=5), available=available)
    assert batch.features.shape == (len(batch.users), 5, len(FEATURES)) and np.isfinite(batch.features).all()
    assert hot not in set(batch.items.ravel())
    with pytest.raises(ConfigError, match="available"):
        pair_features(ds, ds.events, ds.events["ts"].max(), vectors, item_category_matrix(ds), nbrs,
                      PairSettings(lam=10.0), available=available[:-1])


def test_internal_validation_slice_early_stops_and_still_learns(shop):
    ds, vectors, hot, waiting = shop
    model = ranker(valid_fraction=0.25, patience=5).fit(ds, item_vectors=vectors)
    h = model.history_
    assert h.valid and h.valid[0][0] == 0                      # the untrained start was scored
    assert h.best_score == max(s for _, s in h.valid)
    assert h.best_epoch > 0 and h.best_score > h.valid[0][1]   # training helped the held-out lists
    assert len(h.loss) < 100                                   # stopped early
    assert (model.recommend(waiting, k=1)[0][:, 0] == hot).mean() >= 0.9


def test_valid_fraction_is_checked():
    for bad in (-0.1, 1.0):
        with pytest.raises(ConfigError, match="valid_fraction"):
            ranker(valid_fraction=bad)


def test_save_load_serves_the_same_rankings(shop, tmp_path):
    ds, vectors, _, _ = shop
    model = ranker(epochs=10, features=FEATURE_SETS["no-text"]).fit(ds, item_vectors=vectors)
    model.save(tmp_path / "ranker.pt")
    back = TextGraphRanker.load(tmp_path / "ranker.pt")
    users = np.arange(ds.n_users)
    for a, b in zip(model.recommend(users, k=ds.n_items - 5), back.recommend(users, k=ds.n_items - 5)):
        assert np.array_equal(a, b)
    assert np.array_equal(model.scores(users), back.scores(users))
    assert back.feature_names == model.feature_names and back.history_ == model.history_
    assert np.array_equal(model.similar_items([0, 3], k=4)[0], back.similar_items([0, 3], k=4)[0])
    with torch.no_grad():                                      # the scorer itself came back too
        z = torch.randn(2, 5, len(model.feature_names))
        assert torch.equal(model.scorer_(z), back.scorer_(z))
    TextEASE(10.0, 3).fit(ds, item_vectors=vectors).save(tmp_path / "ease.pt")
    with pytest.raises(ConfigError, match="cartgraph-text-graph-ranker"):
        TextGraphRanker.load(tmp_path / "ease.pt")


def test_similar_items_are_text_neighbours(shop):
    ds, vectors, _, _ = shop
    model = ranker(epochs=0).fit(ds, item_vectors=vectors)
    near, cos = model.similar_items(ds.item_vocab.index("r00"), k=3)
    assert near[0] == ds.item_vocab.index("cold")             # planted: the same text plus noise
    assert cos[0] > 0.9 and np.all(np.diff(cos) <= 0) and ds.item_vocab.index("r00") not in near
    with pytest.raises(ConfigError, match="item indices"):
        model.similar_items([ds.n_items], k=3)


def test_text_ease_save_load(shop, tmp_path):
    ds, vectors, _, _ = shop
    model = TextEASE(10.0, 3).fit(ds, item_vectors=vectors)
    model.save(tmp_path / "m.pt")
    back = TextEASE.load(tmp_path / "m.pt")
    users = np.arange(ds.n_users)
    assert np.array_equal(model.scores(users), back.scores(users))
    assert back.lam == 10.0 and back.neighbours == 3


def test_list_ndcg_known_values():
    class Fixed(torch.nn.Module):
        def forward(self, z):
            return z[..., 0]

    z = torch.tensor([[[3.0], [2.0], [1.0]], [[1.0], [2.0], [3.0]], [[1.0], [1.0], [1.0]]])
    y = torch.tensor([[1, 0, 0], [1, 0, 0], [0, 0, 0]])
    # list 1: hit at rank 1 → 1; list 2: hit at rank 3 → 1/log2(4) = 0.5; list 3: no target → 0
    assert list_ndcg(Fixed(), z, y, k=3) == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert list_ndcg(Fixed(), z, y, k=2) == pytest.approx(1.0 / 3)


def test_auto_options_choose_on_held_out_data_and_round_trip(shop, tmp_path):
    ds, vectors, hot, waiting = shop
    model = ranker(features="auto", neighbours="auto", valid_fraction=0.25, patience=5).fit(ds, item_vectors=vectors)
    assert set(model.feature_set_scores_) == set(FEATURE_SETS)
    best = max(model.feature_set_scores_.values())
    assert model.history_.best_score == best                  # the kept scorer is the best-validated one
    chosen = [n for n, v in model.feature_set_scores_.items() if v == best][0]
    assert model.feature_names == [f for f in FEATURES if f in FEATURE_SETS[chosen] or f == "ease_rank"]
    scores = model.neighbour_scores_
    assert list(scores) == [0, 1, 3, 10, 30] and model.settings.neighbours == max(scores, key=scores.get)
    assert (model.recommend(waiting, k=1)[0][:, 0] == hot).mean() >= 0.9
    model.save(tmp_path / "auto.pt")
    back = TextGraphRanker.load(tmp_path / "auto.pt")
    assert back.feature_names == model.feature_names and back.settings.neighbours == model.settings.neighbours
    assert np.array_equal(back.scores(np.arange(ds.n_users)), model.scores(np.arange(ds.n_users)))


def test_neighbour_choice_reads_the_latest_fold(shop):
    """The ``k`` chosen is the one whose TextEASE scores best on fold 1 (recomputed here)."""
    ds, vectors, _, _ = shop
    model = ranker(neighbours="auto", epochs=0).fit(ds, item_vectors=vectors)
    fold = next(iter(rolling_folds(ds, "time", 4, 0.2)))
    X = ds.interactions(events=fold.early_events)
    users = np.flatnonzero(np.diff(fold.target.indptr) > 0)
    for k, got in model.neighbour_scores_.items():
        items = TextEASE(10.0, k).fit_text(X, vectors).recommend(users, k=20)[0]
        target = fold.target[users].toarray() > 0
        disc = 1 / np.log2(np.arange(2, 22))
        dcg = (np.take_along_axis(target, items, axis=1) * disc).sum(1)
        ideal = np.array([disc[:min(n, 20)].sum() for n in target.sum(1)])
        assert got == pytest.approx(float((dcg / ideal).mean()))


def test_auto_feature_choice_needs_validation(shop):
    ds, vectors, _, _ = shop
    with pytest.raises(ConfigError, match="features='auto' chooses on validation"):
        ranker(features="auto").fit(ds, item_vectors=vectors)
    for bad in (dict(features="best"), dict(neighbours="many")):
        with pytest.raises(ConfigError):
            ranker(**bad)


def test_latest_fold_validation_then_refit_on_every_fold(shop):
    ds, vectors, hot, waiting = shop
    model = ranker(valid_fraction=0.2, valid_mode="latest", patience=5).fit(ds, item_vectors=vectors)
    h = model.history_
    assert h.valid and h.best_epoch > 0 and h.best_score == max(s for _, s in h.valid)
    assert (model.recommend(waiting, k=1)[0][:, 0] == hot).mean() >= 0.9
    # the served scorer is the refit on all folds, not the selection run's weights
    refit = ranker(epochs=h.best_epoch).fit(ds, item_vectors=vectors)
    users = np.arange(ds.n_users)
    assert np.allclose(model.scores(users), refit.scores(users))
    with pytest.raises(ConfigError, match="valid_mode"):
        ranker(valid_mode="latest", n_folds=1)
