"""TextIndex on a tiny hand-made catalogue: cold-start items and users, model contract."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pandas as pd
import pytest

from cartgraph import Dataset
from cartgraph.errors import ConfigError, NotFittedError
from cartgraph.text import TextEncoder, TextIndex

CATALOGUE = {
    "c1": ("Arabica coffee beans, dark roast", ["Grocery", "Coffee"]),
    "c2": ("Espresso machine", ["Kitchen", "Coffee makers"]),
    "c3": ("Burr coffee grinder", ["Kitchen", "Coffee makers"]),
    "c4": ("Ceramic espresso cups, set of 4", ["Kitchen", "Cups"]),
    "t1": ("Green tea leaves", ["Grocery", "Tea"]),
    "t2": ("Cast iron teapot", ["Kitchen", "Tea"]),
    "d1": ("Dry dog food, chicken", ["Pets", "Dog"]),
    "d2": ("Squeaky dog chew toy", ["Pets", "Dog"]),
    "g1": ("Garden hose, 20 m", ["Garden", "Watering"]),
    "g2": ("Pruning shears", ["Garden", "Tools"]),
}
COFFEE = {"c1", "c2", "c3", "c4"}


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    items = pd.DataFrame({"item_id": list(CATALOGUE), "title": [t for t, _ in CATALOGUE.values()],
                          "category_path": [p for _, p in CATALOGUE.values()]})
    events = pd.DataFrame({"user_id": ["coffee", "coffee", "dog"], "item_id": ["c1", "c2", "d1"],
                           "kind": ["purchase", "view", "purchase"]})
    users = pd.DataFrame({"user_id": ["coffee", "dog", "silent"]})
    return Dataset(items=items, events=events, users=users)


@pytest.fixture(scope="module")
def index(dataset) -> TextIndex:
    return TextIndex(TextEncoder(device="cpu")).fit(dataset)


def _ids(index: TextIndex, idx: np.ndarray) -> list[str]:
    return list(index.item_vocab_.external(idx))


def test_not_fitted():
    with pytest.raises(NotFittedError):
        TextIndex().recommend(0)


def test_new_item_gets_sensible_similar_items(index):
    new = {"title": "French press coffee maker", "category_path": ["Kitchen", "Coffee makers"]}
    idx, scores = index.similar_items(new, k=3)
    assert idx.shape == (3,) and set(_ids(index, idx)) <= COFFEE
    assert np.all(np.diff(scores) <= 0)
    idx, _ = index.similar_items(["Chew bone for puppies", "d1"], k=2)
    assert idx.shape == (2, 2)
    assert set(_ids(index, idx[0])) == {"d1", "d2"}
    assert _ids(index, idx[1])[0] == "d2" and "d1" not in _ids(index, idx[1])  # never its own neighbour


def test_new_user_from_query_and_from_events(index):
    idx, _ = index.recommend_for_query("gifts for a coffee lover", k=3)
    assert set(_ids(index, idx)) <= COFFEE
    both, _ = index.recommend_for_query(["gifts for a coffee lover", "things for my garden"], k=2)
    assert both.shape == (2, 2) and set(_ids(index, both[1])) == {"g1", "g2"}
    idx, _ = index.recommend_for_events([("t1", "purchase")], k=1)
    assert _ids(index, idx) == ["t2"]
    idx, _ = index.recommend_for_events(["t1"], k=1, exclude_seen=False)
    assert _ids(index, idx) == ["t1"]


def test_recommend_contract(index, dataset):
    u = dataset.user_vocab.index("coffee")
    items, scores = index.recommend(u, k=2)
    assert items.shape == (2,) and scores.dtype == np.float32
    assert not {"c1", "c2"} & set(_ids(index, items)) and set(_ids(index, items)) <= COFFEE
    batch, _ = index.recommend(np.array([u, dataset.user_vocab.index("dog")]), k=2)
    assert batch.shape == (2, 2) and _ids(index, batch[1])[0] == "d2"
    silent, s = index.recommend(dataset.user_vocab.index("silent"), k=4)  # no events: all tie at 0
    np.testing.assert_array_equal(silent, [0, 1, 2, 3])
    assert not s.any()
    with_seen, _ = index.recommend(u, k=1, exclude_seen=False)
    assert _ids(index, with_seen)[0] in {"c1", "c2"}
    with pytest.raises(ConfigError):
        index.recommend(99)
    with pytest.raises(ConfigError):
        index.recommend(u, k=0)


def test_checkerboard_user_u_gets_item_u():
    """Each user bought one distinct item; without excluding it, it is their top item."""
    names = ["red wine", "running shoes", "baby stroller", "laptop charger", "tomato seeds"]
    items = pd.DataFrame({"item_id": [str(i) for i in range(5)], "title": names})
    events = pd.DataFrame({"user_id": [str(i) for i in range(5)], "item_id": [str(i) for i in range(5)]})
    ds = Dataset(items=items, events=events)
    idx, _ = TextIndex(TextEncoder(device="cpu")).fit(ds).recommend(np.arange(5), k=1, exclude_seen=False)
    np.testing.assert_array_equal(idx[:, 0], np.arange(5))
