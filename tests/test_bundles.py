"""BundleBuilder: constraints, determinism, explanations, RL known answer, feedback, persistence."""
from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cartgraph
from cartgraph.bundles import FEATURES, HAND_WEIGHTS, BundleBuilder, Constraints, RLConfig
from cartgraph.bundles.baselines import BASELINES
from cartgraph.bundles.policy import STARTS
from cartgraph.bundles.metrics import bundle_metrics, pair_matrix
from cartgraph.errors import ConfigError, NotFittedError
from cartgraph.text import TextEncoder, item_vectors


@pytest.fixture(scope="module")
def shop():
    ds = cartgraph.load("synthetic", "", n_users=200, n_items=120, seed=0)
    return ds, item_vectors(ds, TextEncoder())


@pytest.fixture(scope="module")
def hand(shop):
    ds, vec = shop
    return BundleBuilder(size=4, rl=None).fit(ds, vec)


def test_build_returns_explained_bundle_from_anchor(shop, hand):
    ds, _ = shop
    anchor = ds.items["item_id"].iloc[0]
    [b] = hand.build(ds.users["user_id"].iloc[3], anchor=anchor, budget=2000.0)
    assert b.items[0] == anchor and b.anchors == 1 and len(b) == 4
    assert len(set(b.items)) == 4
    assert b.explanations[0] == "in the cart"
    assert all(e for e in b.explanations[1:]) and all(set(f) == set(FEATURES) for f in b.features[1:])
    prices = ds.items.set_index("item_id").loc[list(b.items), "price"]
    assert b.total_price == pytest.approx(prices.sum())
    assert any(e.startswith("complements ") for e in b.explanations[1:])  # co-purchase evidence is used


def test_walk_adds_planted_complements_of_the_anchor(shop, hand):
    """On the synthetic shop the complements of an anchor are known: the walk must find them."""
    ds, _ = shop
    pairs = ds.meta["complements"]
    found, popular, total = 0, 0, 0
    for anchor in sorted({a for a, _ in pairs})[:20]:
        truth = {b for a, b in pairs if a == anchor}
        [bundle] = hand.build(None, anchor=anchor, size=1 + len(truth))
        found += len(truth & set(bundle.items[1:]))
        req = hand.request(None, [ds.item_vocab.index(anchor)], Constraints(size=1 + len(truth)))
        popular += len(truth & set(hand.tables_.item_ids[BASELINES["top_relevance"](req)[1:]]))
        total += len(truth)
    assert found / total > 0.5 and found > 2 * popular


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(1, 6), budget=st.one_of(st.none(), st.floats(0, 1500)),
       cap=st.one_of(st.none(), st.integers(1, 2)), excl=st.sets(st.integers(0, 119), max_size=30),
       anchor=st.one_of(st.none(), st.integers(0, 119)), user=st.one_of(st.none(), st.integers(0, 199)),
       n=st.integers(1, 3), temp=st.one_of(st.none(), st.floats(0.05, 2.0)), stock_mod=st.integers(1, 4))
def test_no_bundle_ever_breaks_a_constraint(shop, hand, size, budget, cap, excl, anchor, user, n, temp, stock_mod):
    t = hand.tables_
    anchors = [] if anchor is None else [anchor]
    if anchors and budget is not None and t.price[anchor] > budget:
        anchors = []
    stock = lambda items: items % stock_mod != 1  # noqa: E731
    c = Constraints(size=size, budget=budget, max_per_category=cap, exclude=frozenset(excl) - set(anchors),
                    available=stock)
    for b in hand.build_indices(user, anchors, c, n=n, temperature=temp, seed=7):
        assert c.violations(b.indices, t.price, t.leaf, anchors=anchors) == []
        assert list(b.indices[:len(anchors)]) == anchors
        idx = np.array(b.indices, dtype=np.int64)
        cos = t.vectors[idx] @ t.vectors[idx].T
        same = (t.leaf[idx][:, None] == t.leaf[idx][None, :]) & (t.leaf[idx][:, None] >= 0)
        added = np.arange(len(idx)) >= len(anchors)
        assert not (np.triu(same & (cos > 0.9), 1) & added[None, :]).any()  # no substitutes added
    for name, fn in BASELINES.items():
        items = fn(hand.request(user, anchors, c))
        assert c.violations(items, t.price, t.leaf, anchors=anchors) == [], name


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), user=st.integers(0, 199), n=st.integers(1, 3))
def test_same_seed_gives_identical_bundles(hand, seed, user, n):
    c = Constraints(size=4)
    first = hand.build_indices(user, [], c, n=n, seed=seed, temperature=0.5)
    again = hand.build_indices(user, [], c, n=n, seed=seed, temperature=0.5)
    assert [b.indices for b in first] == [b.indices for b in again]
    assert hand.build_indices(user, [], c, n=n) == hand.build_indices(user, [], c, n=n)


