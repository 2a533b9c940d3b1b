"""Shared fixtures.

Tests that need the real datasets take the ``data_dir`` fixture: it is the folder
named by ``$CARTGRAPH_DATA_DIR``. Without that variable those tests are skipped
locally; CI (``.ci/run``) sets it, and there a missing dataset is an error, not a skip.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest


def _data_root() -> Path | None:
    value = os.environ.get("CARTGRAPH_DATA_DIR")
    return Path(value) if value else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real-data folder; skips only when CARTGRAPH_DATA_DIR is unset."""
    root = _data_root()
    if root is None:
        pytest.skip("CARTGRAPH_DATA_DIR is not set (CI sets it; tests on real data run there)")
    if not root.is_dir():
        raise FileNotFoundError(f"CARTGRAPH_DATA_DIR={root} is not a folder")
    return root


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny graphs train fastest on one torch thread; a 2-thread team stalls on a shared
    2-core box. Use with ``pytestmark = pytest.mark.usefixtures("torch_one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
