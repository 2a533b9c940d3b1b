"""Shared output helpers for CLI commands: JSON or a readable table."""
from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["emit_json", "print_table", "add_json_flag"]


def add_json_flag(parser) -> None:
    """Add the common ``--json`` flag (machine-readable output on stdout)."""
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def emit_json(obj: Any) -> None:
    """Print ``obj`` as one JSON line on stdout."""
    json.dump(obj, sys.stdout, default=str)
    sys.stdout.write("\n")


def print_table(rows: Sequence[Sequence[Any]], header: Sequence[str], title: str | None = None) -> None:
    """Print rows as an aligned plain-text table (floats with 4 decimals)."""
    def fmt(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    if title:
        print(title)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