def test_sampling_varies_with_the_seed(hand):
    c = Constraints(size=5)
    seen = {hand.build_indices(5, [], c, seed=s, temperature=1.0)[0].indices for s in range(10)}
    assert len(seen) > 1


def test_beam_gives_distinct_bundles_best_first(hand):
    bundles = hand.build_indices(1, [0], Constraints(size=4), n=3)
    assert len({frozenset(b.indices) for b in bundles}) == 3
    assert [b.score for b in bundles] == sorted((b.score for b in bundles), reverse=True)
    assert bundles[0].indices == hand.build_indices(1, [0], Constraints(size=4))[0].indices or \
        bundles[0].score >= hand.build_indices(1, [0], Constraints(size=4))[0].score


def test_rl_learns_planted_complements_from_a_bad_start(shop):
    """Known answer: starting from weights that ignore complements and chase popularity,
    REINFORCE on the shop's baskets must learn to trust complement evidence (no fitted start:
    the steps alone must learn it)."""
    ds, vec = shop
    bad = {f: 0.0 for f in FEATURES} | {"popularity": 2.0, "complement": -1.0, "complement_mean": -1.0}
    start = time.perf_counter()
    b = BundleBuilder(size=4, weights=bad, rl=RLConfig(epochs=6, max_episodes=300, lr=0.1, patience=6,
                                                       max_size=4, starts=(), fit_start=False)).fit(ds, vec, seed=0)
    assert time.perf_counter() - start < 30
    w = b.weights_
    assert w["complement"] + w["complement_mean"] > 0 > bad["complement"] + bad["complement_mean"]
    curve = b.history_
    assert max(h["valid_recall"] for h in curve[1:]) > curve[0]["valid_recall"] + 0.2


def test_rl_is_deterministic_and_saves_its_curve(shop, tmp_path):
    ds, vec = shop
    cfg = RLConfig(epochs=2, max_episodes=80, max_size=4)
    a = BundleBuilder(size=4, rl=cfg, curve_path=tmp_path / "curve.png").fit(ds, vec, seed=3)
    b = BundleBuilder(size=4, rl=cfg).fit(ds, vec, seed=3)
    assert a.weights_ == b.weights_
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_feedback_moves_weights_and_persists(shop, tmp_path):
    ds, vec = shop
    b = BundleBuilder(size=4, rl=None).fit(ds, vec)
    user = ds.users["user_id"].iloc[0]
    [bundle] = b.build(user)
    rejected = bundle.items[1]
    for _ in range(30):
        [bundle] = b.build(user)
        if rejected not in bundle.items:
            break
        b.feedback(bundle, rejected=[rejected])
    assert rejected not in b.build(user)[0].items
    assert b.n_feedback_ >= 1 and b.weights_ != HAND_WEIGHTS
    b.save(tmp_path / "m")
    back = BundleBuilder.load(tmp_path / "m", relevance=b.relevance_)
    assert back.weights_ == b.weights_ and back.n_feedback_ == b.n_feedback_
    assert back.build(user)[0].items == b.build(user)[0].items
    rebuilt = type(bundle)(**{**bundle.__dict__, "steps": ()})  # a bundle without logged steps is replayed
    back.feedback(rebuilt, accepted=[rebuilt.items[1]])
    assert back.n_feedback_ == b.n_feedback_ + 1


