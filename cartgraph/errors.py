"""One root exception type and the errors users see.

Every error raised on purpose by cartgraph derives from :class:`CartgraphError`, so
callers (and the CLI) can tell a user mistake from a bug with a single ``except``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["CartgraphError", "DataError", "ConfigError", "NotFittedError", "ServiceError"]


class CartgraphError(Exception):
    """Root of every error cartgraph raises on purpose."""


class ConfigError(CartgraphError, ValueError):
    """An argument or setting has a value that cannot work (names the argument)."""


class NotFittedError(CartgraphError, RuntimeError):
    """A model was asked for results before :meth:`fit` was called."""


class ServiceError(CartgraphError, RuntimeError):
    """An external service (the Neo4j server) cannot be started or reached (CLI exit code 3)."""


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DataError(CartgraphError, ValueError):
    """Bad input data, located as precisely as the format allows.

    Args:
        source: the file (or table name) that holds the problem.
        expected: what a valid value or structure looks like.
        found: what was there instead (shown with ``repr``; ``None`` to omit).
        row: the 1-based line number for text files (the header is line 1) or the
            1-based row number for tables; ``None`` when the problem is file-wide.
        column: the column (or field) name, if any.
        row_label: ``"line"`` for text files, ``"row"`` for tables.
        hint: an optional sentence telling the user how to fix it.

    The message reads like ``orders.csv, line 12, column 'user_id': expected an
    integer, found 'abc'``.
    """

    def __init__(
        self,
        source: str | Path,
        expected: str,
        found: Any = None,
        *,
        row: int | None = None,
        column: str | None = None,
        row_label: str = "line",
        hint: str | None = None,
    ) -> None:
        self.source = str(source)
        self.expected = expected
        self.found = found
        self.row = row
        self.column = column
        self.hint = hint
        parts = [self.source]
        if row is not None:
            parts.append(f"{row_label} {row}")
        if column is not None:
            parts.append(f"column {column!r}")
        message = ", ".join(parts) + f": expected {expected}"
        if found is not None:
            message += f", found {found if isinstance(found, _Raw) else _short(found)}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class _Raw(str):
    """A ``found`` text shown as is, without ``repr`` quoting."""


def described(text: str) -> _Raw:
    """Mark a ``found`` value as prose ("no such column") rather than a value."""
    return _Raw(text)
