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
        counts = torch.bincount(users.long()) if len(users) else torch.zeros(1, dtype=torch.long)
        self.max_density = float(counts.max()) / max(self.n_items, 1)
        """Largest share of the catalogue that one user owns (bounds the redraws needed)."""

    def rounds_needed(self, miss: float = 1e-6, cap: int = 10) -> int:
        """Redraw rounds after which a draw still hits an owned item with probability
        below ``miss`` for the densest user: ``d^(r+1) < miss``, at most ``cap``."""
        d = self.max_density
        if d <= 0:
            return 0
        if d >= 1:
            return cap
        return int(min(cap, max(1, np.ceil(np.log(miss) / np.log(d)) - 1)))

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Bool tensor: whether each ``(users[k], items[k])`` is a training pair."""
        q = users.long() * self.n_items + items.long()
        pos = torch.searchsorted(self.keys, q).clamp_(max=len(self.keys) - 1)
        return self.keys[pos] == q


def sample_negatives(users: torch.Tensor, index: PairIndex, generator: torch.Generator,
                     max_rounds: int | None = None) -> torch.Tensor:
    """One negative item per user of ``users`` (shape ``(b,)``), avoiding training pairs.

    ``max_rounds`` redraws (default :meth:`PairIndex.rounds_needed`: enough that even
    the densest user keeps a collision with probability < 1e-6, at most 10). On CUDA
    every round runs (no host synchronisation); on CPU it stops when none collide. A
    few collisions may remain for users who own almost every item; they are left (a
    negligible bias, as in the reference implementations).
    """
    if max_rounds is None:
        max_rounds = index.rounds_needed()
    neg = torch.randint(0, index.n_items, users.shape, generator=generator, device=users.device)
    for _ in range(max_rounds):
        bad = index.contains(users, neg)
        n_bad = int(bad.sum()) if users.device.type == "cpu" else None
        if n_bad == 0:
            break
        redraw = torch.randint(0, index.n_items, users.shape, generator=generator, device=users.device)
        neg = torch.where(bad, redraw, neg)
    return neg
