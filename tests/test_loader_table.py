"""The ``table`` loader: a shop's own CSV/Parquet files with a column mapping, and bad files."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cartgraph.errors import ConfigError, DataError
from cartgraph.loaders import load as load_any
from cartgraph.loaders.table import load

EVENTS = ("customer,sku,action,time,order,channel\n"
          "u1,A,order,1700000000,o1,web\n"
          "u1,B,order,1700000060,o1,web\n"
          ",C,look,1700000100,,app\n"
          "u2,A,basket,1700000200,o2,app\n")
ITEMS = "sku,name,cat,colour,price\nA,Alpha,Kitchen > Coffee,red,$3.50\nB,Beta,Kitchen,,4\n"
MAPPING = {"user_id": "customer", "item_id": "sku", "kind": "action", "ts": "time", "basket_id": "order",
           "items.title": "name", "category_path": "cat"}
KINDS = {"order": "purchase", "look": "view", "basket": "cart"}


def make(tmp_path: Path, **files: str) -> Path:
    for name, text in {"events.csv": EVENTS, "items.csv": ITEMS, **{k.replace("__", "."): v for k, v in files.items()}}.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def shop(folder: Path, **options):
    return load(folder, **{"mapping": MAPPING, "event_kind_map": KINDS, "ts_unit": "s", **options})


def test_mapped_folder(tmp_path: Path) -> None:
    ds = load_any("table", make(tmp_path), mapping=MAPPING, event_kind_map=KINDS, ts_unit="s")
    assert ds.events["kind"].tolist() == ["purchase", "purchase", "view", "cart"]
    assert ds.events["user_id"].isna().tolist() == [False, False, True, False]
    assert ds.events["ts"].iloc[1] == pd.Timestamp(1700000060, unit="s")
    assert ds.events["channel"].tolist() == ["web", "web", "app", "app"]  # extra column kept
    items = ds.items.set_index("item_id")
    assert items.loc["A", "title"] == "Alpha" and items.loc["A", "category_path"] == ["Kitchen", "Coffee"]
    assert items.loc["A", "price"] == 3.5 and items.loc["A", "attributes"] == {"colour": "red"}
    assert items.loc["B", "attributes"] == {}
    assert "C" in items.index and ds.meta["items_created"] == 1  # C is only in events


def test_events_file_as_path_and_date_strings(tmp_path: Path) -> None:
    path = tmp_path / "clicks.tsv"
    path.write_text("user_id\titem_id\tts\nu1\tA\t2024-03-01 10:00\nu2\tB\t2024-03-02 11:30\n")
    ds = load(path).validate()
    assert ds.events["kind"].tolist() == ["purchase", "purchase"] and ds.n_items == 2
    assert ds.events["ts"].iloc[1] == pd.Timestamp("2024-03-02 11:30")


def test_parquet_events(tmp_path: Path) -> None:
    pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["A", "B"], "kind": ["view", "cart"]}).to_parquet(tmp_path / "events.parquet")
    ds = load(tmp_path).validate()
    assert ds.events["kind"].tolist() == ["view", "cart"]


def test_bundles_wide_and_long_with_user_bundles(tmp_path: Path) -> None:
    make(tmp_path, bundles__csv="bundle_id,item_ids,name\nb1,A|B,Duo\nb2,B|D,Other\n",
         user_bundles__csv="customer,bundle_id\nu1,b1\n")
    ds = shop(tmp_path).validate()
    assert ds.bundles.set_index("bundle_id")["item_ids"].to_dict() == {"b1": ["A", "B"], "b2": ["B", "D"]}
    assert "D" in set(ds.items["item_id"]) and ds.user_bundles["user_id"].tolist() == ["u1"]
    (tmp_path / "bundles.csv").write_text("bundle_id,item_id,name\nb1,B,Duo\nb1,A,Duo\nb2,C,Solo\n")
    ds = shop(tmp_path).validate()
    assert ds.bundles.set_index("bundle_id")["item_ids"].to_dict() == {"b1": ["B", "A"], "b2": ["C"]}


def test_missing_mapped_column_names_file_and_column(tmp_path: Path) -> None:
    make(tmp_path, events__csv=EVENTS.replace("action", "what"))
    with pytest.raises(DataError, match=r"events\.csv, column 'action': expected a column 'action' \(mapped from our 'kind'\)"):
        shop(tmp_path)
    make(tmp_path, items__csv=ITEMS.replace("name", "label"))
    with pytest.raises(DataError, match=r"items\.csv, column 'name'"):
        shop(tmp_path)


def test_missing_required_column(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text("user,item_id\nu1,A\n")
    with pytest.raises(DataError, match=r"events\.csv, column 'user_id': expected a column 'user_id'"):
        load(tmp_path)


def test_unknown_kind_names_line_and_column(tmp_path: Path) -> None:
    make(tmp_path, events__csv=EVENTS.replace("u2,A,basket", "u2,A,wishlist"))
    with pytest.raises(DataError, match=r"events\.csv, line 5, column 'action': expected one of \['view', 'click', 'cart', 'purchase'\].*found 'wishlist'"):
        shop(tmp_path)


def test_wrong_types_name_line_and_column(tmp_path: Path) -> None:
    make(tmp_path, events__csv=EVENTS.replace("1700000060", "later"))
    with pytest.raises(DataError, match=r"events\.csv, line 3, column 'time': expected a number, found 'later'"):
        shop(tmp_path)
    make(tmp_path, items__csv=ITEMS.replace(",4\n", ",four\n"))
    with pytest.raises(DataError, match=r"items\.csv, line 3, column 'price': expected a number, found 'four'"):
        shop(tmp_path)
    (tmp_path / "items.csv").unlink()
    (tmp_path / "events.csv").write_text("user_id,item_id,ts\nu1,A,2024-01-01\nu1,B,not a date\n")
    with pytest.raises(DataError, match=r"events\.csv, line 3, column 'ts': expected a date/time, found 'not a date'"):
        load(tmp_path)


def test_empty_item_id_and_duplicate_items(tmp_path: Path) -> None:
    make(tmp_path, events__csv=EVENTS.replace("u1,B,order", "u1,,order"))
    with pytest.raises(DataError, match=r"events\.csv, line 3, column 'sku': expected a non-empty value"):
        shop(tmp_path)
    make(tmp_path, items__csv=ITEMS + "A,Again,Kitchen,,1\n")
    with pytest.raises(DataError, match=r"items\.csv, line 4, column 'sku': expected unique item_id values, found 'A'"):
        shop(tmp_path)


def test_user_bundle_of_unknown_bundle_is_an_error(tmp_path: Path) -> None:
    make(tmp_path, bundles__csv="bundle_id,item_ids\nb1,A|B\n", user_bundles__csv="user_id,bundle_id\nu1,b1\nu2,b7\n")
    with pytest.raises(DataError, match=r"user_bundles\.csv, line 3, column 'bundle_id': expected a bundle id listed in the bundles file, found 'b7'"):
        shop(tmp_path)


def test_empty_files_and_missing_events(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text("")
    with pytest.raises(DataError, match=r"events\.csv: expected the events table with data, found an empty file"):
        load(tmp_path)
    (tmp_path / "events.csv").write_text("user_id,item_id\n")
    with pytest.raises(DataError, match=r"events\.csv: expected at least one data row, found only a header"):
        load(tmp_path)
    (tmp_path / "events.csv").unlink()
    with pytest.raises(DataError, match=r"expected an events file"):
        load(tmp_path)


def test_truncated_gzip_events(tmp_path: Path) -> None:
    import gzip

    payload = gzip.compress(("user_id,item_id\n" + "u1,A\n" * 2000).encode())
    (tmp_path / "log.csv.gz").write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DataError, match=r"log\.csv\.gz: expected a complete gzip stream"):
        load(tmp_path, events="log.csv.gz")


def test_bad_options_are_config_errors(tmp_path: Path) -> None:
    make(tmp_path)
    with pytest.raises(ConfigError, match="mapping: unknown column 'colour'"):
        load(tmp_path, mapping={"colour": "c"})
    with pytest.raises(ConfigError, match="event kinds \\['buy'\\]"):
        load(tmp_path, event_kind_map={"order": "buy"})
    with pytest.raises(ConfigError, match="ts_unit"):
        load(tmp_path, ts_unit="days")