def test_pluggable_complement_source_is_used(shop):
    """A planted complement matrix (any array source, e.g. a learned model) drives the walk."""
    ds, vec = shop
    n = ds.n_items
    planted = sp.csr_matrix(([5.0, 5.0], ([0, 0], [77, 99])), shape=(n, n))
    b = BundleBuilder(size=3, rl=None, weights={"complement": 3.0}).fit(ds, vec, complements=planted)
    [bundle] = b.build_indices(None, [0], Constraints(size=3))
    assert set(bundle.indices[1:]) == {77, 99}
    assert "complements" in bundle.explanations[1]


def test_bad_input_names_the_argument(shop, hand):
    ds, vec = shop
    with pytest.raises(ConfigError, match="user"):
        hand.build("no-such-user")
    with pytest.raises(ConfigError, match="anchor"):
        hand.build(None, anchor="no-such-item")
    with pytest.raises(ConfigError, match="budget"):
        hand.build(None, anchor=ds.items["item_id"].iloc[0], budget=0.5)
    with pytest.raises(ConfigError, match="size"):
        hand.build(None, size=0)
    with pytest.raises(ConfigError, match="n must"):
        hand.build(None, n=0)
    with pytest.raises(ConfigError, match="complements"):
        BundleBuilder(rl=None).fit(ds, vec, complements=np.zeros((3, 3)))
    with pytest.raises(ConfigError, match="unknown features"):
        BundleBuilder(rl=None, weights={"colour": 1.0}).fit(ds, vec)
    with pytest.raises(NotFittedError):
        BundleBuilder().build(None)


def test_metrics_known_answer():
    vectors = np.eye(4, dtype=np.float32)
    vectors[1] = vectors[0]                       # items 0 and 1: identical text
    leaf = np.array([0, 0, 1, 2])
    pairs = pair_matrix([[0, 2], [3]], 4)         # held-out: 0 and 2 bought together
    m = bundle_metrics([0, 1, 2], 1, {2, 3}, pairs, vectors, leaf)
    assert m["recall"] == 0.5 and m["precision"] == 0.5
    assert m["complement_precision"] == pytest.approx(1 / 3)     # pairs (0,1) (0,2) (1,2)
    assert m["substitute_rate"] == pytest.approx(1 / 3)          # (0,1): same leaf, cosine 1
    assert m["category_coverage"] == pytest.approx(2 / 3)
    assert m["intra_list_diversity"] == pytest.approx(1 - 1 / 3)


def test_a_complement_model_plugs_in(shop):
    """Any model with ``complements(items, k)`` (the ComplementModel interface) is a source."""
    ds, vec = shop

    class Planted:
        def complements(self, items, k=10):
            idx = np.full((len(items), k), -1)
            score = np.full((len(items), k), -np.inf)
            idx[0, :2], score[0, :2] = [50, 60], [4.0, 3.0]
            return idx, score

    b = BundleBuilder(size=3, rl=None, weights={"complement": 3.0}).fit(ds, vec, complements=Planted())
    assert b.build_indices(None, [0], Constraints(size=3))[0].indices[1:] == (50, 60)


def test_walk_at_the_text_knn_start_is_text_knn(shop, hand):
    """The baselines are points of the walk's weight space: with the ``text_knn`` start weights
    and no substitute mask the greedy walk returns exactly the text-kNN baseline's bundle."""
    from cartgraph.bundles.policy import STARTS, LinearPolicy
    from cartgraph.bundles.walk import decode

    pol = LinearPolicy.from_dict(STARTS["text_knn"])
    same = 0
    for anchor in range(0, 120, 7):
        req = hand.request(None, [anchor], Constraints(size=4))
        req.avoid_substitutes = False
        same += decode(req, pol)[0] == BASELINES["text_knn"](req)
    assert same == len(range(0, 120, 7))


