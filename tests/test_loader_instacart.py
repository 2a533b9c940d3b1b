"""Instacart loader: published counts on the real sample, the Kaggle layout and bad files.

Real figures (data/README.md, EVALUATION.md): 49,688 products, 134 aisles, 21
departments; the sample holds 593 users (592 once the truncated user 1246 is dropped)
and 15,183 orders; its catalogue of 14,190 products *includes* user 1246's products
(14,186 without them).
"""
from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from cartgraph.errors import DataError
from cartgraph.loaders import load as load_any
from cartgraph.loaders.instacart import EPOCH, SAMPLE_FILE, load

CATALOGUE = {
    "aisles.csv": "aisle_id,aisle\n1,coffee\n2,fresh fruits\n",
    "departments.csv": "department_id,department\n1,beverages\n2,produce\n",
    "products.csv": "product_id,product_name,aisle_id,department_id\n10,Dark Roast,1,1\n20,Banana,2,2\n30,Apple,2,2\n",
}
SAMPLE = (
    ",order_id,user_id,order_number,order_dow,order_hour_of_day,days_since_prior_order,product_id,add_to_cart_order,reordered\n"
    "0,100,7,1,2,8,,10,1.0,0.0\n"
    "1,100,7,1,2,8,,20,2.0,0.0\n"
    "2,101,7,2,3,6,0.0,20,1.0,1.0\n"
    "3,102,7,3,4,9,3.0,30,1.0,0.0\n"
    "4,200,9,1,1,10,,30,1.0,0.0\n"
)
KAGGLE = {
    "orders.csv": ("order_id,user_id,eval_set,order_number,order_dow,order_hour_of_day,days_since_prior_order\n"
                   "100,7,prior,1,2,8,\n101,7,prior,2,3,6,0.0\n102,7,train,3,4,9,3.0\n103,7,test,4,1,9,2.0\n"),
    "order_products__prior.csv": "order_id,product_id,add_to_cart_order,reordered\n100,10,1,0\n100,20,2,0\n101,20,1,1\n",
    "order_products__train.csv": "order_id,product_id,add_to_cart_order,reordered\n102,30,1,0\n",
}


def make(tmp_path: Path, files: dict[str, str | None]) -> Path:
    tmp_path.mkdir(exist_ok=True)
    for name, text in {**CATALOGUE, **files}.items():
        if text is not None:
            (tmp_path / name).write_text(text)
    return tmp_path


# --------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def instacart(data_dir: Path):
    return load_any("instacart", data_dir / "instacart")


def test_catalogue_counts(instacart) -> None:
    assert instacart.n_items == 49_688
    paths = instacart.items["category_path"]
    assert paths.map(len).eq(2).all()
    assert paths.map(lambda p: p[0]).nunique() == 21
    assert paths.map(lambda p: tuple(p)).nunique() == 134
    cookies = instacart.items.set_index("item_id").loc["1"]
    assert cookies["title"] == "Chocolate Sandwich Cookies" and cookies["category_path"] == ["snacks", "cookies cakes"]


def test_sample_counts_and_truncated_user(instacart, data_dir: Path) -> None:
    assert instacart.meta["raw_users"] == 593 and instacart.meta["raw_orders"] == 15_183
    assert instacart.n_users == 592 and instacart.meta["dropped_user"] == "1246"
    assert "1246" not in set(instacart.events["user_id"])
    assert instacart.events["basket_id"].nunique() == 15_183 - 14
    kept = load(data_dir / "instacart", drop_truncated_last_user=False)
    assert kept.n_users == 593 and kept.events["basket_id"].nunique() == 15_183 and len(kept.events) == 150_000


def test_sample_catalogue_includes_the_dropped_users_products(instacart) -> None:
    in_orders = instacart.items["attributes"].map(lambda a: a["in_orders"])
    assert in_orders.sum() == 14_190 == instacart.meta["catalogue_products"]
    assert instacart.events["item_id"].nunique() == 14_186  # without user 1246's lines


def test_timestamps_increase_with_order_number(instacart) -> None:
    orders = instacart.events.drop_duplicates("basket_id").sort_values(["user_id", "order_number"])
    gaps = orders.groupby("user_id")["ts"].diff().dropna()
    assert (gaps > pd.Timedelta(0)).all()
    assert orders.groupby("user_id")["ts"].min().min() >= EPOCH
    assert instacart.events["order_number"].dtype.kind == "i"


