"""Amazon 2018 loader: Magazine Subscriptions counts, junk metadata, both rating layouts, bad files.

Real figures (data/README.md): 89,689 ratings by 72,098 users; "metadata for 3,385
items" counts *lines*: they hold 2,320 distinct asins (repeats are identical). The
ratings touch 2,428 asins, 108 of them without metadata, so the items are 2,428.
"""
from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from cartgraph.errors import DataError
from cartgraph.loaders import load as load_any
from cartgraph.loaders.amazon2018 import clean_title, load, parse_price

RATINGS = "A1,U1,5.0,1005177600\nA2,U1,4.0,1005177700\nA1,U2,1.0,1174694400\nA9,U3,3.0,1174694500\n"
META = [
    {"asin": "A1", "title": "Reason", "description": ["Liberty <b>and</b> markets.", ""], "brand": "",
     "category": ["Magazine Subscriptions", "News &amp; Politics"], "price": "$12.99",
     "also_buy": ["A2", "ZZ"], "also_view": ["A2"], "details": {"Publisher:": "Reason Foundation"}},
    {"asin": "A2", "title": '<span class="a-size-medium a-color-secondary"', "description": [], "brand": "Acme",
     "category": [], "price": ".a-box-inner{background-color:#fff}", "also_buy": [], "also_view": []},
]


def write_meta(folder: Path, records: list[dict] = META, raw: bytes | None = None) -> Path:
    path = folder / "meta_Tiny.json.gz"
    path.write_bytes(raw if raw is not None else gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode()))
    return path


def make(tmp_path: Path, ratings: str = RATINGS, records: list[dict] = META) -> Path:
    (tmp_path / "Tiny.csv").write_text(ratings)
    write_meta(tmp_path, records)
    return tmp_path


# --------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def magazines(data_dir: Path):
    return load_any("amazon2018", data_dir / "amazon2018-magazine")


def test_published_counts(magazines) -> None:
    assert len(magazines.events) == 89_689 == magazines.meta["raw_ratings"]
    assert magazines.n_users == 72_098
    assert magazines.meta["meta_lines"] == 3_385 and magazines.meta["meta_items"] == 2_320
    assert magazines.n_items == 2_428 and magazines.meta["rated_items_without_meta"] == 108
    assert set(magazines.events["kind"]) == {"purchase"}
    assert magazines.events["rating"].between(1, 5).all()


def test_html_junk_is_dropped(magazines) -> None:
    titles = magazines.items["title"].dropna()
    assert 100 < len(titles) < 300  # most scraped titles are markup
    assert not titles.str.contains("<span").any()
    assert not magazines.items["description"].dropna().str.contains("<").any()
    paths = magazines.items["category_path"].map(" > ".join)
    assert not paths.str.contains("&amp;").any() and paths.str.contains("Professional & Educational").any()
    assert magazines.items["price"].isna().all()  # this category holds only empty or CSS prices


def test_also_buy_pairs_stay_inside_the_catalogue(magazines) -> None:
    pairs = magazines.meta["also_buy"]
    items = set(magazines.items["item_id"])
    assert len(pairs) > 1000 and all(a in items and b in items and a != b for a, b in pairs)
    assert pairs == sorted(pairs)


# --------------------------------------------------------------------------- small files
def test_small_ratings_and_metadata(tmp_path: Path) -> None:
    ds = load(make(tmp_path)).validate()
    assert sorted(ds.items["item_id"]) == ["A1", "A2", "A9"]  # A9 is rated but has no metadata
    a1 = ds.items.set_index("item_id").loc["A1"]
    assert a1["title"] == "Reason" and a1["description"] == "Liberty and markets."
    assert a1["category_path"] == ["Magazine Subscriptions", "News & Politics"]
    assert a1["price"] == 12.99 and a1["brand"] == "Reason Foundation"  # publisher stands in for brand
    a2 = ds.items.set_index("item_id").loc["A2"]
    assert pd.isna(a2["title"]) and math.isnan(a2["price"]) and a2["brand"] == "Acme"
    assert ds.meta["also_buy"] == [["A1", "A2"]] and ds.items.set_index("item_id").loc["A1", "attributes"]["also_buy"] == ["A2", "ZZ"]
    assert ds.events["ts"].iloc[0] == pd.Timestamp(1005177600, unit="s")
    assert ds.events["rating"].tolist() == [5.0, 4.0, 1.0, 3.0]


