"""The data model: normalisation, validation errors, vocabularies, save/load."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cartgraph import Dataset, DataError
from cartgraph.errors import ConfigError


def small() -> Dataset:
    items = pd.DataFrame({
        "item_id": ["10", "2", "7"],
        "title": ["Espresso Machine", "Milk Frother", None],
        "category_path": [["Kitchen", "Coffee"], ["Kitchen", "Coffee"], None],
        "price": [199.0, 25.5, None],
        "attributes": [{"color": "red"}, None, {}],
    })
    events = pd.DataFrame({
        "user_id": ["u1", "u1", None, "u2"],
        "item_id": ["10", "2", "2", "7"],
        "kind": ["view", "purchase", "purchase", "cart"],
        "ts": ["2024-01-01", "2024-01-02", "2024-01-03", None],
        "basket_id": ["b1", "b1", "b2", None],
    })
    bundles = pd.DataFrame({"bundle_id": ["k1"], "item_ids": [["10", "2"]], "intent": ["coffee corner"]})
    user_bundles = pd.DataFrame({"user_id": ["u3"], "bundle_id": ["k1"], "ts": ["2024-02-01"]})
    return Dataset(items=items, events=events, bundles=bundles, user_bundles=user_bundles, name="small")


def test_normalisation_fills_schema_columns_and_users():
    ds = small()
    assert list(ds.items.columns[:7]) == ["item_id", "title", "description", "category_path", "brand", "price", "attributes"]
    assert ds.items["category_path"].tolist() == [["Kitchen", "Coffee"], ["Kitchen", "Coffee"], []]
    assert ds.events["quantity"].tolist() == [1.0] * 4
    # users seen only in events / user_bundles are added
    assert sorted(ds.users["user_id"]) == ["u1", "u2", "u3"]
    assert ds.validate() is ds


def test_vocabularies_sort_numeric_ids_numerically():
    ds = small()
    assert ds.item_vocab.ids.tolist() == ["2", "7", "10"]
    assert ds.item_vocab.index("10") == 2
    assert ds.user_vocab.indices(["u2", "u1"]).tolist() == [1, 0]
    with pytest.raises(ConfigError, match="unknown item id '99'"):
        ds.item_vocab.index("99")


def test_interactions_binary_and_counts_skip_anonymous():
    ds = small()
    m = ds.interactions()
    assert m.shape == (3, 3)
    assert m.toarray().tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]
    bought = ds.interactions(kinds=("purchase",))
    assert bought.sum() == 1
    with pytest.raises(ConfigError, match="unknown event kinds"):
        ds.interactions(kinds=("bought",))


def test_validate_names_table_row_and_column():
    ds = small()
    bad = ds.replace(events=pd.concat([ds.events, pd.DataFrame({"user_id": ["u1"], "item_id": ["404"], "kind": ["view"]})], ignore_index=True))
    with pytest.raises(DataError, match=r"small:events, row 5, column 'item_id': expected an item id listed in items, found '404'"):
        bad.validate()
    dup = ds.replace(items=pd.concat([ds.items, ds.items.iloc[[0]]], ignore_index=True))
    with pytest.raises(DataError, match=r"small:items, row 4, column 'item_id': expected unique ids"):
        dup.validate()
    with pytest.raises(DataError, match=r"events, row 2, column 'kind': expected one of .*, found 'bought'"):
        ds.replace(events=ds.events.assign(kind=["view", "bought", "purchase", "cart"]))
    missing_kind = ds.replace(events=ds.events.assign(kind=["view", None, "purchase", "cart"]))
    with pytest.raises(DataError, match=r"small:events, row 2, column 'kind': expected one of"):
        missing_kind.validate()
    bad_bundle = ds.replace(bundles=pd.DataFrame({"bundle_id": ["k1"], "item_ids": [["10", "nope"]]}))
    with pytest.raises(DataError, match=r"small:bundles, row 1, column 'item_ids'.*'nope'"):
        bad_bundle.validate()


def test_save_load_round_trip(tmp_path):
    ds = small()
    ds.save(tmp_path / "ds")
    back = Dataset.load(tmp_path / "ds")
    assert back.name == "small"
    for table in ("items", "users", "events", "bundles", "user_bundles"):
        a, b = getattr(ds, table), getattr(back, table)
        assert list(a.columns) == list(b.columns), table
        assert len(a) == len(b)
    assert back.items["attributes"].tolist() == ds.items["attributes"].tolist()
    assert back.bundles["item_ids"].tolist() == [["10", "2"]]
    assert back.events["kind"].astype(str).tolist() == ds.events["kind"].astype(str).tolist()
    assert back.item_vocab == ds.item_vocab
    assert (back.interactions() != ds.interactions()).nnz == 0


def test_save_is_atomic_and_replaces(tmp_path):
    target = tmp_path / "ds"
    small().save(target)
    # a second save replaces the folder and leaves no temporary siblings
    small().replace(name="again").save(target)
    assert json.loads((target / "dataset.json").read_text())["name"] == "again"
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_load_rejects_foreign_or_newer_folders(tmp_path):
    with pytest.raises(DataError, match="no dataset.json"):
        Dataset.load(tmp_path)
    small().save(tmp_path / "ds")
    header = tmp_path / "ds" / "dataset.json"
    info = json.loads(header.read_text())
    info["version"] = 99
    header.write_text(json.dumps(info))
    with pytest.raises(DataError, match="expected cartgraph-dataset format version 1, found 'cartgraph-dataset version 99'"):
        Dataset.load(tmp_path / "ds")


def test_bundle_items_long_form_and_stats():
    ds = small()
    long = ds.bundle_items()
    assert long.to_dict("list") == {"bundle_id": ["k1", "k1"], "item_id": ["10", "2"], "position": [0, 1]}
    st = ds.stats()
    assert st["events_by_kind"] == {"view": 1, "click": 0, "cart": 1, "purchase": 2}
    assert st["anonymous_events"] == 1 and st["baskets"] == 2 and st["user_item_pairs"] == 3
    assert ds.basket_items().to_dict("list") == {"basket_id": ["b1", "b2"], "item_id": ["2", "2"]}


def test_replace_rejects_unknown_fields():
    with pytest.raises(ConfigError, match="unknown fields"):
        small().replace(itemz=None)


def test_empty_dataset_is_valid():
    ds = Dataset(items=pd.DataFrame({"item_id": []}))
    assert ds.validate().n_items == 0
    assert np.asarray(ds.interactions().shape).tolist() == [0, 0]
