"""The evaluation protocols' split rules on tiny hand-made datasets, and the published
counts on the real data (EVALUATION.md)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError
from cartgraph.evaluation import splits


def _test_sets(split: splits.Split) -> dict[str, set[str]]:
    """Evaluated user id → external ids of their held-out items."""
    users, items = split.train.user_vocab, split.train.item_vocab
    return {users.external(int(u)): set(items.external(split.test[u].indices)) for u in split.users}


# ----------------------------------------------------------------------------- Online Retail
def _retail() -> Dataset:
    rows = [  # user, item, ts
        ("A", "i1", "2011-08-01"), ("A", "i1", "2011-11-05"), ("A", "i2", "2011-11-06"), ("A", "i4", "2011-11-20"),
        ("B", "i3", "2011-10-01"), ("B", "i3", "2011-11-10"),
        ("C", "i4", "2011-11-02"),
        ("D", "i2", "2011-07-01"),
        ("E", "i1", "2011-08-15"), ("E", "i3", "2011-10-20"),
        (None, "x", "2011-05-01"), (None, "i1", "2011-06-01"), (None, "i5", "2011-11-20"),
    ]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    events["basket_id"] = [f"inv{i}" for i in range(len(rows))]
    items = pd.DataFrame({"item_id": ["i1", "i2", "i3", "i4", "i5", "x"]})
    return Dataset(items=items, events=events, name="retail-toy")


def test_online_retail_new_masks_and_drops_users_left_without_items():
    s = splits.online_retail(_retail(), "test", "new")
    assert list(s.train.item_vocab.ids) == ["i1", "i2", "i3", "i4"]  # identified items only
    assert s.exclude_seen and s.mode == "new"
    assert _test_sets(s) == {"A": {"i2", "i4"}}  # i1 bought before; B left with nothing; C no history
    assert (s.train.events["ts"] < pd.Timestamp("2011-11-01")).all()
    assert s.train.events["user_id"].notna().all()


def test_online_retail_all_keeps_repeats_without_masking():
    s = splits.online_retail(_retail(), "test", "all")
    assert not s.exclude_seen
    assert _test_sets(s) == {"A": {"i1", "i2", "i4"}, "B": {"i3"}}


def test_online_retail_valid_stage_fits_before_september():
    s = splits.online_retail(_retail(), "valid", "new")
    assert _test_sets(s) == {"E": {"i3"}}  # B's first purchase is in the validation period
    assert (s.train.events["ts"] < pd.Timestamp("2011-09-01")).all()
    assert s.train.user_vocab == _retail().user_vocab


def test_online_retail_cold_start_items_and_restriction():
    s = splits.online_retail(_retail(), "test", "new")
    assert list(s.train.item_vocab.external(s.meta["cold_start_items"])) == ["i4"]
    cold = splits.cold_start(s)
    assert _test_sets(cold) == {"A": {"i4"}}


def test_online_retail_anonymous_variant_keeps_catalogue_baskets_only():
    s = splits.online_retail(_retail(), "test", "new", anonymous=True)
    anon = s.train.events[s.train.events["user_id"].isna()]
    assert anon["item_id"].tolist() == ["i1"]  # "x" is outside the catalogue, "i5" after the cut
    assert s.name.endswith("+anonymous")
    assert _test_sets(s) == _test_sets(splits.online_retail(_retail(), "test", "new"))


def test_bad_stage_or_mode():
    with pytest.raises(ConfigError, match="stage"):
        splits.online_retail(_retail(), "train")
    with pytest.raises(ConfigError, match="mode"):
        splits.online_retail(_retail(), "test", "repeat")


# ----------------------------------------------------------------------------- Instacart
def _instacart(shuffle: bool = False) -> Dataset:
    orders = {("u1", 1): ["a", "b"], ("u1", 2): ["b"], ("u1", 3): ["c"], ("u1", 4): ["a", "d"],
              ("u2", 1): ["a"], ("u2", 2): ["a"]}
    rows = [(u, item, f"{u}-o{n}", n) for (u, n), items in orders.items() for item in items]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "basket_id", "order_number"])
    if shuffle:
        events = events.sample(frac=1.0, random_state=3)
    items = pd.DataFrame({"item_id": ["a", "b", "c", "d", "z"]})
    return Dataset(items=items, events=events, name="instacart-toy")


def test_instacart_last_order_is_test():
    new = splits.instacart(_instacart(shuffle=True), "test", "new")
    assert _test_sets(new) == {"u1": {"d"}}  # "a" seen before; u2's last order only repeats
    assert list(new.train.item_vocab.ids) == ["a", "b", "c", "d"]
    everything = splits.instacart(_instacart(shuffle=True), "test", "all")
    assert _test_sets(everything) == {"u1": {"a", "d"}, "u2": {"a"}}


def test_instacart_valid_is_the_order_before_last():
    s = splits.instacart(_instacart(), "valid", "new")
    assert _test_sets(s) == {"u1": {"c"}}
    assert set(s.train.events["basket_id"]) == {"u1-o1", "u1-o2"}  # u2 has no order before its validation one


def test_instacart_catalogue_follows_in_orders_flags_and_dropped_users():
    ds = _instacart()
    items = ds.items.copy()
    items["attributes"] = [{"in_orders": True}] * 4 + [{"in_orders": True}]  # "z" was bought by a dropped user
    s = splits.instacart(ds.replace(items=items), "test", "all", drop_users=("u2",))
    assert list(s.train.item_vocab.ids) == ["a", "b", "c", "d", "z"]
    assert set(_test_sets(s)) == {"u1"}


# ----------------------------------------------------------------------------- LightGCN official
def _official(order_seed: int | None = None) -> Dataset:
    rng = np.random.default_rng(0)
    rows = []
    for u in range(30):
        items = rng.choice(50, size=12, replace=False)
        rows += [(str(u), str(i), "train") for i in items[:10]] + [(str(u), str(i), "test") for i in items[10:]]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "split"])
    if order_seed is not None:
        events = events.sample(frac=1.0, random_state=order_seed)
    return Dataset(items=pd.DataFrame({"item_id": [str(i) for i in range(50)]}), events=events, name="toy")


def test_lightgcn_official_test_and_seeded_validation():
    ds = _official()
    test = splits.lightgcn_official(ds, "test")
    assert test.n_users == 30 and test.test[test.users].nnz == 60 and test.exclude_seen
    valid = splits.lightgcn_official(ds, "valid", seed=1)
    assert valid.test[valid.users].nnz == 30  # round(10% of 10) = 1 per user
    assert valid.train.interactions().nnz == 270
    again = splits.lightgcn_official(_official(order_seed=5), "valid", seed=1)
    assert (again.test != valid.test).nnz == 0  # independent of row order
    other = splits.lightgcn_official(ds, "valid", seed=2)
    assert (other.test != valid.test).nnz > 0


# ----------------------------------------------------------------------------- bundles
def _bundle_data() -> Dataset:
    bundles = pd.DataFrame({"bundle_id": ["b1", "b2", "b3"], "item_ids": [["i1", "i2"], ["i2", "i3"], ["i3", "i4"]]})
    ub = pd.DataFrame({"user_id": ["u1", "u1", "u1", "u2", "u2"], "bundle_id": ["b1", "b2", "b3", "b2", "b1"],
                       "split": ["train", "valid", "test", "train", "test"],
                       "ts": pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01", "2020-01-05", "2020-01-02"])})
    items = pd.DataFrame({"item_id": ["i1", "i2", "i3", "i4"]})
    events = pd.DataFrame({"user_id": ["u1", "u2", "u2"], "item_id": ["i1", "i3", "i4"],
                           "ts": pd.to_datetime(["2019-12-01", "2019-12-01", "2020-01-03"])})
    return Dataset(items=items, events=events, bundles=bundles, user_bundles=ub, name="bundles-toy")


def test_youshu_recommends_bundles_fit_on_train():
    s = splits.youshu(_bundle_data(), "test")
    assert list(s.train.item_vocab.ids) == ["b1", "b2", "b3"]
    assert _test_sets(s) == {"u1": {"b3"}, "u2": {"b1"}}
    assert set(s.train.events["item_id"]) == {"b1", "b2"} and (s.train.events["split"] == "train").all()
    assert _test_sets(splits.youshu(_bundle_data(), "valid")) == {"u1": {"b2"}}


def test_last_bundle_holds_out_the_latest_bundle_items():
    s = splits.last_bundle(_bundle_data())
    # u1's last bundle b3 = {i3, i4}; u2's last is b2 (2020-01-05) = {i2, i3}, minus i3 seen before
    assert _test_sets(s) == {"u1": {"i3", "i4"}, "u2": {"i2"}}
    assert sorted(map(tuple, s.train.user_bundles[["user_id", "bundle_id"]].to_numpy())) == [
        ("u1", "b1"), ("u1", "b2"), ("u2", "b1")]
    # b3 is named only by a held-out choice: its contents must not stay in the train catalogue;
    # b2 is held out for u2 but still chosen by u1 in train, so it stays.
    assert sorted(s.train.bundles["bundle_id"]) == ["b1", "b2"]


def test_last_bundle_same_day_bundles_keep_the_other_bundles_events():
    # BundleRec-like: both bundles on one day, events are exactly the bundles' items
    bundles = pd.DataFrame({"bundle_id": ["b1", "b2"], "item_ids": [["i1", "i2"], ["i2", "i3"]]})
    ub = pd.DataFrame({"user_id": ["u", "u"], "bundle_id": ["b1", "b2"], "ts": pd.to_datetime(["2020-01-01"] * 2)})
    events = pd.DataFrame({"user_id": ["u"] * 3, "item_id": ["i1", "i2", "i3"], "ts": pd.to_datetime(["2020-01-01"] * 3)})
    ds = Dataset(items=pd.DataFrame({"item_id": ["i1", "i2", "i3"]}), events=events, bundles=bundles, user_bundles=ub)
    s = splits.last_bundle(ds, "all")
    assert _test_sets(s) == {"u": {"i2", "i3"}}  # b2 is last (same day, higher bundle index)
    assert sorted(s.train.events["item_id"]) == ["i1", "i2"]  # i3 would reveal b2; i2 is also in b1
    assert _test_sets(splits.last_bundle(ds, "new")) == {"u": {"i3"}}


# ----------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def real(data_dir):
    from cartgraph.loaders import load

    cache: dict[str, Dataset] = {}

    def get(fmt: str, folder: str) -> Dataset:
        if fmt not in cache:
            cache[fmt] = load(fmt, data_dir / folder)
        return cache[fmt]
    return get


@pytest.mark.data
def test_online_retail_published_counts(real):
    ds = real("online-retail", "online-retail")
    new, everything = splits.online_retail(ds, "test", "new"), splits.online_retail(ds, "test", "all")
    assert (new.n_users, everything.n_users) == (1449, 1540)
    assert new.train.n_items == 3659 and new.train.n_users == 4334
    assert len(new.meta["cold_start_items"]) == 52


@pytest.mark.data
def test_instacart_published_counts(real):
    ds = real("instacart", "instacart")
    new, everything = splits.instacart(ds, "test", "new"), splits.instacart(ds, "test", "all")
    assert (new.n_users, everything.n_users) == (461, 592)
    assert new.train.n_items == 14190


@pytest.mark.data
def test_gowalla_and_youshu_published_counts(real):
    gowalla = splits.lightgcn_official(real("lightgcn", "gowalla"), "test")
    assert (gowalla.n_users, gowalla.train.n_items, gowalla.test.nnz) == (29858, 40981, 217242)
    youshu = splits.youshu(real("youshu", "youshu"), "test")
    assert (youshu.n_users, youshu.train.n_items) == (2959, 4771)
