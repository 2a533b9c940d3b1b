"""Reading raw files with errors that name the file, the line and the column.

Every loader goes through these helpers, so a missing column, a wrong type, an empty
or truncated file all fail the same clear way (a :class:`~cartgraph.errors.DataError`).
Line numbers are 1-based file lines: with a header, the first data row is line 2.
"""
from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartgraph.errors import DataError, described

__all__ = [
    "require_file", "require_dir", "read_table_file", "check_columns", "to_int", "to_float", "to_number",
    "to_datetime", "to_str", "read_json_lines", "open_text", "line_of",
]


def require_dir(path: str | Path, what: str) -> Path:
    """``path`` as a folder that exists, else a DataError saying what should be there."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise DataError(p, f"a folder holding {what}", described("no such folder" if not p.exists() else "not a folder"))
    return p


def require_file(path: str | Path, what: str = "a data file") -> Path:
    """``path`` as an existing, non-empty file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(p, what, described("no such file" if not p.exists() else "not a file"))
    if p.stat().st_size == 0:
        raise DataError(p, f"{what} with data", described("an empty file"))
    return p


def open_text(path: Path) -> io.TextIOBase:
    """Open a text file, transparently gunzipping ``*.gz``; undecodable bytes are replaced."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace", newline="")


def _gzip_error(path: Path, exc: Exception) -> DataError:
    return DataError(path, "a complete gzip stream", described(f"a truncated or corrupt file ({exc})"))


def read_table_file(path: Path, *, sep: str = ",", header: bool = True, names: list[str] | None = None,
                    usecols: list[str] | None = None, sheet: bool = False) -> pd.DataFrame:
    """Read CSV/TSV (optionally gzipped), Parquet or xlsx with every column as text.

    Blank lines are kept as empty rows so that reported line numbers match the file.
    """
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix in (".xlsx", ".xls") or sheet:
            frame = pd.read_excel(path, dtype=str)
        else:
            frame = pd.read_csv(path, sep=sep, header=0 if header else None, names=names, dtype=str,
                                keep_default_na=False, na_values=[""], skip_blank_lines=False,
                                compression="infer", engine="c")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise _gzip_error(path, exc) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(path, "a header and data rows", described("an empty file")) from exc
    except pd.errors.ParserError as exc:
        raise DataError(path, f"a well-formed {'tab' if sep == chr(9) else 'comma'}-separated file", described(str(exc))) from exc
    except UnicodeDecodeError as exc:
        raise DataError(path, "UTF-8 text", described(f"undecodable bytes at offset {exc.start}")) from exc
    if len(frame) == 0:
        raise DataError(path, "at least one data row", described("only a header" if header else "no rows"))
    if usecols is not None:
        check_columns(frame, path, usecols)
    return frame


def check_columns(frame: pd.DataFrame, path: Path, required: list[str]) -> None:
    """Raise naming the first required column that ``frame`` lacks, and the ones it has."""
    for col in required:
        if col not in frame.columns:
            have = ", ".join(map(repr, list(frame.columns)[:12]))
            raise DataError(path, f"a column {col!r}", described(f"columns {have}"), column=col)


def line_of(frame: pd.DataFrame, position: int, header: bool = True) -> int:
    """1-based file line of data row ``position`` (0-based) of a frame read by :func:`read_table_file`."""
    return position + (2 if header else 1)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _row_label(path: Path) -> str:
    return "row" if path.suffix in (".parquet", ".xlsx", ".xls") else "line"


def to_int(frame: pd.DataFrame, column: str, path: Path, *, header: bool = True, allow_missing: bool = False) -> pd.Series:
    """Column as int64 (or nullable Int64 with ``allow_missing``); bad values raise with their line."""
    raw = frame[column]
    num = pd.to_numeric(raw, errors="coerce")
    bad = (num.isna() & raw.notna()) | (num.notna() & (num != num.round()))
    if not allow_missing:
        bad |= raw.isna()
    if bad.any():
        i = _first_bad(bad.to_numpy())
        raise DataError(path, "an integer", raw.iloc[i] if not pd.isna(raw.iloc[i]) else described("an empty value"),
                        row=line_of(frame, i, header), column=column, row_label=_row_label(path))
    return num.astype("Int64") if allow_missing else num.astype(np.int64)


def to_float(frame: pd.DataFrame, column: str, path: Path, *, header: bool = True, allow_missing: bool = True) -> pd.Series:
    """Column as float64 (missing → NaN when allowed); non-numbers raise with their line."""
    raw = frame[column]
    text = raw.astype(object).where(raw.notna(), None)
    if text.map(lambda v: isinstance(v, str)).any():
        text = text.map(lambda v: v.strip().lstrip("$£€").replace(",", "") if isinstance(v, str) else v)
    num = pd.to_numeric(text, errors="coerce")
    bad = num.isna() & raw.notna()
    if not allow_missing:
        bad |= raw.isna()
    if bad.any():
        i = _first_bad(bad.to_numpy())
        raise DataError(path, "a number", raw.iloc[i] if not pd.isna(raw.iloc[i]) else described("an empty value"),
                        row=line_of(frame, i, header), column=column, row_label=_row_label(path))
    return num.astype(np.float64)


def to_number(frame: pd.DataFrame, column: str, path: Path, *, integer: bool = False, header: bool = True,
              allow_missing: bool = False) -> pd.Series:
    """Fast :func:`to_int` / :func:`to_float` for large clean columns (one vectorised cast).

    When the cast fails, or finds a fraction where an integer is due or a missing value
    that is not allowed, it falls back to the slow helper, which raises naming the line.
    Returns int64 (nullable Int64 when ``integer`` and ``allow_missing``) or float64.
    """
    try:
        values = frame[column].astype(np.float64)
    except (ValueError, TypeError):
        values = None
    if values is not None:
        missing = values.isna()
        ok = allow_missing or not missing.any()
        if integer:
            ok = ok and bool((values[~missing] == np.round(values[~missing])).all())
        if ok:
            if not integer:
                return values
            return values.astype("Int64") if allow_missing else values.astype(np.int64)
    if integer:
        return to_int(frame, column, path, header=header, allow_missing=allow_missing)
    return to_float(frame, column, path, header=header, allow_missing=allow_missing)


def to_datetime(frame: pd.DataFrame, column: str, path: Path, *, unit: str | None = None,
                header: bool = True, allow_missing: bool = False) -> pd.Series:
    """Column as datetime64[ns]; ``unit="s"`` reads unix seconds. Bad values raise with their line."""
    raw = frame[column]
    if unit is not None:
        secs = to_float(frame, column, path, header=header, allow_missing=allow_missing)
        return pd.to_datetime(secs, unit=unit, errors="coerce").astype("datetime64[ns]")
    ts = pd.to_datetime(raw, errors="coerce")
    bad = ts.isna() & raw.notna()
    if not allow_missing:
        bad |= raw.isna()
    if bad.any():
        i = _first_bad(bad.to_numpy())
        raise DataError(path, "a date/time", raw.iloc[i] if not pd.isna(raw.iloc[i]) else described("an empty value"),
                        row=line_of(frame, i, header), column=column, row_label=_row_label(path))
    return ts.astype("datetime64[ns]")


def to_str(frame: pd.DataFrame, column: str, path: Path, *, header: bool = True, allow_missing: bool = False) -> pd.Series:
    """Column as stripped text; empty values raise with their line unless allowed (then None)."""
    raw = frame[column].astype(object)
    out = raw.map(lambda v: (str(v).strip() or None) if v is not None and v == v else None)
    if not allow_missing and out.isna().any():
        i = _first_bad(out.isna().to_numpy())
        raise DataError(path, "a non-empty value", described("an empty value"), row=line_of(frame, i, header),
                        column=column, row_label=_row_label(path))
    return out


def read_json_lines(path: Path, *, parser=json.loads) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a (gzipped) JSON-lines file.

    Args:
        parser: ``json.loads`` by default; ``ast.literal_eval`` for Python-literal files.
    """
    try:
        with open_text(path) as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = parser(line)
                except (ValueError, SyntaxError) as exc:
                    raise DataError(path, "one JSON object per line", line.strip()[:60] + " ...", row=number) from exc
                if not isinstance(obj, dict):
                    raise DataError(path, "an object ({...}) per line", type(obj).__name__, row=number)
                yield number, obj
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise _gzip_error(path, exc) from exc