def test_rl_starts_from_the_best_baseline_point_on_validation(shop):
    """From weights that chase popularity, start selection must pick a better starting point
    (judged on validation pooled with the training episodes with ``start_pool``, on validation
    alone by default) and the kept policy is no worse on validation than it."""
    ds, vec = shop
    bad = {f: 0.0 for f in FEATURES} | {"popularity": 2.0, "complement": -1.0, "complement_mean": -1.0}
    b = BundleBuilder(size=4, weights=bad, rl=RLConfig(epochs=1, max_episodes=120, max_size=4, start_pool=True)
                      ).fit(ds, vec, seed=0)
    h0 = b.history_[0]
    assert h0["start"] != "init" and set(h0["start_valid_recall"]) == {"init", *STARTS, "fitted"}
    # the start has the best mean recall over validation and training episodes pooled (RLConfig.start_pool)
    n = h0["start_episodes"]
    pooled = {s: (h0["start_valid_recall"][s] * n["valid"] + h0["start_train_recall"][s] * n["train"])
              / (n["valid"] + n["train"]) for s in h0["start_train_recall"]}
    assert set(pooled) == {"init", *STARTS} and h0["start"] in {max(pooled, key=pooled.get), "fitted"}
    assert pooled["init"] < max(pooled.values())
    if h0["start"] != "fitted":
        assert h0["valid_recall"] == h0["start_valid_recall"][h0["start"]]
    plain = BundleBuilder(size=4, weights=bad, rl=RLConfig(epochs=1, max_episodes=120, max_size=4,
                                                           fit_start=False)).fit(ds, vec, seed=0).history_[0]
    assert "start_train_recall" not in plain          # validation alone picks the start
    assert plain["valid_recall"] == max(plain["start_valid_recall"].values()) > plain["start_valid_recall"]["init"]
    kept = b.history_[h0["kept_epoch"]]   # guarded: no lower complement precision, no more substitutes
    assert kept["valid_recall"] >= h0["valid_recall"]
    assert kept["valid_complement_precision"] >= h0["valid_complement_precision"] - 1e-9
    assert kept["valid_substitute_rate"] <= h0["valid_substitute_rate"] + 1e-9
    with pytest.raises(ConfigError, match="starts"):
        RLConfig(starts=("nope",))


def test_anchor_aware_features_known_answer(shop):
    """``anchor_complement`` is evidence from the anchor (not the last item); ``mean_similarity``
    averages the cosine to every chosen item."""
    from cartgraph.bundles.walk import frontier

    ds, vec = shop
    n = ds.n_items
    planted = sp.csr_matrix(([5.0, 5.0], ([0, 3], [77, 99])), shape=(n, n))
    b = BundleBuilder(size=4, rl=None).fit(ds, vec, complements=planted)
    req = b.request(None, [0], Constraints(size=4))
    cands, feats = frontier(req, [0, 3])
    f = {name: feats[:, i] for i, name in enumerate(FEATURES)}
    at = {int(c): k for k, c in enumerate(cands)}
    assert f["anchor_complement"][at[77]] > 0 and f["anchor_complement"][at[99]] == 0
    assert f["complement"][at[99]] > 0                      # 99 complements the last item, not the anchor
    t = b.tables_
    for c in (77, 99):
        assert f["mean_similarity"][at[c]] == pytest.approx(float((t.vectors[[0, 3]] @ t.vectors[c]).mean()), abs=1e-5)
        assert f["anchor_similarity"][at[c]] == pytest.approx(float(t.vectors[0] @ t.vectors[c]), abs=1e-5)


def test_reward_weight_is_chosen_on_validation_recall(shop, tmp_path):
    """With several complement bonuses RL runs once per value and keeps the run with the best
    validation recall; the choice is saved with the builder."""
    ds, vec = shop
    cfg = RLConfig(epochs=1, max_episodes=80, max_size=4, complement_bonuses=(0.0, 2.0))
    b = BundleBuilder(size=4, rl=cfg).fit(ds, vec, seed=1)
    h0 = b.history_[0]
    assert set(h0["bonus_valid"]) == {"0.0", "2.0"} and h0["complement_bonus"] in (0.0, 2.0)
    assert h0["kept_valid_recall"] == max(h0["bonus_valid"].values())
    assert h0["kept_valid_recall"] == b.history_[h0["kept_epoch"]]["valid_recall"]
    b.save(tmp_path / "m")
    back = BundleBuilder.load(tmp_path / "m", relevance=b.relevance_)
    assert back.rl == cfg and back.weights_ == b.weights_


