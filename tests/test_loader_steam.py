"""The Steam bundles loader (``steam-bundles``): the real 615 bundles and bad files.

The shared file holds the 615 bundles of the data README, with 3,525 item listings
of 2,798 distinct non-empty Steam app ids plus 8 distinct names whose item_id is
empty, so 2,805 items.
"""
from __future__ import annotations

import gzip
import math
from pathlib import Path

import pytest

from cartgraph.errors import DataError
from cartgraph.loaders import load as load_any
from cartgraph.loaders.steam import load, parse_discount, parse_price

ITEM = "{{'item_id': '{id}', 'item_name': '{name}', 'genre': '{genre}', 'discounted_price': '{price}'}}"


def bundle_line(bundle_id: str, items: list[str], final: str = "$9.00", price: str = "$10.00") -> str:
    return (f"{{'bundle_id': '{bundle_id}', 'bundle_name': 'Pack {bundle_id}', 'bundle_price': '{price}', "
            f"'bundle_final_price': '{final}', 'bundle_discount': '10%', 'items': [{', '.join(items)}]}}\n")


GOOD = (bundle_line("1", [ITEM.format(id="10", name="A", genre="Action, Indie", price="$5.00"),
                          ITEM.format(id="20", name="B", genre="", price="Free"),
                          ITEM.format(id="10", name="A", genre="Action, Indie", price="$5.00")])
        + bundle_line("2", [ITEM.format(id="", name="Extra DLC", genre="", price="$1,250.50"),
                            ITEM.format(id="10", name="A", genre="Action, Indie", price="$4.00")]))


def write(tmp_path: Path, text: str, name: str = "bundle_data.json") -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


def error_of(path: Path) -> str:
    with pytest.raises(DataError) as info:
        load(path)
    return str(info.value)


# --------------------------------------------------------------------------- real data
def test_steam_real_counts(data_dir: Path) -> None:
    ds = load_any("steam-bundles", data_dir / "steam-bundles")
    assert len(ds.bundles) == 615 and len(ds.items) == 2805
    assert ds.meta["item_entries"] == 3525 and ds.meta["repeated_members_dropped"] == 1
    assert len(ds.users) == 0 and len(ds.events) == 0
    first = ds.bundles.iloc[0]
    assert (first["bundle_id"], first["name"], first["price"], first["list_price"]) == \
        ("450", "Dharker Studio 2015 Complete", 66.46, 73.86)
    assert first["item_ids"][:2] == ["326950", "331490"]
    item = ds.items.set_index("item_id").loc["326950"]
    assert item["title"] == "Sword of Asumi" and item["price"] == 8.99
    assert item["category_path"] == ["Adventure"] and item["attributes"]["genres"] == ["Adventure", "Indie", "RPG"]
    assert ds.bundles["discount"].max() == pytest.approx(0.92) and 0.075 in set(ds.bundles["discount"].round(3))


# --------------------------------------------------------------------------- tiny files
def test_tiny_file_maps_bundles_and_items(tmp_path: Path) -> None:
    ds = load(write(tmp_path, GOOD)).validate()
    bundles = ds.bundles.set_index("bundle_id")
    assert bundles.loc["1", "item_ids"] == ["10", "20"]  # the repeated 10 is dropped
    assert bundles.loc["2", "item_ids"] == ["name:Extra DLC", "10"]
    assert (bundles.loc["1", "price"], bundles.loc["1", "list_price"], bundles.loc["1", "discount"]) == (9.0, 10.0, 0.1)
    items = ds.items.set_index("item_id")
    assert items.loc["20", "price"] == 0.0 and items.loc["20", "category_path"] == []
    assert items.loc["name:Extra DLC", "price"] == 1250.5
    assert items.loc["name:Extra DLC", "attributes"]["steam_app_id"] is None
    assert items.loc["10", "price"] == 5.0 and items.loc["10", "attributes"]["prices_seen"] == [4.0, 5.0]
    assert ds.meta["repeated_members_dropped"] == 1


def test_price_parsing() -> None:
    assert parse_price("$8.99") == 8.99 and parse_price("Free to Play") == 0.0
    assert math.isnan(parse_price("")) and math.isnan(parse_price(None))
    assert parse_price("eight") is None
    assert parse_discount("7.5%") == pytest.approx(0.075) and parse_discount("ten") is None


def test_gzipped_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "bundle_data.json.gz").write_bytes(gzip.compress(GOOD.encode()))
    assert len(load(tmp_path).bundles) == 2


def test_truncated_gzip(tmp_path: Path) -> None:
    packed = gzip.compress("".join(bundle_line(str(i), [ITEM.format(id=str(i), name="x", genre="", price="$1")])
                                   for i in range(2000)).encode())
    (tmp_path / "bundle_data.json.gz").write_bytes(packed[: len(packed) // 2])
    message = error_of(tmp_path)
    assert "bundle_data.json.gz" in message and "truncated" in message


def test_bad_price_names_line_and_field(tmp_path: Path) -> None:
    bad = GOOD + bundle_line("3", [ITEM.format(id="30", name="C", genre="", price="$1"),
                                   ITEM.format(id="31", name="D", genre="", price="cheap")])
    message = error_of(write(tmp_path, bad))
    assert "bundle_data.json, line 3, column 'items[1].discounted_price'" in message and "'cheap'" in message


def test_bad_bundle_price(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, bundle_line("1", [ITEM.format(id="1", name="A", genre="", price="$1")],
                                                   final="9 EUR")))
    assert "line 1, column 'bundle_final_price'" in message


def test_missing_field_names_line_and_field(tmp_path: Path) -> None:
    text = GOOD + "{'bundle_id': '9', 'bundle_name': 'x', 'items': [{'item_name': 'no id'}]}\n"
    message = error_of(write(tmp_path, text))
    assert "bundle_data.json, line 3, column 'items[0].item_id': expected a field 'item_id'" in message


def test_missing_bundle_id(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "{'bundle_name': 'x', 'items': []}\n"))
    assert "line 1, column 'bundle_id'" in message


def test_empty_items_list(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "{'bundle_id': '1', 'bundle_name': 'x', 'items': []}\n"))
    assert "line 1, column 'items': expected a non-empty list of items" in message


def test_unparseable_line_names_line(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD + "{'bundle_id': '5', oops}\n"))
    assert "bundle_data.json, line 3" in message


def test_repeated_bundle_id(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD + GOOD.splitlines()[0] + "\n"))
    assert "line 3, column 'bundle_id'" in message and "line 1" in message


def test_empty_file(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, ""))
    assert "bundle_data.json" in message and "empty file" in message
