"""The synthetic shop: determinism, ground-truth complements in baskets, learnable signal."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from cartgraph.errors import ConfigError
from cartgraph.loaders import load as load_any
from cartgraph.loaders.synthetic import COMPLEMENT_TYPES, load
from cartgraph.schema import TABLES


@pytest.fixture(scope="module")
def shop():
    return load_any("synthetic")


def test_default_shop_is_small_valid_and_fast() -> None:
    seconds = []
    for _ in range(3):  # best of 3: the machine may be shared
        start = time.perf_counter()
        ds = load().validate()
        seconds.append(time.perf_counter() - start)
    assert min(seconds) < 1.0
    assert (ds.n_users, ds.n_items) == (200, 120) and ds.name == "synthetic"
    assert set(ds.events["kind"]) == {"view", "click", "cart", "purchase"}
    assert len(ds.bundles) > 5 and len(ds.user_bundles) > 10


def test_same_seed_same_tables_other_seed_differs() -> None:
    a, b, c = load(seed=3), load(seed=3), load(seed=4)
    for table in TABLES:
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table))
    assert a.meta == b.meta
    assert not a.events[["user_id", "item_id", "ts"]].equals(c.events[["user_id", "item_id", "ts"]])
    assert not a.items["price"].equals(c.items["price"])


def test_catalogue_is_readable_with_a_category_tree(shop) -> None:
    items = shop.items
    assert items["title"].is_unique and items["title"].str.contains("Espresso Machine").any()
    assert items["category_path"].map(len).eq(2).all() and items["category_path"].map(tuple).nunique() == 12
    assert items["description"].notna().all() and items["brand"].notna().all()
    assert (items["price"] > 0).all()


def test_complements_are_directed_and_typed(shop) -> None:
    types = shop.items.set_index("item_id")["attributes"].map(lambda a: a["product_type"])
    pairs = shop.meta["complements"]
    assert len(pairs) > 20
    for anchor, accessory in pairs:
        assert types[accessory] in COMPLEMENT_TYPES[types[anchor]]
    as_set = {tuple(p) for p in pairs}
    assert not any((b, a) in as_set for a, b in as_set)  # never both directions


def test_ground_truth_complements_co_occur_in_baskets(shop) -> None:
    baskets = shop.basket_items()
    baskets = baskets[baskets["basket_id"].isin(shop.events.loc[shop.events["kind"] == "purchase", "basket_id"])]
    members = baskets.groupby("basket_id")["item_id"].agg(frozenset)
    together = sum(any(a in m and b in m for m in members) for a, b in shop.meta["complements"])
    assert together >= 0.8 * len(shop.meta["complements"])
    anchors = {a for a, _ in shop.meta["complements"]}
    with_anchor = members[members.map(lambda m: bool(m & anchors))]
    pairs = {tuple(p) for p in shop.meta["complements"]}
    share = with_anchor.map(lambda m: any((a, b) in pairs for a in m for b in m)).mean()
    assert share > 0.5  # an anchor's basket usually holds one of its complements


def test_bundles_are_complementary_sets_and_chosen_ones_were_bought(shop) -> None:
    pairs = {tuple(p) for p in shop.meta["complements"]}
    for members in shop.bundles["item_ids"]:
        assert all((members[0], m) in pairs for m in members[1:])
    bought = shop.events[shop.events["kind"] == "purchase"].groupby("user_id")["item_id"].agg(set)
    items = shop.bundles.set_index("bundle_id")["item_ids"]
    for user, bundle in zip(shop.user_bundles["user_id"], shop.user_bundles["bundle_id"]):
        assert set(items[bundle]) <= bought[user]


def test_funnel_order_within_a_basket(shop) -> None:
    ev = shop.events[shop.events["basket_id"].notna()]
    first = ev.groupby(["basket_id", "item_id", "kind"], observed=True)["ts"].min().unstack()
    assert (first["cart"] < first["purchase"]).all()
    per_user = shop.events.groupby("user_id")["ts"].apply(lambda t: t.is_monotonic_increasing)
    assert per_user.all()


def _recall_at_10(ds, scorer: str) -> float:
    """Recall@10 of new items on a global 70/30 time split of purchases."""
    ev = ds.events[ds.events["kind"] == "purchase"]
    cut = ev["ts"].quantile(0.7)
    train, test = ev[ev["ts"] < cut], ev[ev["ts"] >= cut]
    x = ds.interactions(events=train).toarray()
    norms = np.sqrt(x.sum(0))
    norms[norms == 0] = 1.0
    sim = (x.T @ x) / norms[:, None] / norms[None, :]
    np.fill_diagonal(sim, 0.0)
    recalls = []
    for user, items in test.groupby("user_id")["item_id"]:
        row = x[ds.user_vocab.index(user)]
        relevant = set(ds.item_vocab.indices(items.unique()).tolist()) - set(np.flatnonzero(row).tolist())
        if not row.any() or not relevant:
            continue
        scores = row @ sim if scorer == "itemknn" else x.sum(0).astype(float)
        scores[row > 0] = -np.inf
        top = set(np.argsort(-scores, kind="stable")[:10].tolist())
        recalls.append(len(top & relevant) / min(10, len(relevant)))
    return float(np.mean(recalls))


@pytest.mark.parametrize("seed", [0, 1])
def test_item_knn_beats_popularity_clearly(seed: int) -> None:
    ds = load(seed=seed)
    knn, pop = _recall_at_10(ds, "itemknn"), _recall_at_10(ds, "popular")
    assert knn > 2 * pop and knn - pop > 0.2


def test_tastes_drive_purchases(shop) -> None:
    paths = shop.items.set_index("item_id")["category_path"].map(" > ".join)
    bought = shop.events[shop.events["kind"] == "purchase"]
    in_taste = [paths[i] in shop.meta["tastes"][u] for u, i in zip(bought["user_id"], bought["item_id"])]
    assert np.mean(in_taste) > 0.6  # 12 categories: chance would be about 0.12


def test_sizes_and_bad_options() -> None:
    small = load(n_users=5, n_items=12, seed=1).validate()
    assert (small.n_users, small.n_items) == (5, 12)
    big = load(n_users=3, n_items=200).validate()
    assert big.items["title"].is_unique
    with pytest.raises(ConfigError, match="n_users"):
        load(n_users=0)
    with pytest.raises(ConfigError, match="complement_rate"):
        load(complement_rate=1.5)
