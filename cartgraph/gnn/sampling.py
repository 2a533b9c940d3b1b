"""Vectorised negative sampling for BPR training.

For a batch of positive pairs ``(u, i)`` draw items ``j`` uniformly and redraw, all at
once, those that the user has interacted with. Membership is tested with a binary
search over the sorted keys ``u * n_items + i`` of all training pairs: no Python loop
over users and no per-user sets.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["PairIndex", "sample_negatives"]


class PairIndex:
    """Sorted ``user * n_items + item`` keys of the training pairs, on a device.

    Args:
        users, items: int64 tensors of shape ``(nnz,)``.
        n_items: the item count (key stride).
    """

    def __init__(self, users: torch.Tensor, items: torch.Tensor, n_items: int) -> None:
        self.n_items = int(n_items)
        self.keys = torch.sort(users.long() * self.n_items + items.long()).values

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Bool tensor: whether each ``(users[k], items[k])`` is a training pair."""
        q = users.long() * self.n_items + items.long()
        pos = torch.searchsorted(self.keys, q).clamp_(max=len(self.keys) - 1)
        return self.keys[pos] == q


def sample_negatives(users: torch.Tensor, index: PairIndex, generator: torch.Generator,
                     max_rounds: int = 10) -> torch.Tensor:
    """One negative item per user of ``users`` (shape ``(b,)``), avoiding training pairs.

    After ``max_rounds`` redraws a few collisions may remain for users who own almost
    every item; they are left (a negligible bias, as in the reference implementations).
    """
    neg = torch.randint(0, index.n_items, users.shape, generator=generator, device=users.device)
    for _ in range(max_rounds):
        bad = index.contains(users, neg)
        n_bad = int(bad.sum()) if users.device.type == "cpu" else None
        if n_bad == 0:
            break
        redraw = torch.randint(0, index.n_items, users.shape, generator=generator, device=users.device)
        neg = torch.where(bad, redraw, neg)
    return neg