def test_review_json_layout(tmp_path: Path) -> None:
    reviews = [{"asin": "A1", "reviewerID": "U1", "overall": 5.0, "unixReviewTime": 1005177600},
               {"asin": "A2", "reviewerID": "U2", "overall": 2.0, "unixReviewTime": 1005177700}]
    (tmp_path / "Tiny_5.json.gz").write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in reviews).encode()))
    write_meta(tmp_path)
    ds = load(tmp_path).validate()
    assert ds.meta["layout"] == "reviews-json" and ds.events["user_id"].tolist() == ["U1", "U2"]


def test_review_json_missing_field_and_wrong_type(tmp_path: Path) -> None:
    bad = '{"asin": "A1", "reviewerID": "U1", "overall": 5.0, "unixReviewTime": 1}\n{"asin": "A1", "overall": 4.0, "unixReviewTime": 2}\n'
    (tmp_path / "Tiny_5.json").write_text(bad)
    with pytest.raises(DataError, match=r"Tiny_5\.json, line 2, column 'reviewerID': expected a field 'reviewerID'"):
        load(tmp_path / "Tiny_5.json")
    bad = '{"asin": "A1", "reviewerID": "U1", "overall": 5.0, "unixReviewTime": 1}\n\n{"asin": "A1", "reviewerID": "U2", "overall": "great", "unixReviewTime": 2}\n'
    (tmp_path / "Tiny_5.json").write_text(bad)
    with pytest.raises(DataError, match=r"Tiny_5\.json, line 3, column 'overall': expected a number, found 'great'"):
        load(tmp_path / "Tiny_5.json")


def test_ratings_csv_wrong_type_and_range(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"Tiny\.csv, line 2, column 'rating': expected a number, found 'five'"):
        load(make(tmp_path, RATINGS.replace("U1,4.0", "U1,five")))
    with pytest.raises(DataError, match=r"Tiny\.csv, line 3, column 'rating': expected a rating between 0 and 5, found '9'"):
        load(make(tmp_path, RATINGS.replace("U2,1.0", "U2,9")))
    with pytest.raises(DataError, match=r"Tiny\.csv, line 1, column 'ts': expected an integer, found 'yesterday'"):
        load(make(tmp_path, RATINGS.replace("1005177600", "yesterday")))


def test_ratings_csv_missing_field(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"Tiny\.csv, line 1: expected 4 comma-separated fields"):
        load(make(tmp_path, "A1,U1,5.0\nA2,U1,4.0\n"))


def test_metadata_without_asin_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"meta_Tiny\.json\.gz, line 2, column 'asin': expected a non-empty asin"):
        load(make(tmp_path, records=[META[0], {"title": "No id"}]))


def test_truncated_gzip_metadata(tmp_path: Path) -> None:
    make(tmp_path)
    payload = gzip.compress("".join(json.dumps(r) + "\n" for r in META * 200).encode())
    write_meta(tmp_path, raw=payload[: len(payload) // 2])
    with pytest.raises(DataError, match=r"meta_Tiny\.json\.gz: expected a complete gzip stream"):
        load(tmp_path)


def test_metadata_line_that_is_not_json(tmp_path: Path) -> None:
    make(tmp_path)
    write_meta(tmp_path, raw=gzip.compress(b'{"asin": "A1"}\n{"asin": "A2", oops\n'))
    with pytest.raises(DataError, match=r"meta_Tiny\.json\.gz, line 2: expected one JSON object per line"):
        load(tmp_path)


def test_empty_files(tmp_path: Path) -> None:
    (tmp_path / "Tiny.csv").write_text("")
    with pytest.raises(DataError, match=r"Tiny\.csv: expected Amazon ratings .* with data, found an empty file"):
        load(tmp_path)
    (tmp_path / "Tiny.csv").write_text(RATINGS)
    write_meta(tmp_path, raw=gzip.compress(b""))
    with pytest.raises(DataError, match=r"meta_Tiny\.json\.gz: expected one JSON object per line, found no lines"):
        load(tmp_path)
    (tmp_path / "nothing_here").mkdir()
    with pytest.raises(DataError, match=r"nothing_here: expected a folder holding a ratings \.csv or reviews"):
        load(tmp_path / "nothing_here")


def test_title_and_price_parsing() -> None:
    assert clean_title("National Geographic &amp; Kids") == "National Geographic & Kids"
    assert clean_title('<span class="a-size-medium"') is None and clean_title("") is None
    assert parse_price("$1,012.50") == 1012.5 and parse_price("$5.00 - $9.00") == 5.0
    assert math.isnan(parse_price(".a-box-inner{color:red}")) and math.isnan(parse_price(""))
