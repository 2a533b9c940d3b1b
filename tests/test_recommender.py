"""cartgraph.Recommender: the pipeline facade, by raw ids, saved and loaded."""
from __future__ import annotations

import json

import numpy as np
import pytest

import cartgraph
from cartgraph import Recommender, RecommenderConfig
from cartgraph.config import BundlesConfig, ComplementsConfig, GraphConfig, ModelConfig, TextConfig
from cartgraph.errors import ConfigError, NotFittedError
from cartgraph.recommender import StageUnavailableError


@pytest.fixture(scope="module")
def shop():
    return cartgraph.load("synthetic", None, seed=0)


@pytest.fixture(scope="module")
def fitted(shop):
    return Recommender(RecommenderConfig(model=ModelConfig("itemknn"))).fit(shop, progress=False)


def _leaf(shop):
    return dict(zip(shop.items["item_id"], shop.items["category_path"].map(" > ".join)))


def _assert_follows_tastes(shop, users, items):
    """Most recommended items (``items``: one row of ids per user) are in the user's planted
    favourite categories: at least twice the share a random pick of the 12 leaves gives."""
    leaf, tastes = _leaf(shop), dict(shop.meta["tastes"])
    share = np.mean([np.mean([leaf[i] in tastes[u] for i in row]) for u, row in zip(users, items)])
    by_chance = np.mean([len(tastes[u]) for u in users]) / 12
    assert share > 2 * by_chance, (share, by_chance)


def test_stages_report_what_ran(fitted):
    assert list(fitted.stages_) == ["text", "graph", "model", "complements", "bundles"]
    for name in ("text", "graph", "model", "complements", "bundles"):
        assert fitted.stages_[name]["status"] == "done", fitted.stages_[name]
    assert fitted.item_vectors_.shape == (fitted.items_.shape[0], 384)
    assert fitted.graph_.counts()["SIMILAR_TO"] > 0


def test_recommend_is_batch_first_by_raw_ids(fitted, shop):
    users = list(shop.user_vocab.ids[:5])
    items, scores = fitted.recommend(users, k=10)
    assert items.shape == scores.shape == (5, 10)
    one_items, one_scores = fitted.recommend(users[2], k=10)
    assert one_items.shape == (10,) and list(one_items) == list(items[2])
    assert np.array_equal(one_scores, scores[2])
    for u, row, s in zip(users, items, scores):
        assert not set(row) & set(fitted.history(u)), "seen items must be excluded"
        assert list(s) == sorted(s, reverse=True)
        assert all(isinstance(i, str) and i in shop.item_vocab for i in row)
    with_seen, _ = fitted.recommend(users[0], k=200, exclude_seen=False)
    assert set(fitted.history(users[0])) <= set(with_seen)


def test_recommendations_follow_the_users_tastes(fitted, shop):
    """The shop's users buy from one or two favourite categories; most top-10 items must be there."""
    users = shop.user_vocab.ids[:60]
    items, _ = fitted.recommend(list(users), k=10)
    _assert_follows_tastes(shop, users, items)


def test_same_as_the_underlying_model(fitted, shop):
    users = np.arange(10)
    idx, vals = fitted.model_.recommend(users, k=7)
    ids, scores = fitted.recommend(list(shop.user_vocab.ids[users]), k=7)
    assert np.array_equal(ids, shop.item_vocab.ids[idx]) and np.array_equal(scores, vals)


def test_unknown_ids_and_bad_k_are_clear_errors(fitted):
    with pytest.raises(ConfigError, match="unknown user ids \\['nobody'\\]"):
        fitted.recommend(["nobody"])
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        fitted.recommend("user-0001", k=0)
    with pytest.raises(ConfigError, match="unknown item id 'nothing'"):
        fitted.similar_items("nothing")
    with pytest.raises(NotFittedError):
        Recommender().recommend("user-0001")


def test_similar_items_are_substitutes_of_the_same_type(fitted, shop):
    titles = dict(zip(shop.items["item_id"], shop.items["title"]))
    leaf = _leaf(shop)
    item = "sku-0000"
    ids, scores = fitted.similar_items(item, k=5)
    assert item not in ids and list(scores) == sorted(scores, reverse=True)
    assert leaf[ids[0]] == leaf[item]
    kind = titles[item].split(" ", 1)[1]  # "Espresso Machine" of another brand: a substitute
    assert any(kind in titles[i] for i in ids), (titles[item], [titles[i] for i in ids])


