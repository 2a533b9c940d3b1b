"""TextHeteroGNN: a planted checkerboard with cold-start items, determinism, errors, save/load."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, DataError, NotFittedError
from cartgraph.evaluation import evaluate, splits
from cartgraph.gnn import TextHeteroGNN
from cartgraph.gnn.hetero_graph import IN, hetero_graph

GROUPS, USERS, ITEMS = 4, 6, 5  # per group: 6 users, 5 bought items, 1 never-bought item


def checkerboard_shop() -> tuple[Dataset, np.ndarray, np.ndarray, np.ndarray]:
    """Users of group g bought every item of group g but one (the answer); each group also
    has a cold item nobody bought whose text and category match the group.

    Returns ``(dataset, item_vectors, answer item index per user, cold item index per group)``.
    """
    rng = np.random.default_rng(0)
    item_ids = [f"g{g}-i{i}" for g in range(GROUPS) for i in range(ITEMS + 1)]  # i == ITEMS: cold
    items = pd.DataFrame({"item_id": item_ids, "title": item_ids,
                          "category_path": [["Shop", f"Group {g}"] for g in range(GROUPS) for _ in range(ITEMS + 1)]})
    rows = []
    for g in range(GROUPS):
        for k in range(USERS):
            missing = k % ITEMS
            rows += [(f"g{g}-u{k}", f"g{g}-i{i}") for i in range(ITEMS) if i != missing]
    events = pd.DataFrame(rows, columns=["user_id", "item_id"]).assign(kind="purchase")
    ds = Dataset(items, events=events, name="checkerboard").validate()
    vocab = ds.item_vocab
    vectors = np.zeros((ds.n_items, 8), np.float32)
    for iid in item_ids:
        g = int(iid[1])
        vectors[vocab.index(iid), g] = 1.0
    vectors += rng.normal(scale=0.05, size=vectors.shape).astype(np.float32)
    users = ds.user_vocab
    answer = np.empty(ds.n_users, np.int64)
    for g in range(GROUPS):
        for k in range(USERS):
            answer[users.index(f"g{g}-u{k}")] = vocab.index(f"g{g}-i{k % ITEMS}")
    cold = np.array([vocab.index(f"g{g}-i{ITEMS}") for g in range(GROUPS)])
    return ds, vectors, answer, cold


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def shop():
    return checkerboard_shop()


def fit(shop, seed: int = 0, **kw) -> TextHeteroGNN:
    ds, vectors, _, _ = shop
    options = dict(embedding_dim=16, num_layers=2, epochs=60, batch_size=128, lr=0.03, weight_decay=1e-5,
                   seed=seed, progress=False, device="cpu")
    return TextHeteroGNN(**{**options, **kw}).fit(ds, item_vectors=vectors)


@pytest.fixture(scope="module")
def model(shop):
    return fit(shop)


def test_learns_the_checkerboard_and_ranks_cold_items_next(shop, model):
    ds, _, answer, cold = shop
    users = np.arange(ds.n_users)
    top, scores = model.recommend(users, k=2)
    assert (top[:, 0] == answer).mean() == 1.0
    group = np.array([int(uid[1]) for uid in ds.user_vocab.ids])
    assert (top[:, 1] == cold[group]).mean() == 1.0  # the never-bought item of the user's own group
    assert model.history_.loss[-1] < model.history_.loss[0] / 3
    assert np.isfinite(scores).all()


def test_cold_item_similar_items_are_its_group(shop, model):
    ds, _, _, cold = shop
    idx, _ = model.similar_items(cold, k=ITEMS)
    for g, row in enumerate(idx):
        assert {ds.item_vocab.ids[i][:2] for i in row} == {f"g{g}"}


def test_same_seed_same_model_other_seed_differs(shop):
    a, b, c = fit(shop, 0, epochs=4), fit(shop, 0, epochs=4), fit(shop, 1, epochs=4)
    assert np.array_equal(a.item_factors_, b.item_factors_)
    assert not np.allclose(a.item_factors_, c.item_factors_)


def test_gat_layers_train_too(shop):
    ds, _, answer, _ = shop
    m = fit(shop, conv="gat", heads=2, epochs=60)
    top, _ = m.recommend(np.arange(ds.n_users), k=1)
    assert (top[:, 0] == answer).mean() >= 0.9


def test_early_stopping_on_a_validation_split(shop):
    ds, vectors, _, _ = shop
    events = ds.events.assign(ts=pd.Timestamp("2011-01-01"), basket_id="b")
    later = events.groupby("user_id").head(1).assign(ts=pd.Timestamp("2011-09-15"))
    timed = ds.replace(events=pd.concat([events.drop(later.index), later], ignore_index=True))
    valid = splits.online_retail(timed, "valid", "all")
    m = TextHeteroGNN(embedding_dim=16, epochs=20, eval_every=2, patience=2, batch_size=32, lr=0.02,
                      progress=False, device="cpu").fit(valid.train, valid=valid,
                                                        item_vectors=vectors[_reorder(ds, valid.train)])
    assert m.history_.valid and m.history_.best_epoch >= 0
    assert evaluate(m, valid)["recall@20"] == pytest.approx(m.history_.best_score)


def _reorder(ds: Dataset, other: Dataset) -> np.ndarray:
    return ds.item_vocab.indices(other.item_vocab.ids)


def test_graph_links_items_to_leaf_and_parent_categories(shop):
    ds = shop[0]
    g = hetero_graph(ds, ds.interactions())
    assert g.num_nodes == {"user": GROUPS * USERS, "item": GROUPS * (ITEMS + 1), "category": GROUPS + 1}
    assert g.edge_index[IN].shape[1] == 2 * ds.n_items  # leaf + "Shop"
    assert (g.item_degree == 0).sum() == GROUPS


@pytest.mark.parametrize("kw, match", [
    ({"conv": "gcn"}, "conv must be one of"),
    ({"embedding_dim": 10, "conv": "gat", "heads": 3}, "heads must be"),
    ({"dropout": 1.0}, "dropout"),
    ({"epochs": 0}, "epochs"),
])
def test_bad_settings_fail_clearly(kw, match):
    with pytest.raises(ConfigError, match=match):
        TextHeteroGNN(**kw)


def test_bad_inputs_fail_clearly(shop, model):
    ds, vectors, _, _ = shop
    with pytest.raises(ConfigError, match=r"item_vectors: expected shape \(24, dim\)"):
        TextHeteroGNN(epochs=1, progress=False).fit(ds, item_vectors=vectors[:-1])
    with pytest.raises(NotFittedError):
        TextHeteroGNN().recommend([0])
    with pytest.raises(ConfigError, match="user indices"):
        model.recommend([ds.n_users])
    with pytest.raises(ConfigError, match="items must be item indices"):
        model.similar_items([ds.n_items])


def test_save_load_round_trip(tmp_path, shop, model):
    model.save(tmp_path / "gnn.pt")
    back = TextHeteroGNN.load(tmp_path / "gnn.pt")
    users = np.arange(shop[0].n_users)
    a, b = model.recommend(users, k=4), back.recommend(users, k=4)
    assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])
    assert back.conv == model.conv and back.config == model.config
    with pytest.raises(ConfigError, match="expected a cartgraph-text-hetero-gnn"):
        TextHeteroGNN.load(_lightgcn_file(tmp_path))


def _lightgcn_file(tmp_path) -> str:
    from cartgraph.gnn.state_file import save_state

    path = str(tmp_path / "other.pt")
    save_state(path, "cartgraph-lightgcn", 1, {})
    return path


def test_score_fusion_keeps_a_models_ranking_and_checks_inputs(shop, model):
    from cartgraph.baselines import MostPopular
    from cartgraph.gnn.score_fusion import ScoreFusion

    ds = shop[0]
    users = np.arange(ds.n_users)
    alone, _ = model.recommend(users, k=3)
    fused, _ = ScoreFusion([model, MostPopular().fit(ds)], [1.0, 0.0]).recommend(users, k=3)
    assert np.array_equal(alone, fused)
    pop_only, _ = ScoreFusion([model, MostPopular().fit(ds)], [0.0, 1.0]).recommend(users, k=3)
    assert not np.array_equal(alone, pop_only)
    with pytest.raises(ConfigError, match="equal length"):
        ScoreFusion([model], [1.0, 2.0])


def test_co_purchase_edges_link_items_of_one_group_and_still_learn(shop):
    from cartgraph.gnn.hetero_graph import CO_BOUGHT

    ds, vectors, answer, _ = shop
    baskets = ds.replace(events=ds.events.assign(basket_id=ds.events["user_id"]))
    g = hetero_graph(baskets, baskets.interactions(), co_purchase_k=3)
    src, dst = g.edge_index[CO_BOUGHT].numpy()
    group = np.array([int(i[1]) for i in baskets.item_vocab.ids])
    assert len(src) == 3 * GROUPS * ITEMS and (group[src] == group[dst]).all()
    m = TextHeteroGNN(embedding_dim=16, co_purchase_k=3, epochs=60, batch_size=128, lr=0.03, weight_decay=1e-5,
                      progress=False, device="cpu").fit(baskets, item_vectors=vectors)
    top, _ = m.recommend(np.arange(ds.n_users), k=1)
    assert (top[:, 0] == answer).mean() >= 0.9
    with pytest.raises(ConfigError, match="co_purchase_k"):
        TextHeteroGNN(co_purchase_k=-1)


def test_cold_dropout_lifts_cold_items(shop, model):
    ds, _, _, cold = shop
    users = np.arange(ds.n_users)
    group = np.array([int(uid[1]) for uid in ds.user_vocab.ids])

    def cold_margin(m):  # cold item score minus the user's best warm unseen item score
        s = m.scores(users)
        s[m.user_items_.nonzero()] = -np.inf
        own = s[users, cold[group]]
        s[:, cold] = -np.inf
        return float(np.mean(own - s.max(axis=1)))

    practiced = fit(shop, cold_dropout=0.5)
    assert cold_margin(practiced) > cold_margin(model)
    with pytest.raises(ConfigError, match="cold_dropout"):
        TextHeteroGNN(cold_dropout=1.0)


def test_softmax_loss_learns_the_checkerboard(shop):
    ds, _, answer, cold = shop
    m = fit(shop, loss="softmax")
    top, _ = m.recommend(np.arange(ds.n_users), k=1)
    assert (top[:, 0] == answer).mean() == 1.0
    assert m.config.loss == "softmax"
    assert m.history_.loss[-1] < m.history_.loss[0] / 2
    with pytest.raises(ConfigError, match="loss must be one of"):
        TextHeteroGNN(loss="hinge")


def test_ease_base_starts_as_ease_and_learns_with_cold_items_served(shop):
    from cartgraph.baselines import EASE

    ds, _, answer, cold = shop
    users = np.arange(ds.n_users)
    untrained = fit(shop, loss="softmax", base="ease", base_lambda=1.0, epochs=1, lr=1e-9)
    ease = EASE(1.0).fit(ds)
    warm = np.setdiff1d(np.arange(ds.n_items), cold)
    s, e = untrained.scores(users)[:, warm], ease.scores(users)[:, warm]
    assert abs(untrained.gate_) < 1e-6
    assert np.allclose(s, untrained.base_scale_ * e, atol=1e-4 * untrained.base_scale_)  # EASE's scores, scaled
    m = fit(shop, loss="softmax", base="ease", base_lambda=1.0)
    top, scores = m.recommend(users, k=2)
    group = np.array([int(uid[1]) for uid in ds.user_vocab.ids])
    # the planted answer and, through its text neighbours' EASE columns, the cold item of
    # the user's own group are the top two (the cold item inherits the group's columns)
    assert all({a, c} == set(row) for a, c, row in zip(answer, cold[group], top))
    assert np.isfinite(scores).all()
    with pytest.raises(ConfigError, match="base must be one of"):
        TextHeteroGNN(base="knn")
    with pytest.raises(ConfigError, match="base_lambda"):
        TextHeteroGNN(base="ease", base_lambda=0.0)


def test_ease_base_round_trips_through_save_load(tmp_path, shop):
    m = fit(shop, loss="softmax", base="ease", base_lambda=1.0, epochs=5)
    m.save(tmp_path / "hybrid.pt")
    back = TextHeteroGNN.load(tmp_path / "hybrid.pt")
    users = np.arange(shop[0].n_users)
    assert np.allclose(m.scores(users), back.scores(users))
    assert back.base == "ease" and back.config.loss == "softmax"


def test_cold_columns_are_imputed_from_text_neighbours():
    from cartgraph.gnn.hetero_base import impute_cold_columns

    weights = np.arange(16, dtype=np.float32).reshape(4, 4)
    text = np.array([[1, 0], [0, 1], [1, 0.01], [0.01, 1]], np.float32)  # item 2 ≈ item 0, item 3 ≈ item 1
    warm = np.array([True, True, False, False])
    out = impute_cold_columns(weights.copy(), text, warm, k=1)
    assert np.allclose(out[:, 2], weights[:, 0]) and np.allclose(out[:, 3], weights[:, 1])
    assert np.allclose(out[:, :2], weights[:, :2])
    assert np.allclose(impute_cold_columns(weights.copy(), text, warm, k=0), weights)


def timed_shop(shop) -> Dataset:
    """The checkerboard with times: users ``k < USERS // 2`` bought item ``(k + 1) % ITEMS``
    of their group ten days after the rest, in a second basket (the fold's target)."""
    ds = shop[0]
    ev = ds.events.copy()
    item = ev["item_id"].str.split("-i").str[1].astype(int)
    user = ev["user_id"].str.split("-u").str[1].astype(int)
    late = ((user < USERS // 2) & (item == (user + 1) % ITEMS)).to_numpy()
    ev["ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.where(late, 10, 0), unit="D")
    ev["basket_id"] = ev["user_id"] + np.where(late, "-b2", "-b1")
    return ds.replace(events=ev)


def test_fold_matrices_cut_each_way(shop):
    from cartgraph.gnn.hetero_fold import fold_matrices

    ds = timed_shop(shop)
    full = ds.interactions()
    n_late = GROUPS * (USERS // 2)
    for fold in ("time", "basket"):
        early, target = fold_matrices(ds, fold)
        assert target.nnz == n_late and early.nnz == full.nnz - n_late
        assert early.multiply(target).nnz == 0                      # targets are new items only
        assert np.allclose((early + target).toarray(), full.toarray())


def test_fold_out_training_learns_the_later_items_from_the_earlier(shop):
    ds, vectors, answer, cold = shop
    tds = timed_shop(shop)
    users = np.arange(tds.n_users)
    # item-based users (no user ids), trained only on the 12 later pairs: every user's
    # top item is its missing item of its own group
    m = fit((tds, vectors, answer, cold), loss="softmax", fold="time", user_ids=False)
    top, _ = m.recommend(users, k=1)
    assert (top[:, 0] == answer).mean() >= 0.9
    assert m.history_.loss[-1] < m.history_.loss[0] / 10
    # the untrained fold hybrid serves EASE refitted on all the training data
    from cartgraph.baselines import EASE

    untrained = fit((tds, vectors, answer, cold), loss="softmax", fold="time", base="ease", base_lambda=1.0,
                    epochs=1, lr=1e-9)
    warm = np.setdiff1d(np.arange(tds.n_items), cold)
    s, e = untrained.scores(users)[:, warm], EASE(1.0).fit(tds).scores(users)[:, warm]
    assert np.allclose(s, untrained.base_scale_ * e, atol=1e-4 * untrained.base_scale_)
    hybrid = fit((tds, vectors, answer, cold), loss="softmax", fold="basket", base="ease", base_lambda=1.0,
                 user_ids=False)
    top, _ = hybrid.recommend(users, k=1)
    assert (top[:, 0] == answer).mean() >= 0.9


def test_fold_options_fail_clearly(shop):
    from cartgraph.gnn.hetero_fold import fold_matrices

    with pytest.raises(ConfigError, match="fold must be one of"):
        TextHeteroGNN(fold="random", loss="softmax")
    with pytest.raises(ConfigError, match="loss='softmax'"):
        TextHeteroGNN(fold="time")
    with pytest.raises(ConfigError, match="fold_fraction"):
        TextHeteroGNN(fold="time", loss="softmax", fold_fraction=1.0)
    with pytest.raises(DataError, match="timestamp"):  # the plain checkerboard has no times
        fit(shop, loss="softmax", fold="time")
    one_time = timed_shop(shop)  # no later part: every event at one time, in one basket per user
    one_time.events["ts"] = pd.Timestamp("2024-01-01")
    one_time.events["basket_id"] = one_time.events["user_id"]
    for fold in ("time", "basket"):
        with pytest.raises(ConfigError, match="no target pair"):
            fold_matrices(one_time, fold)


def test_fold_candidates_rerank_only_eases_top_new_items(shop):
    ds, vectors, answer, cold = shop
    tds = timed_shop(shop)
    users = np.arange(tds.n_users)
    m = fit((tds, vectors, answer, cold), loss="softmax", fold="time", base="ease", base_lambda=1.0,
            user_ids=False, candidates=2)
    top, scores = m.recommend(users, k=tds.n_items - 4)
    assert (top[:, 0] == answer).mean() >= 0.9 and np.isfinite(scores).all()
    x = m.user_items_
    base = np.asarray(x[:, m.base_rows_] @ m.base_weights_)  # EASE with imputed cold columns
    ease_top = np.argsort(np.where(x.toarray() > 0, np.inf, -base), axis=1, kind="stable")[:, :tds.n_items - 4]
    # the first 2 are EASE's top 2 new items (the answer and the cold item of the group, re-ranked);
    # the rest follow in EASE's order
    assert all(set(a[:2]) == set(b[:2]) for a, b in zip(top, ease_top))
    rest = np.take_along_axis(base, top[:, 2:], axis=1)
    assert (np.diff(rest, axis=1) <= 1e-6).all()
    with pytest.raises(ConfigError, match="candidates"):
        TextHeteroGNN(loss="softmax", base="ease", candidates=5)  # needs a fold
    with pytest.raises(ConfigError, match="candidates"):
        TextHeteroGNN(loss="softmax", fold="time", candidates=-1)
    with pytest.raises(ConfigError, match="valid_metric"):
        TextHeteroGNN(valid_metric="mrr@20")