def test_validation_slice_size_is_its_own_setting(shop):
    from cartgraph.bundles.episodes import time_split

    ds, _ = shop
    _, tr, va, _ = time_split(ds, 0.6, 0.5, 30, 4, seed=0)
    _, tr2, va2, _ = time_split(ds, 0.6, 0.5, 30, 4, seed=0, max_valid=25)
    assert len(va) == 10 and len(va2) == 25 and [e.anchors for e in tr] == [e.anchors for e in tr2]


def test_frozen_features_keep_their_starting_weight(shop):
    """``RLConfig.frozen``: RL moves the other weights but leaves the frozen ones as they started."""
    ds, vec = shop
    bad = {f: 0.0 for f in FEATURES} | {"popularity": 2.0, "complement": -1.0, "complement_mean": -1.0}
    cfg = RLConfig(epochs=3, max_episodes=200, lr=0.1, patience=3, max_size=4, starts=(), select_on="reward",
                   frozen=("popularity", "complement"))
    w = BundleBuilder(size=4, weights=bad, rl=cfg).fit(ds, vec, seed=0).weights_
    assert w["popularity"] == bad["popularity"] and w["complement"] == bad["complement"]
    assert w["complement_mean"] != bad["complement_mean"]
    with pytest.raises(ConfigError, match="frozen.*nope"):
        RLConfig(frozen=("nope",))


def test_last_episodes_need_users_with_several_timed_bundles(shop):
    ds, vec = shop   # 6 synthetic users chose two bundles: too few for a per-user validation slice
    with pytest.raises(ConfigError, match="'last' episode split"):
        BundleBuilder(size=4, rl=RLConfig(episodes="last", epochs=1, max_size=4)).fit(ds, vec)
    with pytest.raises(ConfigError, match="episodes"):
        RLConfig(episodes="latest")


def test_keep_norm_and_prox_shape_the_rl_step(shop):
    """``keep_norm``: the tuned weights keep the start's norm (RL cannot just sharpen the
    sampling); ``prox`` with ``lr · prox = 1`` pulls every step fully back to the start."""
    ds, vec = shop
    bad = {f: 0.0 for f in FEATURES} | {"popularity": 2.0, "complement": -1.0, "complement_mean": -1.0}
    base = dict(epochs=3, max_episodes=200, lr=0.1, patience=3, max_size=4, starts=(), select_on="reward",
                fit_start=False)
    kept = BundleBuilder(size=4, weights=bad, rl=RLConfig(keep_norm=True, **base)).fit(ds, vec, seed=0)
    w = np.array([kept.weights_[f] for f in FEATURES])
    assert np.linalg.norm(w) == pytest.approx(np.linalg.norm([bad[f] for f in FEATURES]), rel=1e-9)
    assert kept.weights_ != bad
    pulled = BundleBuilder(size=4, weights=bad, rl=RLConfig(prox=10.0, **base)).fit(ds, vec, seed=0)
    assert pulled.weights_ == pytest.approx(bad)
    with pytest.raises(ConfigError, match="prox"):
        RLConfig(prox=-1.0)