def test_explain_names_a_history_item(fitted, shop):
    user = shop.user_vocab.ids[3]
    item = fitted.recommend(user, k=1)[0][0]
    reasons = fitted.explain(user, item)
    assert reasons and reasons[0].kind in ("complement", "co_purchase")
    assert reasons[0].anchor in set(fitted.history(user))
    assert fitted.title(reasons[0].anchor) in reasons[0].text
    assert all(r.to_dict()["text"] for r in reasons)


def test_an_unavailable_or_disabled_stage_is_never_served(shop):
    cfg = RecommenderConfig(text=TextConfig(enabled=False), complements=ComplementsConfig(enabled=False),
                            bundles=BundlesConfig(enabled=False), model=ModelConfig("ease"))
    rec = Recommender(cfg).fit(shop, progress=False)
    assert rec.stages_["text"]["status"] == "disabled" and rec.item_vectors_ is None
    assert rec.stages_["complements"]["status"] == "disabled"
    with pytest.raises(StageUnavailableError, match="complements stage did not run"):
        rec.complements("sku-0000")
    with pytest.raises(StageUnavailableError, match="bundles stage did not run"):
        rec.bundle(shop.user_vocab.ids[0], size=3)
    ids, _ = rec.similar_items("sku-0000", k=3)  # buyer-overlap cosine without text
    assert len(ids) == 3 and "sku-0000" not in ids


@pytest.mark.parametrize("name", ["itemknn", "ease", "lightgcn"])
def test_save_load_recommend_is_identical(shop, tmp_path, name):
    cfg = RecommenderConfig(model=ModelConfig(name, epochs=3), text=TextConfig(enabled=name == "itemknn"),
                            bundles=BundlesConfig(enabled=False))
    rec = Recommender(cfg).fit(shop, progress=False)
    users = list(shop.user_vocab.ids[::7])
    before = rec.recommend(users, k=10)
    rec.save(tmp_path / "model")
    loaded = Recommender.load(tmp_path / "model")
    after = loaded.recommend(users, k=10)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    assert loaded.config == cfg and loaded.stages_ == rec.stages_
    assert loaded.graph_.counts() == rec.graph_.counts()
    u = users[1]
    assert [e.to_dict() for e in loaded.explain(u, after[0][1][0])] == [e.to_dict() for e in rec.explain(u, before[0][1][0])]


def test_a_folder_of_another_version_fails_clearly(fitted, tmp_path):
    path = tmp_path / "model"
    fitted.save(path)
    manifest = json.loads((path / "recommender.json").read_text())
    manifest["version"] = 99
    (path / "recommender.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="format version 99.*reads version 2"):
        Recommender.load(path)
    with pytest.raises(ConfigError, match="not a cartgraph model folder"):
        Recommender.load(tmp_path / "elsewhere")


def test_save_replaces_a_folder_atomically(fitted, shop, tmp_path):
    path = tmp_path / "model"
    fitted.save(path)
    other = Recommender(RecommenderConfig(model=ModelConfig("ease"), text=TextConfig(enabled=False))).fit(shop, progress=False)
    other.save(path)
    assert Recommender.load(path).config.model.name == "ease"
    assert [p.name for p in tmp_path.iterdir()] == ["model"], "no temporary folders left behind"


def test_config_is_typed_and_round_trips():
    cfg = RecommenderConfig(model=ModelConfig("ease", ease_lambda=200.0), graph=GraphConfig(similar_k=5), seed=3)
    assert RecommenderConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.replace(model={"name": "itemknn"}).model == ModelConfig("itemknn", ease_lambda=200.0)
    with pytest.raises(ConfigError, match="model.name: expected one of"):
        ModelConfig("svd")
    with pytest.raises(ConfigError, match="config.model: unknown fields \\['lamda'\\]"):
        RecommenderConfig.from_dict({"model": {"lamda": 3}})
    with pytest.raises(ConfigError, match="unknown sections"):
        RecommenderConfig.from_dict({"gnn": {}})
    with pytest.raises(ConfigError, match="graph.similar_k"):
        GraphConfig(similar_k=-1)
    with pytest.raises(ConfigError, match="model.ranker_fold: expected 'time' or 'basket'"):
        ModelConfig("graph_ranker", ranker_fold="week")


def test_fit_is_deterministic(shop):
    cfg = RecommenderConfig(model=ModelConfig("lightgcn", epochs=2), text=TextConfig(enabled=False), seed=5)
    a = Recommender(cfg).fit(shop, progress=False).recommend(list(shop.user_vocab.ids[:20]), k=5)
    b = Recommender(cfg).fit(shop, progress=False).recommend(list(shop.user_vocab.ids[:20]), k=5)
    # torch's multithreaded sparse products may differ in the last float bit between runs
    assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1], rtol=1e-5, atol=0)


