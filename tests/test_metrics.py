"""Ranking metrics against hand-computed values (EVALUATION.md conventions)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from cartgraph.errors import ConfigError
from cartgraph.evaluation.metrics import coverage, hit_matrix, ndcg, ranking_metrics, recall

# user 0: relevant {1, 4, 7}; list [4, 2, 7, 9]  -> hits at ranks 0 and 2
# user 1: relevant {3};       list [0, 1, 2, 3]  -> hit at rank 3
# user 2: relevant {5, 6};    list [8, -1, -1, -1] -> no hit (the -1 are "nothing")
ITEMS = np.array([[4, 2, 7, 9], [0, 1, 2, 3], [8, -1, -1, -1]])
RELEVANT = sp.csr_matrix(np.array([
    [0, 1, 0, 0, 1, 0, 0, 1, 0, 0],
    [0, 0, 0, 1, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 1, 1, 0, 0, 0],
]))
N_REL = np.array([3, 1, 2])


def test_hit_matrix():
    hits = hit_matrix(ITEMS, RELEVANT)
    assert hits.tolist() == [[True, False, True, False], [False, False, False, True], [False] * 4]


def test_recall_divides_by_all_relevant_items():
    hits = hit_matrix(ITEMS, RELEVANT)
    assert recall(hits, N_REL, 4).tolist() == pytest.approx([2 / 3, 1.0, 0.0])
    assert recall(hits, N_REL, 2).tolist() == pytest.approx([1 / 3, 0.0, 0.0])


def test_ndcg_ideal_over_min_relevant_and_k():
    hits = hit_matrix(ITEMS, RELEVANT)
    d = [1 / math.log2(r + 2) for r in range(4)]
    # user 0: DCG = d0 + d2; ideal over min(3, 4) = 3 positions
    expected0 = (d[0] + d[2]) / (d[0] + d[1] + d[2])
    # user 1: DCG = d3; ideal over 1 position
    expected1 = d[3] / d[0]
    assert ndcg(hits, N_REL, 4).tolist() == pytest.approx([expected0, expected1, 0.0])
    # at k=2 user 0's ideal is over min(3, 2) = 2 positions
    assert ndcg(hits, N_REL, 2)[0] == pytest.approx(d[0] / (d[0] + d[1]))


def test_hit_and_mrr():
    out = ranking_metrics(hit_matrix(ITEMS, RELEVANT), N_REL, (1, 4))
    assert out["hit@4"].tolist() == [1.0, 1.0, 0.0]
    assert out["hit@1"].tolist() == [1.0, 0.0, 0.0]
    assert out["mrr@4"].tolist() == pytest.approx([1.0, 0.25, 0.0])
    assert out["mrr@1"].tolist() == pytest.approx([1.0, 0.0, 0.0])


def test_coverage_counts_distinct_items_and_ignores_missing():
    assert coverage(ITEMS, 10, 4) == pytest.approx(8 / 10)  # {0, 1, 2, 3, 4, 7, 8, 9}
    assert coverage(ITEMS, 10, 1) == pytest.approx(3 / 10)  # {4, 0, 8}


def test_errors():
    hits = hit_matrix(ITEMS, RELEVANT)
    with pytest.raises(ConfigError, match="at least one relevant"):
        ranking_metrics(hits, np.array([1, 0, 2]), (2,))
    with pytest.raises(ConfigError, match="cut-off"):
        recall(hits, N_REL, 5)
