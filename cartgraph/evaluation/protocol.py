"""The contract every recommender of the project implements.

The evaluation harness calls nothing but :meth:`RecommenderModel.fit` and
:meth:`RecommenderModel.recommend`, so baselines, LightGCN and the text-aware GNNs
all plug into the same :func:`~cartgraph.evaluation.harness.evaluate`.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike

from cartgraph.dataset import Dataset

__all__ = ["RecommenderModel"]


@runtime_checkable
class RecommenderModel(Protocol):
    """A model that learns from a :class:`Dataset` and ranks items for users.

    Indices are those of the fitted dataset: users of ``dataset.user_vocab``, items
    of ``dataset.item_vocab``. Constructors store settings only; learned state ends
    in ``_``; :class:`~cartgraph.errors.NotFittedError` before :meth:`fit`.
    """

    def fit(self, dataset: Dataset) -> "RecommenderModel":
        """Learn from the events of ``dataset`` (e.g. ``dataset.interactions()``); return ``self``."""
        ...

    def recommend(self, users: ArrayLike, k: int = 10,
                  exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best items for each user, best first.

        Args:
            users: user indices, shape ``(n_users,)``; a scalar gives 1-D outputs.
            k: list length.
            exclude_seen: mask the items of the user's fitted interactions.

        Returns:
            ``(items, scores)``: int64 item indices and float32 scores, shape
            ``(n_users, k)``. Ties at the cut-off go to the lower item index
            (use :func:`cartgraph.evaluation.topk.topk`); masked items score ``-inf``
            and only appear when fewer than ``k`` items remain.
        """
        ...