def test_on_online_retail(data_dir):
    ds = cartgraph.load("online-retail", data_dir / "online-retail")
    rec = Recommender(RecommenderConfig(text=TextConfig(enabled=False), model=ModelConfig("itemknn"))).fit(ds, progress=False)
    user = "12347"
    items, scores = rec.recommend(user, k=10)
    assert len(items) == 10 and np.all(np.isfinite(scores))
    assert not set(items) & set(rec.history(user))
    reasons = rec.explain(user, items[0])
    assert reasons[0].kind == "co_purchase" and reasons[0].anchor in set(rec.history(user))


@pytest.fixture(scope="module")
def with_bundles(fitted):
    if fitted.stages_["bundles"]["status"] != "done":
        pytest.skip(f"bundle stage: {fitted.stages_['bundles']}")
    return fitted


def test_bundles_respect_size_budget_anchor_and_ownership(with_bundles, shop):
    rec = with_bundles
    user = shop.user_vocab.ids[1]
    owned = set(rec.history(user))
    bundles = rec.bundle(user, size=3, n=2)
    assert len(bundles) == 2 and bundles[0].items != bundles[1].items
    for b in bundles:
        assert len(b.items) == 3 and len(set(b.items)) == 3 and not set(b.items) & owned
        assert all(b.explanations)
    prices = dict(zip(rec.items_["item_id"], rec.items_["price"]))
    cheap = rec.bundle(user, size=3, budget=60.0)[0]
    assert sum(prices[i] for i in cheap.items) <= 60.0
    anchor = sorted(owned)[0]
    grown = rec.bundle(user, size=4, anchor=anchor)[0]
    assert grown.items[0] == anchor and not set(grown.items[1:]) & owned
    with pytest.raises(ConfigError, match="nobody"):
        rec.bundle("nobody")


def test_bundles_survive_save_and_load(with_bundles, shop, tmp_path):
    with_bundles.save(tmp_path / "model")
    loaded = Recommender.load(tmp_path / "model")
    for user in shop.user_vocab.ids[:5]:
        a, b = with_bundles.bundle(user, n=2), loaded.bundle(user, n=2)
        assert [x.items for x in a] == [x.items for x in b]
        assert [x.explanations for x in a] == [x.explanations for x in b]


# ---------------------------------------------------------------------- complements
def _planted(shop) -> dict[str, set[str]]:
    """The shop's directed complement pairs: anchor → the accessories it calls for."""
    out: dict[str, set[str]] = {}
    for a, b in shop.meta["complements"]:
        out.setdefault(a, set()).add(b)
    return out


def test_complements_recover_the_planted_pairs(fitted, shop):
    """Known answer: an anchor's planted accessories come out on top, far above chance."""
    planted = _planted(shop)
    hits = total = 0
    for anchor, partners in planted.items():
        ids, scores = fitted.complements(anchor, k=len(partners))
        assert anchor not in ids and list(scores) == sorted(scores, reverse=True)
        hits += len(set(ids) & partners)
        total += len(partners)
    chance = np.mean([len(p) for p in planted.values()]) / (shop.n_items - 1)
    assert hits / total > 0.5 > 20 * chance, (hits, total, chance)


def test_complements_come_with_reasons(fitted, shop):
    planted = _planted(shop)
    anchor, partners = next(iter(planted.items()))
    ids, scores, reasons = fitted.complements(anchor, k=5, with_reasons=True)
    assert len(ids) == len(scores) == len(reasons) == 5
    for other, s, r in zip(ids, scores, reasons):
        assert r.kind == "complement" and r.anchor == anchor and fitted.title(anchor) in r.text
        assert r.strength == pytest.approx(float(s), abs=1e-5)
    assert ids[0] in partners and "bought together in" in reasons[0].text
    assert list(scores) == sorted(scores, reverse=True)
    with pytest.raises(ConfigError, match="unknown item id 'nothing'"):
        fitted.complements("nothing")


def test_bundles_use_the_learned_complements(fitted, shop):
    from cartgraph.bundles.complements import as_complement_matrix

    learned = as_complement_matrix(fitted.complements_, shop.n_items).toarray()
    served = fitted.bundler_.tables_
    assert fitted.stages_["complements"]["status"] == "done" and served.n_items == shop.n_items
    planted = _planted(shop)
    anchor = shop.item_vocab.index(next(iter(planted)))
    assert np.argmax(learned[anchor]) in shop.item_vocab.indices(sorted(planted[shop.item_vocab.ids[anchor]]))


