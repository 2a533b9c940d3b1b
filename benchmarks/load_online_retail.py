"""Time loading the full Online Retail file (cleaned, validated): median of 5 runs.

Usage: ``CARTGRAPH_DATA_DIR=../shared/data python benchmarks/load_online_retail.py``.
The budget is 5 s per load. The last line printed is one JSON object.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

from cartgraph.loaders import load

BUDGET_S = 5.0
RUNS = 5


def time_load(folder: Path) -> float:
    """Seconds for one ``load("online-retail", folder)`` (read, clean, build, validate)."""
    start = time.perf_counter()
    load("online-retail", folder)
    return time.perf_counter() - start


def main() -> int:
    root = os.environ.get("CARTGRAPH_DATA_DIR")
    if not root:
        print("set CARTGRAPH_DATA_DIR to the shared data folder", file=sys.stderr)
        return 2
    folder = Path(root) / "online-retail"
    runs = [time_load(folder) for _ in range(RUNS)]
    median = statistics.median(runs)
    print(json.dumps({"load_s_median": round(median, 3), "runs_s": [round(r, 3) for r in runs],
                      "budget_s": BUDGET_S, "within_budget": median < BUDGET_S}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
