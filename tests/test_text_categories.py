"""Derived two-level categories: deterministic, two levels, readable names."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartgraph import Dataset
from cartgraph.errors import ConfigError
from cartgraph.text import category_tree, derive_categories

GROUPS = {  # top group -> sub groups -> words that describe their items
    "candle": {"tealight": "candle tealight holder glass", "lantern": "candle lantern metal hanging"},
    "mug": {"enamel": "mug enamel camping", "ceramic": "mug ceramic breakfast cup"},
    "bag": {"jumbo": "bag jumbo shopper", "lunch": "bag lunch box"},
}


def _catalogue(seed: int = 0) -> tuple[np.ndarray, list[str], list[tuple[str, str]]]:
    """Items as noisy points around one centre per (top, sub) group, well separated."""
    rng = np.random.default_rng(seed)
    vecs, texts, truth = [], [], []
    for g, (top, subs) in enumerate(GROUPS.items()):
        top_centre = np.zeros(32)
        top_centre[g] = 10.0
        for s, (sub, words) in enumerate(subs.items()):
            centre = top_centre.copy()
            centre[10 + 2 * g + s] = 3.0
            for i in range(12):
                vecs.append(centre + rng.normal(0, 0.3, 32))
                texts.append(f"{words} {['red', 'blue', 'pink'][i % 3]} {i}")
                truth.append((top, sub))
    v = np.array(vecs, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True), texts, truth


def test_two_levels_recover_the_groups_with_names():
    vecs, texts, truth = _catalogue()
    tree = category_tree(vecs, texts, n_top=3, n_sub=2, seed=0)
    assert len(tree.top_names) == 3 and all(len(s) == 2 for s in tree.sub_names)
    paths = tree.paths()
    for top in GROUPS:  # each true top group is one cluster whose name has its word
        names = {p[0] for p, t in zip(paths, truth) if t[0] == top}
        assert len(names) == 1 and top.title() in names.pop()
    for top, subs in GROUPS.items():
        for sub, words in subs.items():  # named by words only its items have within the parent
            names = {p[1] for p, t in zip(paths, truth) if t == (top, sub)}
            assert len(names) == 1
            assert set(names.pop().lower().split(" & ")) <= set(words.split()) - {top}


def test_deterministic_and_independent_of_kmeans_numbering():
    vecs, texts, _ = _catalogue()
    a = category_tree(vecs, texts, n_top=3, n_sub=2, seed=0)
    b = category_tree(vecs, texts, n_top=3, n_sub=2, seed=0)
    c = category_tree(vecs, texts, n_top=3, n_sub=2, seed=5)
    assert a.paths() == b.paths() == c.paths()  # well-separated data: the seed does not matter
    np.testing.assert_array_equal(a.top, b.top)
    assert np.bincount(a.top).tolist() == sorted(np.bincount(a.top).tolist(), reverse=True)


def test_small_clusters_and_errors():
    vecs, texts, _ = _catalogue()
    tree = category_tree(vecs[:6], texts[:6], n_top=10, n_sub=4, min_sub_size=5)
    assert len(tree.top_names) == 6 and all(len(s) == 1 for s in tree.sub_names)
    assert len(set(tree.top_names)) == 6  # sibling names are unique
    with pytest.raises(ConfigError):
        category_tree(vecs, texts[:3])
    no_words = category_tree(vecs[:4], ["", "12", "", "7"], n_top=2, n_sub=1)
    assert no_words.top_names == ["Group 1", "Group 2"]


def test_derive_categories_fills_only_missing_paths():
    vecs, texts, _ = _catalogue()
    ids = [f"{i:03d}" for i in range(len(texts))]
    paths = [["Given", "Path"] if i == 0 else [] for i in range(len(texts))]
    ds = Dataset(items=pd.DataFrame({"item_id": ids, "title": texts, "category_path": paths}))
    out = derive_categories(ds, vecs, n_top=3, n_sub=2)
    assert out is not ds and ds.items["category_path"].iloc[1] == []
    got = out.items["category_path"].tolist()
    assert got[0] == ["Given", "Path"] and all(len(p) == 2 for p in got)
    assert out.stats()["leaf_categories"] == 7
    assert derive_categories(ds, vecs, n_top=3, n_sub=2, overwrite=True).items["category_path"].iloc[0] != ["Given", "Path"]
