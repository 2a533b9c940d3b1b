"""BundleBuilder on real data (needs CARTGRAPH_DATA_DIR): Steam bundles under a price budget."""
from __future__ import annotations

import numpy as np
import pytest

import cartgraph
from cartgraph.bundles import BundleBuilder, Constraints
from cartgraph.bundles.baselines import BASELINES
from cartgraph.bundles.policy import STARTS
from cartgraph.text import TextEncoder, item_vectors

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def steam(data_dir):
    """150 real Steam bundles (their items only); every fifth bundle held out."""
    ds = cartgraph.load("steam-bundles", data_dir / "steam-bundles")
    keep = ds.bundles.iloc[:150]
    items = {i for ids in keep["item_ids"] for i in ids}
    ds = ds.replace(items=ds.items[ds.items["item_id"].isin(items)], bundles=keep)
    held = keep.iloc[::5]
    train = ds.replace(bundles=keep.drop(index=held.index))
    builder = BundleBuilder(size=5, rl=None).fit(train, item_vectors(train, TextEncoder()))
    return train, held, builder


def test_budget_bundles_keep_the_budget_and_explain_themselves(steam):
    train, held, b = steam
    t = b.tables_
    for ids in held["item_ids"]:
        anchor = ids[0]
        budget = float(t.price[train.item_vocab.index(anchor)]) + 20.0
        [bundle] = b.build(None, anchor=anchor, budget=budget, size=5)
        assert bundle.total_price <= budget + 1e-9
        assert Constraints(size=5, budget=budget).violations(bundle.indices, t.price, t.leaf, anchors=[bundle.indices[0]]) == []
        assert all(isinstance(e, str) and e for e in bundle.explanations)


def test_walk_rebuilds_held_out_bundles_better_than_popularity(steam):
    """From a held-out bundle's first game, the walk finds more of its other games than
    the top-relevance baseline (popularity for an anonymous shopper)."""
    train, held, b = steam
    hits = {"walk": 0, "top": 0}
    total = 0
    for ids in held["item_ids"]:
        idx = list(dict.fromkeys(train.item_vocab.indices(ids).tolist()))
        target, size = set(idx[1:]), min(len(idx), 5)
        req = b.request(None, [idx[0]], Constraints(size=size))
        hits["walk"] += len(target & set(b.build_indices(None, [idx[0]], Constraints(size=size))[0].indices[1:]))
        hits["top"] += len(target & set(BASELINES["top_relevance"](req)[1:]))
        total += min(len(target), size - 1)
    assert hits["walk"] / total > 0.08 and hits["walk"] >= 2 * hits["top"] + 4   # measured: 7 of 63 vs 0
    assert np.isfinite(b.tables_.price).mean() > 0.5


def test_rl_on_bundles_without_times_uses_a_seeded_bundle_split(steam):
    """Steam has no users or times: RL episodes come from a seeded share of the training bundles,
    rebuilt under a budget of their own price; those bundles leave the walk's evidence."""
    from cartgraph.bundles import RLConfig
    from cartgraph.bundles.episodes import bundle_split, has_times

    train, _, _ = steam
    assert not has_times(train)
    graph, tr, va, pairs = bundle_split(train, 0.6, 0.25, 1000, 10, seed=0)
    again = bundle_split(train, 0.6, 0.25, 1000, 10, seed=0)
    assert [e.anchors for e in tr] == [e.anchors for e in again[1]]
    assert len(graph.bundles) + len(tr) + len(va) == len(train.bundles)      # episodes left the evidence
    assert all(e.budget is None or e.budget > 0 for e in tr + va) and any(e.budget for e in tr)
    assert pairs.nnz > 0
    cfg = RLConfig(epochs=1, max_episodes=40, max_size=5)
    b = BundleBuilder(size=5, rl=cfg).fit(train, item_vectors(train, TextEncoder()), seed=0)
    assert b.history_[0]["start"] in b.history_[0]["start_valid_recall"] and len(b.history_) >= 2


@pytest.fixture(scope="module")
def electronic(data_dir):
    """BundleRec electronic without each user's last bundle (the benchmark's training data)."""
    from cartgraph.evaluation import splits

    ds = cartgraph.load("bundlerec-amazon", data_dir / "bundlerec-amazon" / "electronic")
    return splits.last_bundle(ds, mode="new").train


def test_last_split_validates_on_each_users_last_training_bundle(electronic):
    """``episodes="last"``: validation = each user's last training bundle, read against the rest."""
    from cartgraph.bundles.episodes import last_split

    cut = last_split(electronic, 0.6, 120, 5, seed=0)
    again = last_split(electronic, 0.6, 120, 5, seed=0)
    assert again.valid == cut.valid and again.train == cut.train
    ub = electronic.user_bundles
    choosers = int((ub.groupby("user_id").size() >= 2).sum())
    assert len(cut.valid_graphs) == 1 and set(cut.valid_fold) == {0}
    assert len(cut.valid_graphs[0].user_bundles) == len(ub) - int(ub["user_id"].nunique())
    assert 0 < len(cut.valid) <= min(40, choosers)          # max_valid defaults to max_episodes // 3
    owned = cut.valid_graphs[0].interactions().tocsr()
    for e in cut.valid:
        mine = set(owned[e.user].indices.tolist())
        assert e.target and not e.target & mine                # "new" mode: only items the user lacked
        assert e.exclude == frozenset(mine) - {e.anchors[0]}
        assert all(cut.valid_pairs[0][e.anchors[0], t] for t in e.target)   # pairs of the held-out bundles
    assert cut.train and len(cut.train_graphs) == 1 and set(cut.train_fold) == {0}


