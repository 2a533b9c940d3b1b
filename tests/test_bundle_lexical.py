"""Title TF-IDF similarity in the bundle walk: the ``lexical`` edges, features and baseline."""
from __future__ import annotations

import json

import numpy as np
import pytest
import pandas as pd

import cartgraph
from cartgraph.bundles import FEATURES, BundleBuilder, Constraints, RLConfig
from cartgraph.bundles.baselines import BASELINES
from cartgraph.bundles.lexical import lexical_neighbours, title_tfidf
from cartgraph.bundles.policy import STARTS, LinearPolicy
from cartgraph.bundles.tables import ItemTables
from cartgraph.bundles.walk import decode, frontier

TITLES = ["Canon LP-E6 Battery", "Canon EOS 5D Mark IV Camera LP-E6", "Nikon D750 Camera",
          "Blue Cotton Shirt", "", "Battery Charger"]


def test_tfidf_neighbours_known_answer():
    """The rare shared words (Canon, LP-E6) outweigh the common one (Camera, Battery)."""
    x = title_tfidf(TITLES)
    assert x.shape[0] == len(TITLES)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    assert np.allclose(norms[[0, 1, 2, 3, 5]], 1.0, atol=1e-6) and norms[4] == 0   # no word: a zero row
    idx, score = lexical_neighbours(x, 3)
    assert idx[0, 0] == 1 and idx[1, 0] == 0                 # same brand and battery model
    assert idx[2, 0] == 1                                     # "Camera" is all a Nikon shares
    assert (idx[3] == -1).all() and (score[3] == 0).all()     # nothing shares a word with the shirt
    assert (idx[4] == -1).all()
    assert not (idx == np.arange(len(TITLES))[:, None]).any()  # never its own neighbour
    dense = (x @ x.T).toarray()
    assert score[0, 0] == pytest.approx(dense[0, 1], abs=1e-6) and score[0, 0] >= score[0, 1] > 0


def test_chunked_neighbours_equal_one_block():
    ds = cartgraph.load("synthetic", "", n_users=50, n_items=120, seed=1)
    x = title_tfidf(ds.items["title"].tolist())
    one = lexical_neighbours(x, 5, chunk=10_000)
    small = lexical_neighbours(x, 5, chunk=7)
    assert np.array_equal(one[0], small[0]) and np.allclose(one[1], small[1])


def test_titles_without_words_give_an_empty_index():
    x = title_tfidf(["", "  ", "!!"])
    idx, score = lexical_neighbours(x, 2)
    assert x.shape == (3, 0) and (idx == -1).all() and (score == 0).all()


@pytest.fixture(scope="module")
def planted():
    """A shop whose text vectors put item 1 nearest the anchor 0 while its title shares a
    model code with item 2 only: text kNN and lexical kNN must disagree as planted."""
    ds = cartgraph.load("synthetic", "", n_users=60, n_items=40, seed=2)
    items = ds.items.copy()
    order = ds.item_vocab.indices(items["item_id"])
    titles = {0: "Acme ZX-900 Camera", 1: "Generic Digital Camera", 2: "Acme ZX-900 Spare Battery"}
    for k, t in titles.items():
        items.loc[order == k, "title"] = t
    ds = ds.replace(items=items)
    rng = np.random.default_rng(0)
    vec = rng.normal(size=(ds.n_items, 16)).astype(np.float32)
    vec[1] = vec[0] + 0.05 * rng.normal(size=16)   # a near-duplicate vector, no shared rare word
    vec[2] = rng.normal(size=16)
    return ds, vec


def test_lexical_features_edges_and_explanation(planted):
    ds, vec = planted
    b = BundleBuilder(size=2, rl=None, k_similar=1).fit(ds, vec)   # item 2 comes in by its name only
    t = b.tables_
    assert t.lexical.shape[0] == ds.n_items and t.neighbours["lexical"][0][0, 0] == 2
    req = b.request(None, [0], Constraints(size=3))
    req.avoid_substitutes = False
    cands, feats = frontier(req, [0])
    f = {name: feats[:, i] for i, name in enumerate(FEATURES)}
    at = {int(c): k for k, c in enumerate(cands)}
    cos = (t.lexical @ t.lexical[0].T).toarray().ravel()
    assert f["anchor_lexical"][at[2]] == pytest.approx(cos[2], abs=1e-6)
    assert f["anchor_lexical"][at[2]] > f["anchor_lexical"][at[1]]
    assert f["via_lexical"][at[2]] == 1 and f["lexical"][at[2]] == pytest.approx(cos[2], abs=1e-6)
    # the lexical start picks the named accessory, the text start the look-alike camera
    assert decode(req, LinearPolicy.from_dict(STARTS["lexical_knn"]))[0][1] == 2
    assert decode(req, LinearPolicy.from_dict(STARTS["text_knn"]))[0][1] == 1
    assert BASELINES["lexical_knn"](req)[:2] == [0, 2] and BASELINES["text_knn"](req)[:2] == [0, 1]
    b.policy_ = LinearPolicy.from_dict(STARTS["lexical_knn"])
    [bundle] = b.build(None, anchor=ds.item_vocab.external(0), size=2)
    assert bundle.indices[1] == 2 and bundle.explanations[1].startswith("named like Acme ZX-900 Camera")


