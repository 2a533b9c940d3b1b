"""UCI Online Retail: invoice lines of a UK gift wholesaler, 2010-12-01..2011-12-09.

Format: one row per invoice line with the columns ``InvoiceNo, StockCode, Description,
Quantity, InvoiceDate, UnitPrice, CustomerID, Country``, either as
``Online_Retail.parquet`` (pass the file or its folder) or as the original UCI
spreadsheet (``.xlsx``) or a CSV export of it.

Mapping: each line is one ``purchase`` event (``basket_id`` = InvoiceNo, ``ts`` =
InvoiceDate, ``quantity``, ``price`` = UnitPrice, plus an extra ``country`` column);
items are StockCodes; ``users`` carries each customer's most frequent ``country``.

Traps handled:

* ``CustomerID`` is a float (``17850.0``) and missing on 135,080 rows. User ids become
  ``"17850"``; rows without one are anonymous baskets (``user_id`` None) kept only with
  ``anonymous=True``. The protocol lets them feed co-purchase statistics, never user
  evaluation.
* ``Description`` stores missing text as the string ``"nan"``: read as missing.
* Cleaning (``clean=True``, the order of docs/EVALUATION.md): drop cancellations
  (InvoiceNo starting with ``"C"``), Quantity ≤ 0, UnitPrice ≤ 0, and the non-product
  StockCodes (:data:`NON_PRODUCT_CODES` and codes starting with ``gift_``), all compared
  case-insensitively (the file also holds a lowercase ``"m"``).
* StockCode case: 117 codes occur in lowercase (``15056bl``) on 1,974 anonymous lines
  only; each is the same product as its uppercase twin (same description), so codes are
  upper-cased. This merges anonymous lines into the real items and changes none of the
  identified counts (3,659 items either way).
* An item's ``title`` is its most frequent non-missing description (ties: the
  alphabetically first), its ``price`` the median unit price of the kept lines.

``meta`` always holds the raw counts (``raw_rows``, ``raw_invoices``, ``raw_customers``)
and the counts after cleaning for identified customers (``identified_rows``,
``identified_invoices``, ``identified_customers``, ``identified_items`` — the protocol's
catalogue). ``items.attributes["identified_buyers"]`` is 0 for items that only anonymous
baskets bought (outside that catalogue).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cartgraph.dataset import Dataset
from cartgraph.errors import DataError, described
from cartgraph.schema import EVENT_KINDS
from cartgraph.loaders._io import check_columns, read_table_file, require_file, to_datetime, to_float, to_int

__all__ = ["load", "NON_PRODUCT_CODES", "COLUMNS"]

COLUMNS: list[str] = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                      "UnitPrice", "CustomerID", "Country"]
"""The columns every layout (parquet, xlsx, csv) must have."""

NON_PRODUCT_CODES: frozenset[str] = frozenset(
    {"POST", "D", "M", "DOT", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS", "C2", "S", "B"})
"""Postage, discounts, manual adjustments, fees: not products (compared upper-cased)."""

_FILE_NAMES = ("Online_Retail.parquet", "Online Retail.xlsx", "Online_Retail.xlsx", "Online_Retail.csv")


def _resolve(path: str | Path) -> Path:
    """The data file: ``path`` itself, or the first known file name inside folder ``path``."""
    p = Path(path).expanduser()
    if p.is_dir():
        for name in _FILE_NAMES:
            if (p / name).is_file():
                return require_file(p / name, "the Online Retail invoice lines")
        raise DataError(p, f"a folder holding one of {list(_FILE_NAMES)}", described("none of them"))
    return require_file(p, "the Online Retail invoice lines (.parquet, .xlsx or .csv)")


def _read(path: Path) -> pd.DataFrame:
    """Read any layout into a frame with the raw columns (text where the file is text)."""
    frame = read_table_file(path)
    if path.suffix == ".parquet" and len(frame) == 0:
        raise DataError(path, "at least one data row", described("no rows"))
    check_columns(frame, path, COLUMNS)
    return frame


def _text(frame: pd.DataFrame, column: str, path: Path, header: bool, *, required: bool) -> pd.Series:
    """Column as stripped text with missing (and the string "nan") as NA; vectorised for 0.5M rows."""
    raw = frame[column]
    text = raw.astype(pd.StringDtype(na_value=np.nan)).str.strip()
    text = text.mask(text.isin(["", "nan"]))
    if required and text.isna().any():
        i = int(np.flatnonzero(text.isna().to_numpy())[0])
        raise DataError(path, "a non-empty value", described("an empty value"), row=i + (2 if header else 1),
                        column=column, row_label="row" if path.suffix != ".csv" else "line")
    return text


def _number(frame: pd.DataFrame, column: str, path: Path, header: bool, *, allow_missing: bool) -> pd.Series:
    """Column as float64: parquet columns are typed already (fast path), text goes through ``to_float``."""
    raw = frame[column]
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.astype(np.float64)
        if not allow_missing and values.isna().any():
            i = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise DataError(path, "a number", described("an empty value"), row=i + (2 if header else 1),
                            column=column, row_label="row")
        return values
    return to_float(frame, column, path, header=header, allow_missing=allow_missing)


def _typed(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Check and convert every column; a bad value raises naming its line/row and column."""
    header = path.suffix != ".parquet"  # parquet rows are 1-based; csv/xlsx count the header line
    customer = _number(frame, "CustomerID", path, header, allow_missing=True)
    whole = customer.isna() | (customer == customer.round())
    if not whole.all():
        i = int(np.flatnonzero(~whole.to_numpy())[0])
        raise DataError(path, "an integer customer id (like 17850.0)", frame["CustomerID"].iloc[i],
                        row=i + (2 if header else 1), column="CustomerID",
                        row_label="line" if path.suffix == ".csv" else "row")
    codes, uniques = pd.factorize(customer)  # NaN → code -1 (missing)
    user = pd.Categorical.from_codes(codes, categories=[str(int(u)) for u in uniques])
    return pd.DataFrame({  # ids as categoricals: 0.5M rows, a few thousand distinct values
        "invoice": _text(frame, "InvoiceNo", path, header, required=True).astype("category"),
        "code": _text(frame, "StockCode", path, header, required=True).str.upper().astype("category"),
        "description": _text(frame, "Description", path, header, required=False),
        "quantity": _quantity(frame, path, header),
        "ts": _datetime(frame, path, header),
        "price": _number(frame, "UnitPrice", path, header, allow_missing=False),
        "user": user,
        "country": _text(frame, "Country", path, header, required=False).astype("category"),
    })