def test_user_folds_never_read_the_episode_users_data(electronic):
    """``user_folds``: a group's episodes read only the other users' data, as anonymous shoppers."""
    from cartgraph.bundles.episodes import last_split, user_folds

    graphs, episodes, fold, pairs = user_folds(electronic, 5, 400, 5, seed=0)
    assert len(graphs) == len(pairs) == 5 and len(episodes) == len(fold) == 400
    assert (episodes, fold) == user_folds(electronic, 5, 400, 5, seed=0)[1:3]
    users_in = [set(g.events["user_id"].dropna()) | set(g.user_bundles["user_id"]) for g in graphs]
    everyone = set(electronic.events["user_id"].dropna()) | set(electronic.user_bundles["user_id"])
    assert set.union(*(everyone - u for u in users_in)) == everyone          # each user is held out once
    assert all(not (everyone - a) & (everyone - b) for i, a in enumerate(users_in) for b in users_in[i + 1:])
    for e, k in zip(episodes, fold):
        assert e.user is None and all(pairs[k][e.anchors[0], t] for t in e.target)
    cut = last_split(electronic, 0.6, 120, 5, seed=0, train_from="users")
    assert len(cut.train_graphs) == 4 and set(cut.train_fold) == {0, 1, 2, 3}   # group 0 validates
    assert len(cut.valid_graphs) == 2 and set(cut.valid_fold) == {0, 1}
    extra = [e for e, k in zip(cut.valid, cut.valid_fold) if k == 1]
    assert extra and all(e.user is None for e in extra)
    assert not {id(e) for e in extra} & {id(e) for e in cut.train}
    with pytest.raises(Exception, match="train_from"):
        last_split(electronic, 0.6, 120, 5, seed=0, train_from="nope")


def test_bundle_split_of_chosen_bundles_removes_their_definitions_too(electronic):
    """``bundle_split`` on data with bundle choices: the episodes' choices leave the graph, and so
    do the catalogue bundles only they named (their items are the episodes' answers)."""
    from cartgraph.bundles.episodes import bundle_split

    graph, tr, va, _ = bundle_split(electronic, 0.6, 0.25, 10_000, 10, seed=0)
    chosen_before, chosen_after = set(electronic.user_bundles["bundle_id"]), set(graph.user_bundles["bundle_id"])
    gone = chosen_before - chosen_after
    assert gone and len(electronic.user_bundles) - len(graph.user_bundles) >= len(tr) + len(va) > 0
    assert not gone & set(graph.bundles["bundle_id"])                    # definitions left with the choices
    assert chosen_after <= set(graph.bundles["bundle_id"])                # the rest stay
    assert set(electronic.bundles["bundle_id"]) - chosen_before <= set(graph.bundles["bundle_id"])


def test_rl_with_last_bundle_validation_runs_and_is_deterministic(electronic):
    from cartgraph.bundles import RLConfig

    vec = item_vectors(electronic, TextEncoder(cache=True))
    for episodes in ("last", "users"):
        cfg = RLConfig(episodes=episodes, epochs=1, max_episodes=60, max_size=5)
        a = BundleBuilder(size=5, rl=cfg).fit(electronic, vec, seed=0)
        b = BundleBuilder(size=5, rl=cfg).fit(electronic, vec, seed=0)
        assert a.weights_ == b.weights_ and a.history_[0]["fit"] == b.history_[0]["fit"]
        assert a.history_[0]["start"] in {"init", "fitted", *STARTS}
        assert a.history_[0]["kept_valid_recall"] >= a.history_[0]["valid_recall"] - 1e-12


def test_episode_cuts_drop_the_definitions_of_the_bundles_they_hold_out(electronic):
    """A learned complement model reads the bundle catalogue, so a cut that removes bundle
    choices must remove the bundles only those choices named: otherwise the episode's answer
    is in the graph it reads (found when a ComplementModel drove the walk: validation recall
    doubled while the test recall fell to ~0)."""
    from cartgraph.bundles.episodes import time_split, user_folds
    from cartgraph.gnn.complement_pairs import co_occurrence

    graphs, episodes, fold, _ = user_folds(electronic, 5, 400, 5, seed=0)
    graph, *_ = time_split(electronic, 0.6, 0.25, 400, 5, seed=0)
    for g in [*graphs, graph]:
        chosen_here = set(g.user_bundles["bundle_id"])
        removed = set(electronic.user_bundles["bundle_id"]) - chosen_here
        assert removed and not set(g.bundles["bundle_id"]) & removed
        assert set(g.bundles["bundle_id"]) >= chosen_here
    counts = co_occurrence(graphs[0], bundle_weight=1.0)
    group0 = [e for e, k in zip(episodes, fold) if k == 0]
    unseen = [e for e in group0 if all(counts[e.anchors[0], t] == 0 for t in e.target)]
    assert len(unseen) > 0.5 * len(group0)   # most held-out pairs are unseen in the fold's graph
