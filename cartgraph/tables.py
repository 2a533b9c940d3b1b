"""Normalising and validating the columnar tables of a dataset (see :mod:`cartgraph.schema`)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cartgraph.errors import DataError, described
from cartgraph.schema import EVENT_KINDS, SPLITS, TABLES, Column

__all__ = ["empty_table", "normalize_table", "validate_table"]


def empty_table(table: str) -> pd.DataFrame:
    """An empty, well-typed table."""
    return normalize_table(table, pd.DataFrame({c.name: [] for c in TABLES[table] if c.required}))


def _as_optstr(values: pd.Series) -> pd.Series:
    """Text or None, as an object column (``Series.map`` would infer pandas' ``str`` dtype and turn None into NaN)."""
    arr = values.to_numpy(dtype=object, na_value=None)
    if pd.api.types.infer_dtype(arr, skipna=True) not in ("string", "empty"):
        arr = np.array([v if isinstance(v, str) else (None if _missing(v) else str(v)) for v in arr], dtype=object)
    return pd.Series(arr, dtype=object, index=values.index)


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _as_list(value: object) -> list:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    return [str(value)]


def _normalize_column(col: Column, values: pd.Series) -> pd.Series:
    if col.kind == "str":
        return _as_optstr(values)
    if col.kind == "optstr":
        return _as_optstr(values)
    if col.kind == "float":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if col.kind == "datetime":
        return pd.to_datetime(values, errors="coerce").astype("datetime64[ns]")
    if col.kind == "list":
        return values.map(_as_list).astype(object)
    if col.kind == "dict":
        return values.map(lambda v: dict(v) if isinstance(v, dict) else {}).astype(object)
    if col.kind == "kind":
        raw = values.astype(object)
        bad = raw.notna() & ~raw.isin(EVENT_KINDS)
        if bad.any():  # a Categorical would silently turn them into NaN (and pandas 4 will refuse)
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError("events", f"one of {list(EVENT_KINDS)}", raw.iloc[i], row=i + 1, column="kind",
                            row_label="row")
        return pd.Categorical(raw, categories=list(EVENT_KINDS))
    if col.kind == "split":
        return pd.Categorical(values.astype(object).where(values.notna(), None), categories=list(SPLITS))
    raise AssertionError(col.kind)


def normalize_table(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with every schema column present and typed, in schema order.

    Missing optional columns get their default; extra columns are kept after the
    schema's. Values that cannot be converted become missing here and are reported by
    :func:`validate_table` (which compares against the raw values where it matters).
    """
    out = {}
    n = len(frame)
    for col in TABLES[table]:
        if col.name in frame.columns:
            raw = frame[col.name].reset_index(drop=True)
        else:
            default = col.default
            if col.kind == "list":
                raw = pd.Series([[] for _ in range(n)], dtype=object)
            elif col.kind == "dict":
                raw = pd.Series([{} for _ in range(n)], dtype=object)
            else:
                raw = pd.Series([default] * n, dtype=object)
        out[col.name] = _normalize_column(col, raw)
    result = pd.DataFrame(out)
    for extra in frame.columns:
        if extra not in result.columns:
            result[extra] = frame[extra].reset_index(drop=True)
    return result


def _fail(source: str, idx: int, column: str, expected: str, found: object) -> DataError:
    return DataError(source, expected, found, row=idx + 1, column=column, row_label="row")


def validate_table(table: str, frame: pd.DataFrame, source: str) -> None:
    """Check one normalised table against the schema; raise :class:`DataError` on the first bad row."""
    for col in TABLES[table]:
        if col.name not in frame.columns:
            raise DataError(source, f"a column {col.name!r}", described("no such column"), column=col.name)
        values = frame[col.name]
        if col.required:
            bad = values.isna() | values.map(lambda v: isinstance(v, str) and v == "")
            if col.kind == "list":
                bad = values.map(len) == 0
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                what = "a non-empty list of ids" if col.kind == "list" else "a non-empty id"
                raise _fail(source, i, col.name, what, values.iloc[i])
        if col.kind == "kind" and values.isna().any():
            i = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise _fail(source, i, col.name, f"one of {list(EVENT_KINDS)}", values.iloc[i])
        if col.kind == "float":
            finite = values.dropna()
            if np.isinf(finite.to_numpy()).any():
                i = int(np.flatnonzero(np.isinf(values.to_numpy()))[0])
                raise _fail(source, i, col.name, "a finite number", values.iloc[i])
    key = {"items": "item_id", "users": "user_id", "bundles": "bundle_id"}.get(table)
    if key is not None:
        dup = frame[key].duplicated()
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            raise _fail(source, i, key, "unique ids", frame[key].iloc[i])