def _quantity(frame: pd.DataFrame, path: Path, header: bool) -> pd.Series:
    """Quantity as float64 after checking it holds whole numbers."""
    if pd.api.types.is_integer_dtype(frame["Quantity"].dtype):
        return _number(frame, "Quantity", path, header, allow_missing=False)
    return to_int(frame, "Quantity", path, header=header).astype(np.float64)


def _datetime(frame: pd.DataFrame, path: Path, header: bool) -> pd.Series:
    """InvoiceDate as datetime64 (already typed in parquet, text like ``12/1/2010 8:26`` in CSV)."""
    if pd.api.types.is_datetime64_any_dtype(frame["InvoiceDate"]):
        ts = frame["InvoiceDate"]
        if ts.isna().any():
            i = int(np.flatnonzero(ts.isna().to_numpy())[0])
            raise DataError(path, "a date/time", described("an empty value"), row=i + (2 if header else 1),
                            column="InvoiceDate", row_label="row")
        return ts.astype("datetime64[ns]")
    return to_datetime(frame, "InvoiceDate", path, header=header)


def _per_category(values: pd.Series, test) -> np.ndarray:
    """Evaluate ``test`` (Series of str → bool) once per category of a categorical column."""
    flags = np.append(np.asarray(test(pd.Series(values.cat.categories, dtype=object).str), dtype=bool), False)
    return flags[values.cat.codes.to_numpy()]  # code -1 (missing) picks the trailing False


def _clean_mask(lines: pd.DataFrame) -> np.ndarray:
    """True for lines the protocol keeps (see module docstring); applied in the protocol's order."""
    keep = ~_per_category(lines["invoice"], lambda s: s.upper().str.startswith("C"))
    keep &= (lines["quantity"] > 0).to_numpy()
    keep &= (lines["price"] > 0).to_numpy()
    keep &= ~_per_category(lines["code"], lambda s: s.upper().isin(NON_PRODUCT_CODES) | s.startswith("GIFT_"))
    return keep