# --------------------------------------------------------------------------- small files
def test_sample_layout_on_small_files(tmp_path: Path) -> None:
    ds = load(make(tmp_path, {SAMPLE_FILE: SAMPLE})).validate()
    assert ds.meta["dropped_user"] == "9" and ds.n_users == 1
    ts = ds.events.drop_duplicates("basket_id").set_index("basket_id")["ts"]
    assert ts["100"] == EPOCH + pd.Timedelta(hours=8)
    assert ts["101"] == ts["100"] + pd.Timedelta(minutes=1)  # same day, earlier hour: moved after order 1
    assert ts["102"] == EPOCH + pd.Timedelta(days=3, hours=9)
    assert ds.items.set_index("item_id").loc["10", "category_path"] == ["beverages", "coffee"]
    assert ds.events["add_to_cart_order"].tolist() == [1, 2, 1, 1]


def test_kaggle_layout_on_small_files(tmp_path: Path) -> None:
    ds = load(make(tmp_path, KAGGLE), drop_truncated_last_user=True).validate()
    assert ds.meta["layout"] == "kaggle" and ds.meta["dropped_user"] is None
    assert sorted(ds.events["basket_id"].unique()) == ["100", "101", "102"]
    assert ds.events.set_index("basket_id")["eval_set"].to_dict() == {"100": "prior", "101": "prior", "102": "train"}
    assert ds.events["order_number"].tolist() == [1, 1, 2, 3]


def test_order_product_not_in_products_is_an_error(tmp_path: Path) -> None:
    bad = SAMPLE.replace("3,102,7,3,4,9,3.0,30,", "3,102,7,3,4,9,3.0,99,")
    with pytest.raises(DataError, match=rf"{SAMPLE_FILE}, line 5, column 'product_id': expected a product id listed in products\.csv, found 99"):
        load(make(tmp_path, {SAMPLE_FILE: bad}))
    kaggle = {**KAGGLE, "order_products__train.csv": "order_id,product_id,add_to_cart_order,reordered\n102,77,1,0\n"}
    with pytest.raises(DataError, match=r"order_products__train\.csv, line 2, column 'product_id'"):
        load(make(tmp_path / "kaggle", kaggle))


def test_order_line_of_unknown_order_is_an_error(tmp_path: Path) -> None:
    kaggle = {**KAGGLE, "order_products__prior.csv": "order_id,product_id,add_to_cart_order,reordered\n100,10,1,0\n555,20,1,0\n"}
    with pytest.raises(DataError, match=r"order_products__prior\.csv, line 3, column 'order_id': expected an id listed in orders\.csv"):
        load(make(tmp_path, kaggle))


def test_product_with_unknown_aisle_is_an_error(tmp_path: Path) -> None:
    products = CATALOGUE["products.csv"] + "40,Mystery,9,1\n"
    with pytest.raises(DataError, match=r"products\.csv, line 5, column 'aisle_id': expected an id listed in aisles\.csv, found 9"):
        load(make(tmp_path, {SAMPLE_FILE: SAMPLE, "products.csv": products}))


def test_missing_column_and_wrong_type(tmp_path: Path) -> None:
    no_hour = SAMPLE.replace("order_hour_of_day", "hour")
    with pytest.raises(DataError, match=rf"{SAMPLE_FILE}, column 'order_hour_of_day': expected a column"):
        load(make(tmp_path, {SAMPLE_FILE: no_hour}))
    bad = SAMPLE.replace("2,101,7,2,3,6,0.0", "2,101,7,2,3,6,soon")
    with pytest.raises(DataError, match=r"line 4, column 'days_since_prior_order': expected a number, found 'soon'"):
        load(make(tmp_path, {SAMPLE_FILE: bad}))
    bad = SAMPLE.replace("1,100,7,1,", "1,100,seven,1,")
    with pytest.raises(DataError, match=r"line 3, column 'user_id': expected an integer, found 'seven'"):
        load(make(tmp_path, {SAMPLE_FILE: bad}))


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"aisles\.csv: expected the Instacart file aisles\.csv, found no such file"):
        load(_without(tmp_path, "aisles.csv"))
    (tmp_path / "aisles.csv").write_text(CATALOGUE["aisles.csv"])
    (tmp_path / SAMPLE_FILE).write_text("")
    with pytest.raises(DataError, match=rf"{SAMPLE_FILE}: expected the Instacart order sample with data, found an empty file"):
        load(tmp_path)
    (tmp_path / SAMPLE_FILE).unlink()
    with pytest.raises(DataError, match=r"orders\.csv: expected the Instacart file orders\.csv"):
        load(tmp_path)


def test_truncated_gzip_orders_file(tmp_path: Path) -> None:
    make(tmp_path, {})
    (tmp_path / "orders.csv").write_text(KAGGLE["orders.csv"])
    payload = gzip.compress(KAGGLE["order_products__prior.csv"].encode() * 50)
    (tmp_path / "order_products__prior.csv.gz").write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DataError, match=r"order_products__prior\.csv\.gz: expected a complete gzip stream"):
        load(tmp_path)


def _without(tmp_path: Path, name: str) -> Path:
    make(tmp_path, {SAMPLE_FILE: SAMPLE})
    (tmp_path / name).unlink()
    return tmp_path