def test_complements_and_explanations_survive_save_and_load(fitted, shop, tmp_path):
    fitted.save(tmp_path / "model")
    assert (tmp_path / "model" / "complements.pt").is_file()
    loaded = Recommender.load(tmp_path / "model")
    assert loaded.stages_["complements"]["status"] == "done"
    for item in shop.item_vocab.ids[::11]:
        a, b = fitted.complements(item, k=8, with_reasons=True), loaded.complements(item, k=8, with_reasons=True)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    user = shop.user_vocab.ids[3]
    for item in fitted.recommend(user, k=5)[0]:
        assert fitted.explain(user, item) == loaded.explain(user, item)


def test_complements_config_is_checked_and_switchable(shop):
    with pytest.raises(ConfigError, match="complements.model.*one of"):
        ComplementsConfig(model="magic")
    with pytest.raises(ConfigError, match="complements.epochs"):
        ComplementsConfig(epochs=0)
    for bad in ("sometimes", -1.0, True):
        with pytest.raises(ConfigError, match="complements.count_weight.*'auto' or a number >= 0"):
            ComplementsConfig(count_weight=bad)
    with pytest.raises(ConfigError, match=r"complements.valid_fraction.*\(0, 1\)"):
        ComplementsConfig(valid_fraction=1.0)
    assert RecommenderConfig.from_dict({"complements": {"enabled": False}}).complements.enabled is False
    assert RecommenderConfig.from_dict({"complements": {"count_weight": 2.0}}).complements.count_weight == 2.0


def test_the_default_complements_are_a_ranker_trained_on_the_latest_baskets(fitted, shop):
    """``complements.model="ranker"`` (default): a ComplementRanker whose scorer learned from
    the shop's own latest baskets (the stage says how it did on its validation anchors);
    without baskets to hold out it falls back to the raw co-purchase order, and with no
    shared basket at all the stage is unavailable."""
    from cartgraph.gnn import ComplementRanker
    from cartgraph.pipeline_stages import make_complement_ranker

    model, detail = fitted.complements_, fitted.stages_["complements"]["detail"]
    assert isinstance(model, ComplementRanker) and model.n_train_anchors_ > 0
    assert f"validation P@10 {model.valid_precision_['start']:.3f} (co-purchase order)" in detail, detail
    few = shop.replace(events=shop.events[shop.events["basket_id"].isin(shop.events["basket_id"].unique()[:5])])
    untrained = make_complement_ranker(fitted, few)
    assert untrained.n_train_anchors_ == 0 and untrained.epochs == 0
    assert make_complement_ranker(fitted, shop.replace(events=shop.events.assign(basket_id=None),
                                                       bundles=shop.bundles.iloc[:0])) is None


def test_count_weight_is_chosen_on_the_latest_baskets(shop):
    """``complements.model="gnn"`` with ``count_weight="auto"``: the served complements fuse the
    learned score with the observed counts at the weight best on the latest baskets (held
    out of a first fit); a number is used as given; without baskets to hold out the
    documented default is used."""
    from cartgraph.config import AUTO_COUNT_WEIGHT_FALLBACK
    from cartgraph.gnn.complement_holdout import latest_baskets
    from cartgraph.gnn.complements import COUNT_WEIGHTS
    from cartgraph.pipeline_stages import choose_count_weight, make_complement_model

    fitted = Recommender(RecommenderConfig(model=ModelConfig("itemknn"), complements=ComplementsConfig(model="gnn"),
                                           bundles=BundlesConfig(enabled=False))).fit(shop, progress=False)
    w = fitted.complements_.count_weight_
    detail = fitted.stages_["complements"]["detail"]
    n_held = latest_baskets(shop, 0.2).groups["group_id"].nunique()
    assert w in COUNT_WEIGHTS and f"count weight chosen on the latest {n_held} baskets" in detail, detail
    # the same choice made by hand: fit without the latest baskets, score every weight on them
    holdout = latest_baskets(shop, 0.2)
    probe = make_complement_model(fitted, holdout.train, count_weight="auto").fit(
        holdout.train, item_vectors=fitted.item_vectors_, valid=holdout.groups)
    assert probe.count_weight_ == w and detail.endswith(f": {w:g}")
    fixed = Recommender(RecommenderConfig(model=ModelConfig("itemknn"),
                                          complements=ComplementsConfig(model="gnn", count_weight=3.0),
                                          bundles=BundlesConfig(enabled=False))).fit(shop, progress=False)
    assert fixed.complements_.count_weight_ == 3.0 and "count weight set: 3" in fixed.stages_["complements"]["detail"]
    no_baskets = shop.replace(events=shop.events.assign(basket_id=None))
    no_baskets = no_baskets.replace(bundles=shop.bundles.iloc[:0]) if len(shop.bundles) else no_baskets
    assert choose_count_weight(fitted, no_baskets)[0] == AUTO_COUNT_WEIGHT_FALLBACK


