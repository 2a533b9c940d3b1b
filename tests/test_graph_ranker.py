"""TextGraphRanker (pair features + learned scorer, rolling folds), TextEASE, rolling_folds.

Known answer: every period the shop launches one new item that every customer buys in that
period. The features say "cold, new item"; EASE's order (the cold column imputed from
random text neighbours) does not put it first. Trained fold-out on earlier launches, the
ranker must put the next, never-sold launch first for (almost) every user.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, DataError
from cartgraph.evaluation import evaluate, splits
from cartgraph.gnn.graph_ranker import TextGraphRanker
from cartgraph.gnn.pair_features import FEATURES, PairSettings
from cartgraph.gnn.rolling_folds import rolling_folds
from cartgraph.gnn.text_ease import TextEASE, text_neighbours, tune_text_ease

pytestmark = pytest.mark.usefixtures("torch_one_thread")

USERS, REGULAR, PERIODS = 40, 30, 5  # launches 0..4 sold; launch 5 is the future (cold) one


def launch_shop() -> tuple[Dataset, np.ndarray, int]:
    """Returns ``(dataset, item_vectors (I, 8), index of the unsold launch)``."""
    rng = np.random.default_rng(0)
    ids = [f"r{i:02d}" for i in range(REGULAR)] + [f"new{p}" for p in range(PERIODS + 1)]
    items = pd.DataFrame({"item_id": ids, "title": ids, "category_path": [["Shop"]] * len(ids)})
    rows = []
    day0 = pd.Timestamp("2020-01-01")
    for p in range(PERIODS):
        for u in range(USERS):
            rows.append((f"u{u:02d}", f"new{p}", day0 + pd.Timedelta(days=30 * p + 1), f"b{p}-{u}-0"))
            for k, i in enumerate(rng.choice(REGULAR, size=3, replace=False)):
                day = day0 + pd.Timedelta(days=30 * p + 2 + int(rng.integers(0, 27)))
                rows.append((f"u{u:02d}", f"r{i:02d}", day, f"b{p}-{u}-{k + 1}"))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "ts", "basket_id"]).assign(kind="purchase")
    ds = Dataset(items, events=events, name="launches").validate()
    vectors = rng.normal(size=(ds.n_items, 8)).astype(np.float32)
    future = ds.item_vocab.index(f"new{PERIODS}")
    vectors[future] = vectors[ds.item_vocab.index("r00")] + rng.normal(scale=0.1, size=8)  # text: a regular item
    return ds, vectors, future


@pytest.fixture(scope="module")
def shop():
    return launch_shop()


def ranker(**kw) -> TextGraphRanker:
    options = dict(lam=10.0, neighbours=3, candidates=50, fold="time", n_folds=3, fold_fraction=0.2, hidden=8,
                   epochs=150, lr=0.05, batch_users=64, seed=0)
    return TextGraphRanker(**{**options, **kw})


def test_learns_to_rank_the_next_launch_first(shop):
    ds, vectors, future = shop
    users = np.arange(ds.n_users)
    untrained = ranker(epochs=0).fit(ds, item_vectors=vectors)
    assert (untrained.recommend(users, k=1)[0][:, 0] == future).mean() < 0.5   # EASE's order does not know it
    model = ranker().fit(ds, item_vectors=vectors)
    top, scores = model.recommend(users, k=5)
    assert (top[:, 0] == future).mean() >= 0.9
    assert model.history_.loss[-1] < model.history_.loss[0]
    assert np.isfinite(scores).all()
    assert model.n_train_users_ == [USERS] * 3
    seen = ds.interactions().toarray() > 0
    assert not seen[users[:, None], top].any()                                   # bought items stay masked


def test_untrained_ranker_serves_text_imputed_ease(shop):
    ds, vectors, _ = shop
    users = np.arange(ds.n_users)
    untrained = ranker(epochs=0).fit(ds, item_vectors=vectors)
    ease = TextEASE(10.0, 3).fit(ds, item_vectors=vectors)
    # the whole ranking, candidates and the rest, is EASE's (ties: lower index)
    assert np.array_equal(untrained.recommend(users, k=ds.n_items - 10)[0], ease.recommend(users, k=ds.n_items - 10)[0])


def test_deterministic_for_a_seed(shop):
    ds, vectors, _ = shop
    a = ranker(epochs=5).fit(ds, item_vectors=vectors).recommend(np.arange(10), k=5)
    b = ranker(epochs=5).fit(ds, item_vectors=vectors).recommend(np.arange(10), k=5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_validation_keeps_the_best_epoch(shop):
    ds, vectors, future = shop
    cut = pd.Timestamp("2020-01-01") + pd.Timedelta(days=30 * (PERIODS - 1))
    train = ds.replace(events=ds.events[ds.events["ts"] < cut])
    later = ds.events[ds.events["ts"] >= cut]
    test = train.interactions(events=later)
    test = (test - test.multiply(train.interactions())).tocsr()
    test.eliminate_zeros()
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    valid = splits.Split("launches/valid", train, test, users, "new", True)
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
    ds, vectors, _ = shop
    with pytest.raises(ConfigError):
        ranker(**bad).fit(ds, item_vectors=vectors)


def test_features_subset_keeps_the_rank_column():
    model = ranker(features=["pop"])
    assert model.feature_names == ["ease_rank", "pop"] and set(model.feature_names) <= set(FEATURES)


def test_wrong_valid_split_and_missing_times_are_errors(shop):
    ds, vectors, _ = shop
    other = ds.replace(items=ds.items.iloc[:-1], events=ds.events[ds.events["item_id"] != "new4"])
    valid = splits.Split("x", other, other.interactions(), np.arange(3), "new", True)
    with pytest.raises(ConfigError, match="valid"):
        ranker().fit(ds, valid=valid, item_vectors=vectors)
    no_time = ds.replace(events=ds.events.assign(ts=pd.NaT))
    with pytest.raises(DataError):
        rolling_folds(no_time, "time")


# ---------------------------------------------------------------------- rolling folds
def test_time_folds_step_back_one_window_each(shop):
    ds, _, _ = shop
    folds = rolling_folds(ds, "time", n_folds=3, fraction=0.2)
    nows = [f.now for f in folds]
    assert nows[0] > nows[1] > nows[2]
    launch = [ds.item_vocab.index(f"new{p}") for p in range(PERIODS)]
    for j, fold in enumerate(folds):
        assert (fold.early_events["ts"] <= fold.now).all()
        bought = fold.target.toarray()
        assert bought[:, launch[PERIODS - 1 - j]].sum() == USERS          # that window's launch, as new item
        had = ds.interactions(events=fold.early_events).toarray() > 0
        assert not (had & (bought > 0)).any()


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
    ds, vectors, future = shop
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
    ds, vectors, _ = shop
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
