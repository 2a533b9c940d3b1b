"""Baselines: known answers (the checkerboard), the contract, determinism, the harness,
and the reference numbers of EVALUATION.md on real data."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cartgraph.baselines import EASE, ItemKNN, MostPopular, tune_ease
from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, NotFittedError
from cartgraph.evaluation import RecommenderModel, evaluate, fit_and_evaluate, splits

MODELS = [MostPopular, ItemKNN, lambda: ItemKNN(neighborhood="history"), lambda: EASE(10.0),
          lambda: EASE(10.0, solver="dual")]
IDS = ["MostPopular", "ItemKNN", "ItemKNN-history", "EASE", "EASE-dual"]


def _dataset(pairs: list[tuple[int, int]], n_users: int, n_items: int) -> Dataset:
    events = pd.DataFrame({"user_id": [f"u{u:02d}" for u, _ in pairs], "item_id": [f"i{i:02d}" for _, i in pairs]})
    return Dataset(items=pd.DataFrame({"item_id": [f"i{i:02d}" for i in range(n_items)]}),
                   users=pd.DataFrame({"user_id": [f"u{u:02d}" for u in range(n_users)]}), events=events)


def _checkerboard() -> Dataset:
    """Two groups of 5 users and 5 items; user u buys every item of its group except item u."""
    pairs = [(u, i) for u in range(10) for i in range(10) if u // 5 == i // 5 and i != u]
    return _dataset(pairs, 10, 10)


@pytest.mark.parametrize("make", MODELS[1:], ids=IDS[1:])
def test_checkerboard_each_user_gets_its_missing_item_first(make):
    model = make().fit(_checkerboard())
    items, scores = model.recommend(np.arange(10), k=3)
    assert items[:, 0].tolist() == list(range(10))
    assert (scores[:, 0] > scores[:, 1]).all()


def test_most_popular_counts_distinct_users_and_breaks_ties_by_index():
    # item 2: 3 distinct users; item 1: one user five times; items 0 and 3: two users each
    pairs = [(0, 2), (1, 2), (2, 2)] + [(3, 1)] * 5 + [(0, 0), (1, 0), (1, 3), (2, 3)]
    model = MostPopular().fit(_dataset(pairs, 5, 5))
    items, scores = model.recommend(4, k=5)
    assert items.tolist() == [2, 0, 3, 1, 4] and scores.tolist() == [3, 2, 2, 1, 0]
    items, _ = model.recommend(0, k=2)
    assert items.tolist() == [3, 1]  # 2 and 0 are masked for user 0


@pytest.mark.parametrize("make", MODELS, ids=IDS)
def test_contract_shapes_dtypes_masking_and_determinism(make):
    ds = _checkerboard()
    model = make()
    assert isinstance(model, RecommenderModel)
    with pytest.raises(NotFittedError):
        model.recommend([0], k=2)
    assert model.fit(ds) is model
    items, scores = model.recommend([0, 3], k=4)
    assert items.shape == scores.shape == (2, 4) and items.dtype == np.int64 and scores.dtype == np.float32
    one_items, one_scores = model.recommend(np.int64(3), k=4)
    assert one_items.shape == (4,) and np.array_equal(one_items, items[1])
    seen = ds.interactions()
    masked, _ = model.recommend(np.arange(10), k=10)
    for u in range(10):
        finite = masked[u][: 10 - seen[u].nnz]
        assert not set(finite) & set(seen[u].indices)
    again, again_scores = make().fit(ds).recommend([0, 3], k=4)
    assert np.array_equal(again, items) and np.array_equal(again_scores, scores)
    assert model.recommend([0], k=50)[0].shape == (1, 10)  # k clipped to the catalogue


def test_exclude_seen_false_can_return_seen_items():
    model = MostPopular().fit(_checkerboard())  # every item has 4 users: ties -> lowest index
    assert model.recommend(1, k=1, exclude_seen=False)[0].tolist() == [0]  # user 1 bought item 0
    assert model.recommend(1, k=1)[0].tolist() == [1]  # its only unseen item


def test_argument_errors():
    model = ItemKNN().fit(_checkerboard())
    with pytest.raises(ConfigError, match="user indices"):
        model.recommend([10])
    with pytest.raises(ConfigError, match="positive integer"):
        model.recommend([0], k=0)
    with pytest.raises(ConfigError, match="neighborhood"):
        ItemKNN(neighborhood="both").fit(_checkerboard())
    with pytest.raises(ConfigError, match="GiB"):
        EASE(10.0, max_bytes=10).fit(_checkerboard())


def test_ease_dual_equals_primal_and_isolated_items_score_zero():
    rng = np.random.default_rng(0)
    pairs = sorted({(int(u), int(i)) for u, i in zip(rng.integers(0, 15, 120), rng.integers(0, 40, 120))})
    ds = _dataset(pairs, 16, 42)  # user 15 and some items have no interactions
    primal, dual = EASE(5.0, solver="primal").fit(ds), EASE(5.0, solver="dual").fit(ds)
    users = np.arange(16)
    assert np.allclose(primal._score(users), dual._score(users), atol=1e-9)
    X = ds.interactions().toarray().astype(np.float64)
    G = X.T @ X + 5.0 * np.eye(42)
    P = np.linalg.inv(G)
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    assert np.allclose(primal._score(users), X @ B, atol=1e-9)


def test_item_knn_target_neighbourhood_by_hand():
    # users: {0,1}, {0,2}, {1,2}, {0,1,2,3}; cosine: s01 = 2/sqrt(3*3), s03 = 1/sqrt(3), ...
    pairs = [(0, 0), (0, 1), (1, 0), (1, 2), (2, 1), (2, 2), (3, 0), (3, 1), (3, 2), (3, 3)]
    ds = _dataset(pairs, 5, 4)
    model = ItemKNN(n_neighbors=1).fit(ds)
    # each item keeps its single best neighbour (ties -> lower index): 0->1, 1->0, 2->0, 3->0
    sim = model.similarity_.toarray()
    assert sim[1, 0] == pytest.approx(2 / 3) and sim[0, 1] == pytest.approx(2 / 3)
    assert sim[0, 2] == pytest.approx(2 / 3) and sim[0, 3] == pytest.approx(1 / 3 ** 0.5)
    assert np.count_nonzero(sim) == 4


class _Fixed:
    """A model that always returns the same lists (to check the harness)."""

    def __init__(self, items, scores):
        self.items, self.scores = np.asarray(items), np.asarray(scores, dtype=np.float32)

    def fit(self, dataset):
        return self

    def recommend(self, users, k=10, exclude_seen=True):
        return self.items[np.asarray(users)][:, :k], self.scores[np.asarray(users)][:, :k]


def test_harness_means_masked_entries_and_shape_errors():
    test = sp.csr_matrix(np.array([[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 1, 0]], dtype=np.float32))
    split = splits.Split("toy", _dataset([(0, 0)], 3, 4), test, np.array([0, 1, 2]), "all", False)
    model = _Fixed([[1, 0], [0, 1], [2, 3]], [[2, 1], [2, 1], [-np.inf, -np.inf]])
    out = evaluate(model, split, ks=(1, 2), batch_size=2)
    assert out["n_users"] == 3
    assert out["recall@2"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)  # user 2's item 2 is masked: no hit
    assert out["hit@1"] == pytest.approx(2 / 3) and out["coverage@2"] == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="expected"):
        evaluate(_Fixed([[1], [0], [2]], [[1], [1], [1]]), split, ks=(2,))


def test_tune_ease_refuses_test_split():
    split = splits.lightgcn_official(_dataset([(0, 0)], 2, 2).replace(
        events=pd.DataFrame({"user_id": ["u00", "u01"], "item_id": ["i00", "i01"], "split": ["train", "test"]})))
    with pytest.raises(ConfigError, match="test split"):
        tune_ease(split)


# ----------------------------------------------------------------------------- real data
REFERENCE_NEW = {"MostPopular": (0.0369, 0.0425), "ItemKNN": (0.0822, 0.0901), "EASE": (0.0976, 0.1048)}


@pytest.mark.data
@pytest.mark.slow
def test_online_retail_reference_numbers(data_dir):
    from cartgraph.loaders import load

    ds = load("online-retail", data_dir / "online-retail")
    split = splits.online_retail(ds, "test", "new")
    assert tune_ease(splits.online_retail(ds, "valid", "new")) == 500.0
    for name, model in (("MostPopular", MostPopular()), ("ItemKNN", ItemKNN()), ("EASE", EASE(500.0))):
        out = fit_and_evaluate(model, split)
        assert out["recall@20"] == pytest.approx(REFERENCE_NEW[name][0], abs=0.002), name
        assert out["ndcg@20"] == pytest.approx(REFERENCE_NEW[name][1], abs=0.002), name
        assert fit_and_evaluate(model, splits.cold_start(split))["recall@20"] == 0.0