def test_explain_gives_a_complement_reason_for_a_planted_accessory(fitted, shop):
    """A user who owns an anchor but not its accessory is told the accessory goes with it."""
    planted = _planted(shop)
    for user in shop.user_vocab.ids:
        owned = set(fitted.history(user))
        for anchor in sorted(owned & set(planted)):
            missing = sorted(planted[anchor] - owned)
            if missing:
                reasons = fitted.explain(user, missing[0])
                assert reasons[0].kind == "complement", reasons
                assert reasons[0].anchor in owned
                return
    pytest.fail("no user owns an anchor without one of its accessories")


# ---------------------------------------------------------------------- hetero GNN
def test_hetero_model_fits_serves_and_round_trips(shop, tmp_path):
    cfg = RecommenderConfig(model=ModelConfig("hetero", epochs=30, num_layers=2, embedding_dim=32, lr=0.03),
                            complements=ComplementsConfig(enabled=False), bundles=BundlesConfig(enabled=False))
    rec = Recommender(cfg).fit(shop, progress=False)
    assert rec.stages_["model"]["status"] == "done" and type(rec.model_).__name__ == "TextHeteroGNN"
    users = list(shop.user_vocab.ids[:60])
    items, scores = rec.recommend(users, k=10)
    _assert_follows_tastes(shop, users, items)
    rec.save(tmp_path / "model")
    loaded = Recommender.load(tmp_path / "model")
    again = loaded.recommend(users, k=10)
    assert np.array_equal(items, again[0]) and np.array_equal(scores, again[1])


# ---------------------------------------------------------------------- graph ranker
def test_graph_ranker_model_fits_serves_and_round_trips(shop, tmp_path):
    cfg = RecommenderConfig(model=ModelConfig("graph_ranker", ease_lambda=50.0, epochs=30),
                            complements=ComplementsConfig(enabled=False), bundles=BundlesConfig(enabled=False))
    rec = Recommender(cfg).fit(shop, progress=False)
    model = rec.model_
    assert rec.stages_["model"]["status"] == "done" and type(model).__name__ == "TextGraphRanker"
    assert model.history_.valid and model.history_.valid[0][0] == 0       # early-stopped on held-out users
    assert len(model.n_train_users_) == model.n_folds and min(model.n_train_users_) > 0
    users = list(shop.user_vocab.ids[:60])
    items, scores = rec.recommend(users, k=10)
    _assert_follows_tastes(shop, users, items)
    seen = {u: set(shop.events.loc[shop.events["user_id"] == u, "item_id"]) for u in users}
    assert not any(set(row) & seen[u] for u, row in zip(users, items))   # bought items masked
    rec.save(tmp_path / "model")
    loaded = Recommender.load(tmp_path / "model")
    again = loaded.recommend(users, k=10)
    assert np.array_equal(items, again[0]) and np.array_equal(scores, again[1])


def test_complements_without_shared_baskets_are_unavailable_not_an_error(shop):
    events = shop.events.assign(basket_id=[f"b{i}" for i in range(len(shop.events))])
    lonely = shop.replace(events=events, bundles=shop.bundles.iloc[:0], user_bundles=shop.user_bundles.iloc[:0])
    rec = Recommender(RecommenderConfig(bundles=BundlesConfig(enabled=False))).fit(lonely, progress=False)
    info = rec.stages_["complements"]
    assert info["status"] == "unavailable" and "nothing to learn complements from" in info["detail"]
    with pytest.raises(StageUnavailableError, match="complements stage did not run"):
        rec.complements("sku-0000")
    assert rec.explain(shop.user_vocab.ids[0], "sku-0001")  # other reasons still given


def test_complement_stage_is_deterministic(shop):
    cfg = RecommenderConfig(model=ModelConfig("ease"), bundles=BundlesConfig(enabled=False),
                            complements=ComplementsConfig(min_steps=20), seed=2)
    a, b = (Recommender(cfg).fit(shop, progress=False) for _ in range(2))
    for item in shop.item_vocab.ids[::17]:
        (ia, sa), (ib, sb) = a.complements(item, k=5), b.complements(item, k=5)
        assert np.array_equal(ia, ib) and np.allclose(sa, sb, rtol=1e-5, atol=0)
