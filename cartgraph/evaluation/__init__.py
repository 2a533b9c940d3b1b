"""Evaluation protocols of EVALUATION.md: splits, exact top-k, ranking metrics, harness.

Typical use::

    from cartgraph.evaluation import splits, fit_and_evaluate
    split = splits.online_retail(ds, stage="test", mode="new")
    fit_and_evaluate(model, split, ks=(20,))   # {"recall@20": ..., "ndcg@20": ..., "n_users": 1449}
"""
from cartgraph.evaluation import splits
from cartgraph.evaluation.harness import evaluate, fit_and_evaluate
from cartgraph.evaluation.metrics import coverage, hit_matrix, ranking_metrics
from cartgraph.evaluation.protocol import RecommenderModel
from cartgraph.evaluation.splits import Split
from cartgraph.evaluation.topk import topk

__all__ = [
    "RecommenderModel",
    "Split",
    "coverage",
    "evaluate",
    "fit_and_evaluate",
    "hit_matrix",
    "ranking_metrics",
    "splits",
    "topk",
]
