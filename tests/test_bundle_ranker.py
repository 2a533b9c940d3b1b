"""BundleRanker: a known answer it must learn, external ids, new users from items, save/load."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartgraph import Dataset
from cartgraph.errors import NotFittedError
from cartgraph.gnn.bundle_ranker import BundleRanker, bgcn_style


def grouped_bundles(groups: int = 4, users_per_group: int = 8) -> tuple[Dataset, dict[str, set[str]]]:
    """Group g: items g0..g7 and five bundles of three of them; each of its users chose
    three of the five (seeded) and bought some of the group's items. The right answer
    for a user is one of the two group bundles they did not choose."""
    rng = np.random.default_rng(0)
    items, bundles, ub, events, answer = [], [], [], [], {}
    for g in range(groups):
        its = [f"i{g}_{k}" for k in range(8)]
        items += its
        names = [f"b{g}{x}" for x in "ABCDE"]
        bundles += [(b, [its[(2 * n + j) % 8] for j in range(3)]) for n, b in enumerate(names)]
        for k in range(users_per_group):
            u = f"u{g}_{k}"
            chosen = set(rng.choice(names, size=3, replace=False))
            answer[u] = set(names) - chosen
            ub += [(u, b) for b in sorted(chosen)]
            events += [(u, i) for i in rng.choice(its, size=3, replace=False)]
    ds = Dataset(items=pd.DataFrame({"item_id": items}),
                 events=pd.DataFrame(events, columns=["user_id", "item_id"]),
                 bundles=pd.DataFrame({"bundle_id": [b for b, _ in bundles], "item_ids": [m for _, m in bundles]}),
                 user_bundles=pd.DataFrame(ub, columns=["user_id", "bundle_id"]), name="grouped").validate()
    return ds, answer


def fit(model_fn=BundleRanker, **kw) -> tuple[BundleRanker, dict[str, set[str]]]:
    ds, answer = grouped_bundles()
    settings = dict(embedding_dim=16, epochs=60, batch_size=32, lr=0.02, weight_decay=1e-6, progress=False,
                    device="cpu", seed=0)
    settings.update(kw)
    return model_fn(**settings).fit(ds), answer


def test_learns_the_unchosen_bundle_of_the_users_group():
    # With only 20 bundles in 4 look-alike groups, the default sharp temperature (0.25)
    # makes the in-batch contrast push same-group bundles apart, against the very group
    # structure this test checks; a softer one keeps the contrast on and learns it.
    model, answer = fit(temperature=1.0)
    users = list(answer)
    top, _ = model.recommend_bundles(users, k=1)
    assert np.mean([t in answer[u] for t, u in zip(top[:, 0], users)]) == 1.0


def test_bgcn_style_baseline_learns_it_too():
    model, answer = fit(bgcn_style)
    users = list(answer)
    top, _ = model.recommend_bundles(users, k=1)
    assert np.mean([t in answer[u] for t, u in zip(top[:, 0], users)]) == 1.0


def test_deterministic_for_a_seed():
    a, _ = fit(epochs=5)
    b, _ = fit(epochs=5)
    c, _ = fit(epochs=5, seed=1)
    assert np.array_equal(a.bundle_factors_, b.bundle_factors_)
    assert not np.allclose(a.bundle_factors_, c.bundle_factors_)


def test_new_user_described_by_items_gets_bundles_of_their_group():
    model, _ = fit()
    ids, scores = model.recommend_for_items(["i2_0", "i2_2"], k=3)
    assert set(ids) <= {"b2A", "b2B", "b2C", "b2D", "b2E"}
    assert list(scores) == sorted(scores, reverse=True)


def test_text_vectors_are_used_for_items(tmp_path):
    ds, answer = grouped_bundles()
    rng = np.random.default_rng(0)
    groups = np.array([int(i[1]) for i in ds.item_vocab.ids])
    vectors = np.eye(4)[groups] + 0.01 * rng.standard_normal((ds.n_items, 4))
    model = BundleRanker(embedding_dim=16, epochs=30, batch_size=32, lr=0.02, progress=False, device="cpu").fit(
        ds, item_vectors=vectors.astype(np.float32))
    ids, _ = model.recommend_for_items(["i3_1"], k=3)
    assert set(ids) <= {"b3A", "b3B", "b3C", "b3D", "b3E"}
    model.save(tmp_path / "r.pt")
    back = BundleRanker.load(tmp_path / "r.pt")
    users = list(answer)[:5]
    a, b = model.recommend_bundles(users, k=3), back.recommend_bundles(users, k=3)
    assert (a[0] == b[0]).all() and np.allclose(a[1], b[1])


def test_not_fitted():
    with pytest.raises(NotFittedError):
        BundleRanker().recommend([0])


@pytest.mark.data
def test_ranks_steam_bundles_for_a_user_described_by_items(data_dir):
    """Steam has no users: bundles are ranked from the items a user names (text + item view)."""
    from cartgraph.loaders import load
    from cartgraph.text import TextEncoder, item_vectors

    ds = load("steam-bundles", data_dir / "steam-bundles")
    vectors = item_vectors(ds, TextEncoder())
    model = BundleRanker(progress=False, device="cpu").fit(ds, item_vectors=vectors)
    rng = np.random.default_rng(0)
    hits = 0
    picked = rng.choice(len(ds.bundles), size=20, replace=False)
    for row in picked:
        bundle = ds.bundles.iloc[row]
        ids, scores = model.recommend_for_items(bundle["item_ids"][:2], k=5)
        assert len(ids) == 5 and list(scores) == sorted(scores, reverse=True)
        hits += bundle["bundle_id"] in set(ids)
    assert hits >= 14, f"the bundle holding the named items was in the top 5 only {hits}/20 times"


@pytest.mark.data
def test_runs_on_bundlerec_with_a_time_split(data_dir):
    """BundleRec: each user's last bundle held out (and the events it reveals); the model
    still ranks every bundle for every user, and never re-recommends a chosen one."""
    from cartgraph.evaluation import evaluate
    from cartgraph.loaders import load

    ds = load("bundlerec-amazon", data_dir / "bundlerec-amazon" / "electronic")
    ub = ds.user_bundles.sort_values(["user_id", "ts", "bundle_id"], kind="stable")
    last = ~ub.duplicated("user_id", keep="last")
    held = ub[last]
    train = ds.replace(user_bundles=ub[~last])
    model = BundleRanker(epochs=5, progress=False, device="cpu").fit(train)
    users = held["user_id"].tolist()[:50]
    ids, scores = model.recommend_bundles(users, k=20)
    assert ids.shape == (50, 20) and np.isfinite(scores).all()
    chosen = train.user_bundles.groupby("user_id")["bundle_id"].agg(set)
    for u, row in zip(users, ids):
        assert not set(row) & chosen.get(u, set())


def test_fusion_weight_is_chosen_on_validation_and_off_for_the_baseline():
    from cartgraph.baselines import EASE
    from cartgraph.evaluation.splits import Split
    from cartgraph.gnn.bundle_ranker import FUSION_GRID

    ds, answer = grouped_bundles()
    model, _ = fit(epochs=10, temperature=1.0)
    assert model.fusion_weight_ == 0.1 and isinstance(model.ease_, EASE)  # no validation split: the default
    bgcn, _ = fit(bgcn_style, epochs=5)
    assert bgcn.fusion_weight_ == 0.0 and bgcn.ease_ is None
    # a validation split whose answers only the co-choice model knows: EASE gets weight
    users = np.arange(ds.n_users)
    valid = Split("v", ds, model.user_items_[:, ::-1].tocsr(), users, "new", True)
    tuned = BundleRanker(embedding_dim=16, epochs=3, batch_size=32, progress=False, device="cpu").fit(ds, valid=valid)
    assert tuned.fusion_weight_ in FUSION_GRID
    with pytest.raises(Exception, match="fusion_weight"):
        BundleRanker(fusion_weight=-1)
