"""The fitted RL start: weights that maximise the log probability of picking a real item."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import cartgraph
from cartgraph.bundles import FEATURES, BundleBuilder, Constraints, RLConfig
from cartgraph.bundles.episodes import Episode
from cartgraph.bundles.imitation import HitStates, _objective, fit_hit_policy, hit_states

from tests.test_bundle_lexical import code_pairs  # noqa: F401  (the fixture)


def _states(seed: int = 0) -> HitStates:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 7, size=30)
    feats = rng.normal(size=(int(sizes.sum()), len(FEATURES)))
    hit = np.zeros(len(feats), bool)
    start = np.concatenate([[0], np.cumsum(sizes)])
    for lo, hi in zip(start[:-1], start[1:]):
        hit[rng.integers(lo, hi)] = True
    return HitStates(feats, hit, start)


def test_objective_gradient_matches_finite_differences():
    st, w = _states(), np.random.default_rng(1).normal(size=len(FEATURES))
    prior = np.linspace(-1, 1, len(FEATURES))
    loss, grad = _objective(w, st, 0.01, prior)
    eps = 1e-6
    num = np.array([(_objective(w + eps * e, st, 0.01, prior)[0] - _objective(w - eps * e, st, 0.01, prior)[0])
                    / (2 * eps) for e in np.eye(len(FEATURES))])
    assert np.allclose(grad, num, atol=1e-6)
    # one candidate per state, all hits: probability 1, the loss is the ridge term alone
    one = HitStates(st.feats[:5], np.ones(5, bool), np.arange(6))
    assert _objective(w, one, 0.01)[0] == pytest.approx(0.005 * w @ w)
    assert _objective(w, one, 0.01, prior=w)[0] == pytest.approx(0.0)   # the ridge is centred on the prior


def test_objective_is_stable_for_large_scores():
    st = _states()
    loss, grad = _objective(np.full(len(FEATURES), 200.0), st, 1e-3)
    assert np.isfinite(loss) and np.isfinite(grad).all()


def test_fit_learns_the_lexical_mate(code_pairs):  # noqa: F811
    """Known answer: each anchor's bundle mate shares its title's model code and nothing in
    the text vectors finds it; the fit must move weight to the lexical features and the
    greedy walk must then pick the mate."""
    ds, vec, n = code_pairs
    b = BundleBuilder(size=2, weights={"anchor_similarity": 1.0},
                      rl=RLConfig(epochs=1, patience=1, max_episodes=200, max_size=2, starts=(), sources="bundles",
                                  graph_fraction=0.2, valid_fraction=0.5, min_gain_z=0.0)).fit(ds, vec, seed=0)
    h0 = b.history_[0]
    assert h0["start"] == "fitted" and h0["start_valid_recall"]["init"] == 0.0
    assert h0["start_valid_recall"]["fitted"] >= 0.8 and h0["fit"]["states"] > 0
    w = h0["start_weights"]
    assert max(w["anchor_lexical"], w["lexical"]) > abs(w["anchor_similarity"])
    hits = sum(b.build(None, anchor=ds.item_vocab.external(k), size=2)[0].indices[1] == k + 1 for k in range(0, n, 2))
    assert hits >= 0.8 * (n // 2)


def test_fit_is_deterministic_and_states_skip_unreachable_targets():
    ds = cartgraph.load("synthetic", "", n_users=60, n_items=50, seed=4)
    vec = np.random.default_rng(0).normal(size=(ds.n_items, 8)).astype(np.float32)
    b = BundleBuilder(size=3, rl=None).fit(ds, vec)
    eps = [Episode(None, (k,), frozenset({(k + 1) % ds.n_items, (k + 7) % ds.n_items}), 3) for k in range(20)]
    reqs = [b.request(None, e.anchors, Constraints(size=3)) for e in eps]
    st = hit_states(reqs, eps, b.policy_)
    assert st.n_states <= 2 * len(eps) and len(st.start) == st.n_states + 1
    assert all(st.hit[lo:hi].any() for lo, hi in zip(st.start[:-1], st.start[1:]))   # each state has a hit
    p1, info1 = fit_hit_policy(reqs, eps, b.policy_)
    p2, info2 = fit_hit_policy(reqs, eps, b.policy_)
    assert np.array_equal(p1.weights, p2.weights) and info1 == info2
    frozen, _ = fit_hit_policy(reqs, eps, b.policy_, frozen=("popularity", "relevance"))
    pop, rel = FEATURES.index("popularity"), FEATURES.index("relevance")
    assert frozen.weights[[pop, rel]] == pytest.approx(b.policy_.weights[[pop, rel]])
    assert not np.allclose(frozen.weights, b.policy_.weights)
    normed, _ = fit_hit_policy(reqs, eps, b.policy_, keep_norm=True)
    assert np.linalg.norm(normed.weights) == pytest.approx(np.linalg.norm(b.policy_.weights))
    assert normed.weights / np.linalg.norm(normed.weights) == pytest.approx(p1.weights / np.linalg.norm(p1.weights))
    with pytest.raises(ValueError, match="rounds"):
        fit_hit_policy(reqs, eps, b.policy_, rounds=0)
    # no reachable real item anywhere: the start comes back unchanged
    none = [Episode(None, e.anchors, frozenset(), 3) for e in eps]
    same, info = fit_hit_policy(reqs, none, b.policy_)
    assert np.array_equal(same.weights, b.policy_.weights) and info["states"] == 0


def test_fitted_start_needs_a_clear_validation_gain(code_pairs):  # noqa: F811
    """``fit_min_gain_z``: the fitted start displaces the fixed start only with a clear paired
    validation gain; below the bar it is scored and recorded but not used."""
    ds, vec, _ = code_pairs
    init = {"anchor_similarity": 1.0, "anchor_lexical": 0.3}   # finds a few mates: the gain has a spread
    cfg = RLConfig(epochs=1, patience=1, max_episodes=200, max_size=2, starts=(), sources="bundles",
                   graph_fraction=0.2, valid_fraction=0.5)
    easy = BundleBuilder(size=2, weights=init, rl=cfg).fit(ds, vec, seed=0).history_[0]
    fit = easy["fit"]
    assert easy["start"] == "fitted" and fit["kept"] is True and fit["gain"] > 0.5
    z = fit["gain"] / fit["gain_se"]
    assert z > 2.0
    clear = BundleBuilder(size=2, weights=init, rl=dataclasses.replace(cfg, fit_min_gain_z=0.5 * z)).fit(ds, vec, seed=0)
    assert clear.history_[0]["start"] == "fitted"
    strict = BundleBuilder(size=2, weights=init, rl=dataclasses.replace(cfg, fit_min_gain_z=1.5 * z)).fit(ds, vec, seed=0)
    h0 = strict.history_[0]
    assert h0["start"] == "init" and h0["fit"]["kept"] is False
    assert h0["fit"]["gain"] == pytest.approx(fit["gain"]) and h0["fit"]["weights"] == fit["weights"]
    assert easy["start_weights"] == fit["weights"] and h0["start_weights"] == pytest.approx(
        {f: init.get(f, 0.0) for f in FEATURES})


def test_fitted_start_can_be_checked_out_of_fold_on_the_training_episodes(code_pairs):  # noqa: F811
    """``fit_folds``: the training episodes are walked with weights fitted on the other folds.
    The planted mate is learnable from any fold, so the fitted start wins out of fold too and
    is kept; the decision pools validation and out-of-fold recalls."""
    ds, vec, _ = code_pairs
    init = {"anchor_similarity": 1.0, "anchor_lexical": 0.3}
    cfg = RLConfig(epochs=1, patience=1, max_episodes=200, max_size=2, starts=(), sources="bundles",
                   graph_fraction=0.2, valid_fraction=0.5, fit_folds=0)
    plain = BundleBuilder(size=2, weights=init, rl=cfg).fit(ds, vec, seed=0).history_[0]["fit"]
    b = BundleBuilder(size=2, weights=init, rl=dataclasses.replace(cfg, fit_folds=3)).fit(ds, vec, seed=0)
    h0, fit = b.history_[0], b.history_[0]["fit"]
    n_train = fit["cv_episodes"]
    assert "cv_episodes" not in plain and RLConfig().fit_folds == 4
    assert h0["start"] == "fitted" and fit["kept"] is True and n_train > 10
    assert fit["cv_gain"] > 0.5 and fit["weights"] == plain["weights"]       # same full-data fit served
    # the pooled gain is the size-weighted mean of the validation gain and the out-of-fold gain
    assert min(plain["gain"], fit["cv_gain"]) - 1e-12 <= fit["gain"] <= max(plain["gain"], fit["cv_gain"]) + 1e-12
    assert fit["gain_se"] < plain["gain_se"]                                   # more episodes, smaller SE
    again = BundleBuilder(size=2, weights=init, rl=dataclasses.replace(cfg, fit_folds=3)).fit(ds, vec, seed=0)
    assert again.history_[0]["fit"] == fit
    with pytest.raises(Exception, match="fit_folds"):
        RLConfig(fit_folds=1)


def test_fixed_starts_are_also_scored_on_the_training_episodes(code_pairs):  # noqa: F811
    """``start_pool``: every fixed start is walked on the training episodes too. On the planted
    shop the lexical start finds the mate there as on validation, the text start does not,
    and the pooled choice is the lexical start; off, no training recalls are recorded."""
    ds, vec, _ = code_pairs
    cfg = RLConfig(epochs=1, patience=1, max_episodes=200, max_size=2, starts=("lexical_knn",), sources="bundles",
                   graph_fraction=0.2, valid_fraction=0.5, fit_start=False, start_pool=True)
    h0 = BundleBuilder(size=2, weights={"anchor_similarity": 1.0}, rl=cfg).fit(ds, vec, seed=0).history_[0]
    train, n = h0["start_train_recall"], h0["start_episodes"]
    assert h0["start"] == "lexical_knn" and n["train"] > 10 and n["valid"] > 10
    assert train["lexical_knn"] >= 0.8 and train["init"] <= 0.2
    off = BundleBuilder(size=2, weights={"anchor_similarity": 1.0},
                        rl=dataclasses.replace(cfg, start_pool=False)).fit(ds, vec, seed=0).history_[0]
    assert off["start"] == "lexical_knn" and "start_train_recall" not in off and not RLConfig().start_pool