def test_lexical_index_persists_and_old_folders_still_load(planted, tmp_path):
    ds, vec = planted
    b = BundleBuilder(size=3, rl=None).fit(ds, vec)
    b.save(tmp_path / "m")
    back = ItemTables.load(tmp_path / "m")
    assert (back.lexical != b.tables_.lexical).nnz == 0
    assert np.array_equal(back.neighbours["lexical"][0], b.tables_.neighbours["lexical"][0])
    (tmp_path / "m" / "lexical.npz").unlink()          # a folder saved before lexical edges existed:
    meta_path = tmp_path / "m" / "tables.json"          # no index, three edge kinds
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps(meta | {"edge_kinds": ["complements", "similar", "category"]}))
    old = BundleBuilder.load(tmp_path / "m")
    assert old.tables_.lexical.shape == (ds.n_items, 0) and (old.tables_.neighbours["lexical"][0] == -1).all()
    [bundle] = old.build(None, anchor=ds.item_vocab.external(0), size=3)
    assert len(bundle) == 3
    req = old.request(None, [0], Constraints(size=3))
    assert BASELINES["lexical_knn"](req) == BASELINES["text_knn"](req)   # no index: falls back to text


@pytest.fixture(scope="module")
def code_pairs():
    """Training bundles that pair each item with its title's model-code mate, and text
    vectors that know nothing of it: ``(dataset, vectors, n)``."""
    rng = np.random.default_rng(3)
    n = 60
    ds = cartgraph.load("synthetic", "", n_users=80, n_items=n, seed=3)
    items = ds.items.copy()
    order = ds.item_vocab.indices(items["item_id"])
    for k in range(n):
        code = f"QX{k // 2:03d}"
        items.loc[order == k, "title"] = f"{code} {'camera' if k % 2 == 0 else 'battery'}"
    ds = ds.replace(items=items)
    vec = rng.normal(size=(n, 16)).astype(np.float32)
    ub, bundles = [], []
    base = ds.events["ts"].min()
    for j, k in enumerate(range(0, n, 2)):
        bid = f"b{j}"
        bundles.append({"bundle_id": bid, "item_ids": [ds.item_vocab.external(k), ds.item_vocab.external(k + 1)],
                        "name": None})
        for r in range(3):
            ub.append({"user_id": ds.user_vocab.external((3 * j + r) % ds.n_users), "bundle_id": bid,
                       "ts": base + np.timedelta64(j * 3 + r, "h")})
    return ds.replace(bundles=pd.DataFrame(bundles), user_bundles=pd.DataFrame(ub)), vec, n


def test_rl_can_learn_the_lexical_weight(code_pairs):
    """REINFORCE alone (no fitted start) must raise ``anchor_lexical`` and find the mate."""
    ds, vec, n = code_pairs
    start = {"anchor_similarity": 1.0}
    b = BundleBuilder(size=2, weights=start, rl=RLConfig(epochs=15, patience=15, max_episodes=200, max_size=2, starts=(),
                                                         sources="bundles", lr=0.2, graph_fraction=0.2,
                                                         valid_fraction=0.5, fit_start=False)).fit(ds, vec, seed=0)
    h0 = b.history_[0]
    assert h0["valid_recall"] == 0.0          # the text start never finds the mate
    # the significance guard (min_gain_z=2) kept the steps on the kept epoch's own per-episode recalls
    assert h0["rl_kept"] and h0["rl_gain"] == pytest.approx(h0["kept_valid_recall"] - h0["valid_recall"])
    assert h0["rl_gain"] > 0 and h0["rl_gain"] >= 2 * h0["rl_gain_se"]
    assert min(b.weights_[f] for f in ("anchor_lexical", "lexical", "via_lexical")) > 0.2
    hits = sum(b.build(None, anchor=ds.item_vocab.external(k), size=2)[0].indices[1] == k + 1 for k in range(0, n, 2))
    assert hits >= 0.8 * (n // 2)
