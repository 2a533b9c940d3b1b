"""The shared top-k: exact, best first, ties at the cut-off to the lower index."""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from cartgraph.errors import ConfigError
from cartgraph.evaluation.topk import topk


def _reference(row: np.ndarray, k: int) -> list[int]:
    clean = np.where(np.isnan(row), -np.inf, row)
    return sorted(range(len(row)), key=lambda j: (-clean[j], j))[:k]


def test_ties_at_cutoff_go_to_lower_index():
    scores = np.array([[1.0, 3.0, 2.0, 2.0, 2.0, 0.5]])
    idx, vals = topk(scores, 3)
    assert idx.tolist() == [[1, 2, 3]]
    assert vals.tolist() == [[3.0, 2.0, 2.0]]


def test_all_equal_row_returns_first_indices():
    idx, _ = topk(np.zeros((2, 10)), 4)
    assert idx.tolist() == [[0, 1, 2, 3]] * 2


def test_masked_entries_never_ahead_of_finite_ones():
    scores = np.array([[-np.inf, -5.0, -np.inf, np.nan, -7.0]])
    idx, vals = topk(scores, 4)
    assert idx.tolist() == [[1, 4, 0, 2]]
    assert np.isneginf(vals[0, 2:]).all()


def test_k_larger_than_m_is_clipped_and_1d_input():
    idx, vals = topk(np.array([0.2, 0.9, 0.5]), 10)
    assert idx.tolist() == [1, 2, 0] and vals.shape == (3,)


def test_matches_brute_force_on_random_ties():
    rng = np.random.default_rng(7)
    for _ in range(300):
        n, m = int(rng.integers(1, 6)), int(rng.integers(1, 40))
        k = int(rng.integers(1, 45))
        scores = np.floor(rng.random((n, m)) * 4)
        scores[rng.random((n, m)) < 0.25] = -np.inf
        idx, vals = topk(scores, k)
        for i in range(n):
            assert idx[i].tolist() == _reference(scores[i], k)
            assert np.array_equal(vals[i], scores[i, idx[i]])


def test_chunked_rows_agree_with_unchunked(monkeypatch):
    module = importlib.import_module("cartgraph.evaluation.topk")  # the package re-exports the function

    rng = np.random.default_rng(1)
    scores = np.round(rng.random((50, 30)), 1)
    expected = topk(scores, 5)
    monkeypatch.setattr(module, "_CHUNK_ELEMENTS", 64)
    got = topk(scores, 5)
    assert np.array_equal(expected[0], got[0]) and np.array_equal(expected[1], got[1])


def test_dtypes_and_bad_arguments():
    idx, vals = topk(np.ones((2, 3), dtype=np.float32), 2)
    assert idx.dtype == np.int64 and vals.dtype == np.float32
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        topk(np.ones((2, 3)), 0)
    with pytest.raises(ConfigError, match="1-D or 2-D"):
        topk(np.ones((2, 3, 4)), 1)


def test_topk_torch_matches_topk_with_ties_masks_and_nan():
    torch = pytest.importorskip("torch")
    from cartgraph.evaluation.topk import topk_torch

    rng = np.random.default_rng(3)
    for trial in range(60):
        n, m = int(rng.integers(1, 20)), int(rng.integers(1, 40))
        s = rng.integers(0, 4, (n, m)).astype(np.float32)  # many ties at every cut-off
        s[rng.random((n, m)) < 0.3] = -np.inf
        s[0, 0] = np.nan if trial % 4 == 0 else s[0, 0]
        k = int(rng.integers(1, m + 3))
        want, got = topk(s, k), topk_torch(torch.from_numpy(s), k)
        assert np.array_equal(want[0], got[0]), trial
        assert np.array_equal(want[1].astype(np.float32), got[1]), trial
    with pytest.raises(ConfigError, match="2-D"):
        topk_torch(torch.ones(3), 1)


def test_mostly_zero_and_dense_rows_mixed_in_one_call_match_a_full_sort():
    """Sparse-score rows (mostly 0, the fast negated path) and dense rows in one batch give
    exactly the stable full sort's answer, ties at the cut-off by lower index."""
    rng = np.random.default_rng(3)
    m, k = 500, 12
    dense = rng.integers(0, 6, size=(4, m)).astype(np.float64)  # many ties, few zeros
    dense[dense == 0] = 7.0
    sparse = np.zeros((4, m))
    for row in sparse:
        row[rng.choice(m, 20, replace=False)] = rng.integers(1, 4, 20)
    sparse[0, :] = 0.0
    sparse[1, rng.choice(m, 5, replace=False)] = -np.inf
    s = np.vstack([dense[:2], sparse[:2], dense[2:], sparse[2:]])
    idx, vals = topk(s, k)
    want = np.argsort(-s, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_array_equal(vals, np.take_along_axis(s, want, axis=1))