def _items(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per StockCode: modal description as title, median price, buyer counts."""
    desc = lines.loc[lines["description"].notna(), ["code", "description"]]
    desc = desc.assign(code=desc["code"].astype(object))
    counts = desc.groupby(["code", "description"], observed=True).size().rename("n").reset_index()
    counts = counts.sort_values(["code", "n", "description"], ascending=[True, False, True])
    title = counts.drop_duplicates("code").set_index("code")["description"]
    grouped = lines.groupby("code", sort=True, observed=True)
    items = pd.DataFrame({"price": grouped["price"].median()})
    items["title"] = title.reindex(items.index).astype(object)
    items["title"] = items["title"].where(items["title"].notna(), None)
    buyers = grouped["user"].nunique()
    invoices = grouped["invoice"].nunique()
    countries = grouped["country"].nunique()
    items["attributes"] = [
        {"identified_buyers": int(b), "invoices": int(n), "countries": int(c)}
        for b, n, c in zip(buyers.to_numpy(), invoices.to_numpy(), countries.to_numpy())]
    items.index = items.index.astype(object)
    return items.rename_axis("item_id").reset_index()


def _users(lines: pd.DataFrame) -> pd.DataFrame:
    """Identified customers with their most frequent country (ties: alphabetically first)."""
    known = lines.loc[lines["user"].notna() & lines["country"].notna(), ["user", "country"]]
    counts = known.astype(object).groupby(["user", "country"]).size().rename("n").reset_index()
    counts = counts.sort_values(["user", "n", "country"], ascending=[True, False, True]).drop_duplicates("user")
    return pd.DataFrame({"user_id": counts["user"].to_numpy(dtype=object),
                         "country": counts["country"].to_numpy(dtype=object)})


def _objects(values: pd.Series) -> pd.Series:
    """A categorical column as an object array of str with None for missing (fast for 0.5M rows)."""
    table = np.append(np.asarray(values.cat.categories, dtype=object), None)
    return pd.Series(table[values.cat.codes.to_numpy()], dtype=object)  # object: no costly str inference  # code -1 (missing) picks the trailing None


def _events(lines: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": _objects(lines["user"]),
        "item_id": _objects(lines["code"]),
        "kind": pd.Categorical.from_codes(np.full(len(lines), EVENT_KINDS.index("purchase"), dtype=np.int8), categories=list(EVENT_KINDS)),
        "ts": lines["ts"].to_numpy(),
        "basket_id": _objects(lines["invoice"]),
        "quantity": lines["quantity"].to_numpy(),
        "price": lines["price"].to_numpy(),
        "country": lines["country"].cat.remove_unused_categories().array,
    })


def _counts(lines: pd.DataFrame, prefix: str) -> dict[str, int]:
    return {f"{prefix}_rows": int(len(lines)), f"{prefix}_invoices": int(lines["invoice"].nunique()),
            f"{prefix}_customers": int(lines["user"].nunique()), f"{prefix}_items": int(lines["code"].nunique())}


def load(path: str | Path, *, clean: bool = True, anonymous: bool = True) -> Dataset:
    """Read Online Retail into a :class:`Dataset` (``name="online-retail"``).

    Args:
        path: ``Online_Retail.parquet`` / ``.xlsx`` / ``.csv``, or the folder holding it.
        clean: apply the protocol's cleaning (default True). With False every line is
            kept, returns (negative quantities) and cancellations included.
        anonymous: keep lines without CustomerID as events with ``user_id`` None
            (default True); False drops them.

    Raises:
        DataError: missing file or column, or a value of the wrong type, naming the
            file, the line (row for parquet/xlsx) and the column.
    """
    file = _resolve(path)
    lines = _typed(_read(file), file)
    meta = {"source_files": [str(file)], "clean": clean, "anonymous": anonymous, **_counts(lines, "raw")}
    meta.pop("raw_items")
    if clean:
        lines = lines[_clean_mask(lines)]
    identified = lines[lines["user"].notna()]
    meta.update(_counts(identified, "identified"))
    if not anonymous:
        lines = identified
    meta["anonymous_rows"] = int(lines["user"].isna().sum())
    return Dataset(items=_items(lines), users=_users(lines), events=_events(lines),
                   name="online-retail", meta=meta)
