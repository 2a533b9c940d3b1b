"""The BundleRec Amazon loader (``bundlerec-amazon``): real domains and bad files.

Against the release README's table (only electronic and clothing are shared; there
is no food folder):

- electronic: 888 users, 3,499 items with a title (4,943 item ids in all once
  session_item's items are counted), 1,145 sessions, 1,750 bundles, 1,422 intents,
  6,165 user_item rows — all as in the README; the README's 1,753 U-B interactions
  are 1,750 rows in user_bundle.csv.
- clothing: 965 users, 4,487 titled items (6,439 in all), 1,181 sessions, 1,910
  bundles, 1,466 distinct non-empty intents, 6,326 user_item rows — as in the README;
  1,912 U-B interactions in the README are 1,910 rows in user_bundle.csv.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from cartgraph.dataset import Dataset
from cartgraph.errors import DataError
from cartgraph.loaders import load as load_any
from cartgraph.loaders.bundlerec import load, parse_categories

T0, T1 = 1405987200, 1405036800
FILES = {
    "user_item.csv": f"user ID,item ID,timestamp\n0,11,{T0}\n0,10,{T0}\n0,10,{T0}\n0,13,{T0}\n1,12,{T1}\n1,14,{T1}\n",
    "user_session.csv": f"user ID,session ID,timestamp\n0,100,{T0}\n1,101,{T1}\n",
    "session_item.csv": "session ID,item ID\n100,10\n100,11\n100,13\n100,15\n101,12\n101,14\n102,16\n",
    "session_bundle.csv": "session ID,bundle ID\n100,0\n100,1\n101,2\n",
    "bundle_item.csv": "bundle ID,item ID\n0,11\n0,10\n1,10\n1,13\n2,12\n2,14\n",
    "bundle_intent.csv": 'bundle ID,intent\n0,Phone kit\n1,Charging\n2,"Coffee, Tea & Cocoa set"\n',
    "user_bundle.csv": f"user ID,bundle ID,timestamp\n0,0,{T0}\n0,1,{T0}\n1,2,{T1}\n",
    "item_titles.csv": 'item ID,titles\n10,Phone\n11,"Case, black"\n12,Coffee\n',
    "item_categories.csv": (
        'item ID,categories\n10,"[[Electronics,Cell Phones & Accessories,Cell Phones]]"\n'
        '11,"[[Electronics,Accessories],[Electronics,Cell Phones & Accessories,Cases, Holsters & Sleeves,Basic Cases]]"\n'
        '12,"[[Grocery & Gourmet Food,Beverages,Coffee, Tea & Cocoa,Coffee]]"\n'),
    "item_idx_mapping.csv": "item ID,source ID\n10,B0010\n11,B0011\n99,B0099\n",
    "user_idx_mapping.csv": "user ID,source ID\n0,A0\n1,A1\n",
}


def make(tmp_path: Path, **changes: str | None) -> Path:
    """A tiny valid domain folder; ``changes`` replace (None: delete) files, dots as ``__``."""
    files = {**FILES, **{k.replace("__", "."): v for k, v in changes.items()}}
    for name, text in files.items():
        if text is not None:
            (tmp_path / name).write_text(text)
    return tmp_path


def error_of(folder: Path) -> str:
    with pytest.raises(DataError) as info:
        load(folder)
    return str(info.value)


# --------------------------------------------------------------------------- real data
def test_electronic_counts(data_dir: Path) -> None:
    ds = load_any("bundlerec-amazon", data_dir / "bundlerec-amazon" / "electronic")
    assert ds.n_users == 888 and ds.meta["items_with_title"] == 3499 and ds.n_items == 4943
    assert (len(ds.bundles), ds.meta["intents"], ds.meta["sessions"]) == (1750, 1422, 1145)
    assert ds.meta["rows"]["user_item.csv"] == 6165 and ds.meta["user_item_repeats_dropped"] == 1704
    assert len(ds.events) == 6165 - 1704 and len(ds.user_bundles) == 1750
    assert round(ds.bundles["item_ids"].map(len).mean(), 2) == 3.52
    assert (ds.items["category_path"].map(len) > 0).sum() == 3499
    assert ds.bundles.iloc[0]["item_ids"] == ["111245", "133970", "53071"]  # file order
    assert ds.bundles.iloc[0]["session_id"] == "0" and ds.bundles.iloc[0]["intent"] == "Storage Devices"
    item = ds.items.set_index("item_id").loc["147771"]
    assert item["category_path"] == ["Electronics", "Accessories & Supplies", "Batteries, Chargers & Accessories",
                                     "AC Adapters"]
    assert ds.items.set_index("item_id").loc["49", "attributes"]["asin"] == "B00DBPKEOI"  # item 0 is unused


def test_electronic_baskets_are_the_users_sessions(data_dir: Path) -> None:
    folder = data_dir / "bundlerec-amazon" / "electronic"
    ds = load(folder)
    owner = pd.read_csv(folder / "user_session.csv", dtype=str).set_index("session ID")["user ID"]
    content = set(map(tuple, pd.read_csv(folder / "session_item.csv", dtype=str).to_numpy()))
    assert ds.events["basket_id"].notna().all()
    assert (ds.events["basket_id"].map(owner) == ds.events["user_id"]).all()
    assert all((b, i) in content for b, i in zip(ds.events["basket_id"], ds.events["item_id"]))


def test_clothing_counts_and_session_items(data_dir: Path) -> None:
    folder = data_dir / "bundlerec-amazon" / "clothing"
    ds = load(folder)
    assert (ds.n_users, ds.meta["items_with_title"], ds.n_items) == (965, 4487, 6439)
    assert (len(ds.bundles), ds.meta["intents"], ds.meta["sessions"]) == (1910, 1466, 1181)
    assert ds.meta["rows"]["user_item.csv"] == 6326 and len(ds.user_bundles) == 1910
    assert ds.bundles["intent"].isna().sum() == 1  # bundle 1860 has an empty intent
    assert ds.items["attributes"].map(lambda a: len(a.get("category_paths", [])) > 1).sum() == 2803
    full = load(folder, session_items=True)
    assert len(full.events) == 6793 and full.events["user_id"].isna().sum() == 844  # 213 sessions without user


# --------------------------------------------------------------------------- parsing rule
def test_category_names_with_commas() -> None:
    line = "[[Grocery & Gourmet Food,Beverages,Coffee, Tea & Cocoa,Coffee,Ground Coffee]]"
    assert parse_categories(line) == [["Grocery & Gourmet Food", "Beverages", "Coffee, Tea & Cocoa", "Coffee",
                                       "Ground Coffee"]]
    two = "[[Clothing, Shoes & Jewelry,Women],[Clothing, Shoes & Jewelry,Novelty, Costumes & More]]"
    assert parse_categories(two) == [["Clothing, Shoes & Jewelry", "Women"],
                                     ["Clothing, Shoes & Jewelry", "Novelty, Costumes & More"]]
    assert parse_categories("[[]]") == [] and parse_categories("Electronics,Cameras") is None
    assert parse_categories("[[Electronics,,Cameras]]") is None


# --------------------------------------------------------------------------- tiny folders
def test_tiny_folder(tmp_path: Path) -> None:
    ds = load(make(tmp_path)).validate()
    items = ds.items.set_index("item_id")
    assert list(items.index) == ["10", "11", "12", "13", "14", "15", "16"]
    assert items.loc["11", "category_path"] == ["Electronics", "Cell Phones & Accessories",
                                                "Cases, Holsters & Sleeves", "Basic Cases"]  # the longest path
    assert items.loc["12", "category_path"][2] == "Coffee, Tea & Cocoa"
    assert items.loc["10", "attributes"]["asin"] == "B0010" and "asin" not in items.loc["12", "attributes"]
    assert pd.isna(items.loc["15", "title"]) and items.loc["15", "category_path"] == []
    assert list(zip(ds.events["user_id"], ds.events["item_id"], ds.events["basket_id"])) == [
        ("0", "11", "100"), ("0", "10", "100"), ("0", "13", "100"), ("1", "12", "101"), ("1", "14", "101")]
    assert ds.events["ts"].iloc[0] == pd.Timestamp(T0, unit="s")
    bundles = ds.bundles.set_index("bundle_id")
    assert bundles.loc["0", "item_ids"] == ["11", "10"] and bundles.loc["2", "name"] == "Coffee, Tea & Cocoa set"
    assert list(bundles["session_id"]) == ["100", "100", "101"]
    assert list(ds.users["source_id"]) == ["A0", "A1"]
    assert ds.user_bundles["ts"].iloc[2] == pd.Timestamp(T1, unit="s")


def test_session_items_option(tmp_path: Path) -> None:
    ds = load(make(tmp_path), session_items=True)
    extra = ds.events.iloc[5:]
    assert list(extra["item_id"]) == ["15", "16"] and extra["user_id"].iloc[0] == "0"
    assert pd.isna(extra["user_id"].iloc[1]) and extra["basket_id"].iloc[1] == "102"


def test_gzipped_file_is_read(tmp_path: Path) -> None:
    folder = make(tmp_path, user_item__csv=None)
    (folder / "user_item.csv.gz").write_bytes(gzip.compress(FILES["user_item.csv"].encode()))
    assert len(load(folder).events) == 5


def test_truncated_gzip(tmp_path: Path) -> None:
    folder = make(tmp_path, user_item__csv=None)
    packed = gzip.compress((FILES["user_item.csv"] + f"0,10,{T0}\n" * 20000).encode())
    (folder / "user_item.csv.gz").write_bytes(packed[: len(packed) // 2])
    message = error_of(folder)
    assert "user_item.csv.gz" in message and "truncated" in message


def test_missing_column(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, user_bundle__csv="user ID,bundle ID\n0,0\n"))
    assert "user_bundle.csv, column 'timestamp': expected a column 'timestamp'" in message


def test_header_without_space_is_a_missing_column(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, bundle_item__csv="bundle_id,item_id\n0,11\n"))
    assert "bundle_item.csv, column 'bundle ID'" in message


def test_wrong_type(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, user_session__csv=f"user ID,session ID,timestamp\n0,100,{T0}\n1,101,yesterday\n"))
    assert "user_session.csv, line 3, column 'timestamp': expected an integer, found 'yesterday'" in message


def test_user_bundle_that_joins_no_bundle(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, user_bundle__csv=f"user ID,bundle ID,timestamp\n0,0,{T0}\n0,7,{T0}\n"))
    assert "user_bundle.csv, line 3, column 'bundle ID': expected a bundle ID listed in bundle_item.csv" in message


def test_session_bundle_with_unknown_session(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, session_bundle__csv="session ID,bundle ID\n100,0\n100,1\n555,2\n"))
    assert "session_bundle.csv, line 4, column 'session ID'" in message and "'555'" in message


def test_malformed_categories(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, item_categories__csv='item ID,categories\n10,"[[Electronics]]"\n11,Electronics\n'))
    assert "item_categories.csv, line 3, column 'categories'" in message and "'Electronics'" in message


def test_repeated_title_id(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, item_titles__csv="item ID,titles\n10,Phone\n10,Phone again\n"))
    assert "item_titles.csv, line 3, column 'item ID': expected each item ID once" in message


def test_empty_file(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, bundle_intent__csv=""))
    assert "bundle_intent.csv" in message and "empty file" in message


def test_header_only_file(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, session_bundle__csv="session ID,bundle ID\n"))
    assert "session_bundle.csv" in message and "only a header" in message


def test_extra_columns_survive_save_and_load(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    ds = load(make(tmp_path / "in"))
    ds.save(tmp_path / "saved")
    back = Dataset.load(tmp_path / "saved").validate()
    assert list(back.bundles["session_id"]) == ["100", "100", "101"]
    assert back.items.set_index("item_id").loc["11", "attributes"]["category_paths"][0] == ["Electronics", "Accessories"]
