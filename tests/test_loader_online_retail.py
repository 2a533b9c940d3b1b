"""Online Retail loader: the protocol's published counts on the real file, and bad files.

Real-data figures (docs/EVALUATION.md and data/README.md): 541,909 raw lines, 25,900
invoices, 4,372 customers; after cleaning 396,337 identified lines, 18,402 invoices,
4,334 customers and 3,659 items bought by identified customers.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from cartgraph.errors import DataError
from cartgraph.loaders import load as load_any
from cartgraph.loaders.online_retail import load

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
ROWS = [
    "536365,85123A,WHITE HANGING HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850.0,United Kingdom",
    "536366,85123a,WHITE HANGING HEART,2,12/1/2010 9:00,2.65,,United Kingdom",
    "C536367,71053,WHITE METAL LANTERN,-1,12/2/2010 9:00,3.39,17850.0,United Kingdom",
    "536368,POST,POSTAGE,1,12/2/2010 10:00,18.0,12583.0,France",
    "536368,gift_0001_10,Dotcomgiftshop Gift Voucher,1,12/2/2010 10:00,8.5,12583.0,France",
    "536368,m,Manual,1,12/2/2010 10:00,0.5,12583.0,France",
    "536368,85123A,nan,3,12/2/2010 10:00,2.95,12583.0,France",
    "536369,71053,WHITE METAL LANTERN,0,12/3/2010 10:00,3.39,12583.0,France",
    "536370,71053,WHITE METAL LANTERN,1,12/3/2010 11:00,0.0,12583.0,France",
    "536371,85123A,CREAM HANGING HEART,1,12/4/2010 11:00,2.55,13047.0,United Kingdom",
]


def write(tmp_path: Path, rows: list[str] = ROWS, header: str = HEADER, name: str = "retail.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + "".join(r + "\n" for r in rows))
    return path


def error_of(path: Path, **options) -> str:
    with pytest.raises(DataError) as info:
        load(path, **options)
    return str(info.value)


# --------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def retail(data_dir: Path):
    return load_any("online-retail", data_dir / "online-retail")


def test_protocol_counts_after_cleaning(retail) -> None:
    ident = retail.events[retail.events["user_id"].notna()]
    assert len(ident) == 396_337
    assert ident["basket_id"].nunique() == 18_402
    assert ident["user_id"].nunique() == 4_334 == retail.n_users
    assert ident["item_id"].nunique() == 3_659
    assert retail.meta["identified_rows"] == 396_337 and retail.meta["identified_items"] == 3_659
    assert (retail.events["quantity"] > 0).all() and (retail.events["price"] > 0).all()
    assert not retail.events["basket_id"].str.startswith("C").any()


def test_raw_counts_are_recorded_and_kept_without_cleaning(retail, data_dir: Path) -> None:
    raw = {"raw_rows": 541_909, "raw_invoices": 25_900, "raw_customers": 4_372}
    assert {k: retail.meta[k] for k in raw} == raw
    full = load(data_dir / "online-retail" / "Online_Retail.parquet", clean=False)
    assert {k: full.meta[k] for k in raw} == raw
    assert len(full.events) == 541_909 and full.events["basket_id"].nunique() == 25_900
    assert full.events["user_id"].nunique() == 4_372
    assert (full.events["quantity"] < 0).sum() > 0  # returns are kept


def test_user_ids_are_integers_as_text_and_anonymous_baskets_kept(retail) -> None:
    assert "17850" in set(retail.users["user_id"])
    anonymous = retail.events["user_id"].isna()
    assert anonymous.sum() == retail.meta["anonymous_rows"] > 100_000
    assert retail.events.loc[anonymous, "basket_id"].notna().all()


def test_lowercase_stock_codes_join_their_uppercase_items(retail) -> None:
    ids = set(retail.items["item_id"])
    assert "15056BL" in ids and "15056bl" not in ids
    assert all(code == code.upper() for code in ids)
    buyers = retail.items.set_index("item_id")["attributes"].map(lambda a: a["identified_buyers"])
    assert (buyers > 0).sum() == 3_659  # the protocol catalogue


def test_item_title_is_the_modal_description(retail) -> None:
    items = retail.items.set_index("item_id")
    assert items.loc["85123A", "title"] == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert items.loc["85123A", "price"] == pytest.approx(2.95)
    assert not (retail.items["title"].dropna() == "nan").any()
    # checked against a plain pandas count of the cleaned parquet rows
    assert items.loc["10002", "attributes"] == {"identified_buyers": 40, "invoices": 71, "countries": 7}


def test_identified_only_option(data_dir: Path) -> None:
    ds = load(data_dir / "online-retail", anonymous=False)
    assert len(ds.events) == 396_337 and ds.events["user_id"].notna().all() and ds.n_items == 3_659


# --------------------------------------------------------------------------- small files
def test_csv_layout_cleans_in_protocol_order(tmp_path: Path) -> None:
    ds = load(write(tmp_path)).validate()
    kept = ds.events
    assert list(kept["basket_id"]) == ["536365", "536365", "536366", "536368", "536371"]
    assert set(ds.items["item_id"]) == {"85123A", "71053"}  # 85123a merged, POST/gift_/m dropped
    assert kept["user_id"].fillna("-").tolist() == ["17850", "17850", "-", "12583", "13047"]
    assert kept["ts"].iloc[0] == pd.Timestamp("2010-12-01 08:26")
    assert ds.meta["raw_rows"] == len(ROWS) and ds.meta["identified_invoices"] == 3


def test_title_ties_break_alphabetically_and_nan_is_missing(tmp_path: Path) -> None:
    items = load(write(tmp_path)).items.set_index("item_id")
    # 85123A: "WHITE HANGING HEART" x2 beats "CREAM HANGING HEART" x1; "nan" is not counted
    assert items.loc["85123A", "title"] == "WHITE HANGING HEART"
    tie = ROWS[:1] + ["536399,85123A,ANOTHER HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom"]
    assert load(write(tmp_path, tie)).items.set_index("item_id").loc["85123A", "title"] == "ANOTHER HEART"
    only_nan = ["536399,85123A,nan,6,12/1/2010 8:26,2.55,17850.0,United Kingdom"]
    assert pd.isna(load(write(tmp_path, only_nan)).items["title"].iloc[0])


def test_median_price_and_no_cleaning(tmp_path: Path) -> None:
    ds = load(write(tmp_path), clean=False)
    assert len(ds.events) == len(ROWS)
    assert math.isclose(ds.items.set_index("item_id").loc["71053", "price"], 3.39)
    assert "POST" in set(ds.items["item_id"]) and (ds.events["quantity"] < 0).any()


def test_xlsx_layout(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    frame = pd.read_csv(write(tmp_path), dtype=str)
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    frame.to_excel(tmp_path / "Online Retail.xlsx", index=False)
    ds = load(tmp_path / "Online Retail.xlsx")
    assert len(ds.events) == 5 and ds.events["ts"].iloc[-1] == pd.Timestamp("2010-12-04 11:00")


def test_folder_without_known_file(tmp_path: Path) -> None:
    assert "Online_Retail.parquet" in error_of(tmp_path)


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, [r.rsplit(",", 1)[0] for r in ROWS], header=HEADER.replace(",Country", ""))
    with pytest.raises(DataError, match=r"retail\.csv, column 'Country': expected a column 'Country'"):
        load(path)


def test_wrong_type_names_line_and_column(tmp_path: Path) -> None:
    rows = ROWS[:2] + [ROWS[2].replace(",2,", ",two,")]
    with pytest.raises(DataError, match=r"retail\.csv, line 4, column 'Quantity': expected an integer, found 'two'"):
        load(write(tmp_path, rows))
    rows = ROWS[:1] + [ROWS[1].replace("3.39", "cheap")]
    with pytest.raises(DataError, match=r"line 3, column 'UnitPrice': expected a number, found 'cheap'"):
        load(write(tmp_path, rows))
    rows = ROWS[:1] + [ROWS[1].replace("17850.0", "17850.5")]
    with pytest.raises(DataError, match=r"line 3, column 'CustomerID': expected an integer customer id"):
        load(write(tmp_path, rows))
    rows = [ROWS[0].replace("12/1/2010 8:26", "someday")]
    with pytest.raises(DataError, match=r"line 2, column 'InvoiceDate': expected a date/time, found 'someday'"):
        load(write(tmp_path, rows))


def test_empty_stock_code_names_line(tmp_path: Path) -> None:
    rows = ROWS[:3] + [ROWS[3].replace(",71053,", ",,")]
    with pytest.raises(DataError, match=r"retail\.csv, line 5, column 'StockCode': expected a non-empty value"):
        load(write(tmp_path, rows))


def test_parquet_rows_are_one_based(tmp_path: Path) -> None:
    frame = pd.read_csv(write(tmp_path), dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": float})
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    frame.loc[2, "UnitPrice"] = float("nan")
    frame.to_parquet(tmp_path / "Online_Retail.parquet")
    with pytest.raises(DataError, match=r"Online_Retail\.parquet, row 3, column 'UnitPrice': expected a number"):
        load(tmp_path)


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    assert "empty.csv" in error_of(tmp_path / "empty.csv") and "an empty file" in error_of(tmp_path / "empty.csv")
    assert "only a header" in error_of(write(tmp_path, [], name="header.csv"))