def test_train_policy_takes_ready_made_requests(shop):
    """Cross-fitted episodes read different data, so the builder hands ``train_policy`` one
    request per episode: the same requests ready-made or from a maker give the same policy;
    a wrong count or a missing validation maker is refused."""
    from cartgraph.bundles.builder import default_relevance
    from cartgraph.bundles.episodes import time_split
    from cartgraph.bundles.policy import LinearPolicy
    from cartgraph.bundles.rl import train_policy

    ds, vec = shop
    b = BundleBuilder(size=4, rl=None)
    graph, train, valid, pairs = time_split(ds, 0.6, 0.25, 60, 4, seed=0)
    make = b._maker(graph, vec, None, default_relevance)
    bad = {f: 0.0 for f in FEATURES} | {"popularity": 2.0, "complement": -1.0}
    cfg = RLConfig(epochs=2, max_size=4, starts=(), select_on="reward", lr=0.1, patience=2)
    init = LinearPolicy.from_dict(bad)
    by_maker, _ = train_policy(make, train, valid, init, cfg, 0, False, pairs)
    ready, _ = train_policy([make(e) for e in train], train, valid, init, cfg, 0, False, pairs,
                            make_valid_request=[make(e) for e in valid])
    assert not np.array_equal(by_maker.weights, init.weights)
    np.testing.assert_array_equal(ready.weights, by_maker.weights)
    with pytest.raises(ConfigError, match=r"make_request must be .* one request per episode \(%d\), got 1" % len(train)):
        train_policy([make(train[0])], train, valid, init, cfg, 0, False, pairs, make_valid_request=make)
    with pytest.raises(ConfigError, match="ready-made training requests need make_valid_request"):
        train_policy([make(e) for e in train], train, valid, init, cfg, 0, False, pairs)


def test_a_bundle_without_anchor_opens_with_the_users_most_relevant_item(shop):
    """The policy learns to grow anchored bundles, so an unanchored bundle opens with the
    shopper's most relevant allowed item whatever the weights (here: popularity only, which
    would open every user's bundle with the same item); feedback leaves that pick alone."""
    from cartgraph.bundles.walk import opening_scores

    ds, vec = shop
    popular = {f: 0.0 for f in FEATURES} | {"popularity": 3.0}
    b = BundleBuilder(size=4, weights=popular, rl=None).fit(ds, vec)
    firsts = set()
    for user in ds.users["user_id"].iloc[:12]:
        [bundle] = b.build(user)
        req = b.request(int(ds.user_vocab.index(user)), [], Constraints(size=4))
        expected = int(np.flatnonzero(req.rel == req.rel[req.user_top].max())[0])
        assert bundle.indices[0] == expected and bundle.steps[0].opening and not bundle.steps[1].opening
        assert "recommended for you" in bundle.explanations[0]
        firsts.add(bundle.items[0])
        for beam in b.build(user, n=3):  # beam openers: among the beam's width of most relevant items
            rel = opening_scores(beam.steps[0].feats)
            assert rel[beam.steps[0].action] >= np.sort(rel)[-b.beam_width]
    assert len(firsts) > 3, firsts
    before = b.weights_
    b.feedback(bundle, rejected=[bundle.items[0]])
    assert b.weights_ == before
    b.feedback(bundle, rejected=[bundle.items[1]])
    assert b.weights_ != before


def test_a_learned_models_scores_are_read_relative_to_each_anchors_best():
    """``as_complement_matrix`` of a ranking model: ``2·sigmoid(s − s_best)`` per anchor, so
    large raw scores do not all read 1.0 (the walk must tell the best complement apart)."""
    from cartgraph.bundles.complements import as_complement_matrix

    class Model:
        def complements(self, items, k):
            idx = np.array([[1, 2, 3], [0, 2, -1], [0, 1, 3], [2, 1, 0]])[:, :k]
            return idx, np.array([[14.0, 12.0, 9.0], [3.0, 3.0, -np.inf], [0.5, -1.0, -2.0],
                                  [20.0, 19.0, 1.0]])[:, :k]

    m = as_complement_matrix(Model(), 4).toarray()
    sig = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    np.testing.assert_allclose(m[0, [1, 2, 3]], [1.0, 2 * sig(-2.0), 2 * sig(-5.0)], rtol=1e-6)
    np.testing.assert_allclose(m[1], [1.0, 0.0, 1.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(m[2, [0, 1, 3]], [1.0, 2 * sig(-1.5), 2 * sig(-2.5)], rtol=1e-6)
    assert m[3, 2] == 1.0 and m[3, 0] < 1e-7 * 3e1
