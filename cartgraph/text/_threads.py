"""Choosing the CPU thread count while encoding, from measured batch times.

Why not simply ``torch.get_num_threads()``: on a machine shared with other busy
processes, an OpenMP team that needs every core stalls at each barrier whenever one
core is taken by someone else. Measured on a 2-core shared box (a 32×8-token MiniLM
batch): 54 ms with 1 thread against 360–1000 ms with 2. On an idle box 2 threads are
the faster. So the encoder measures instead of guessing: it tries each candidate
count on a few batches, keeps the fastest (seconds per padded token, smoothed), and
re-tries the others now and then because the load changes. Results do not depend on
the choice (up to float rounding in the matrix products).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from collections.abc import Callable, Iterator

import torch

__all__ = ["ThreadTuner", "thread_candidates"]


def thread_candidates(n: int) -> list[int]:
    """``n``, ``n/2``, ``n/4`` and 1 (distinct, largest first): the counts worth trying."""
    out = sorted({max(1, n), max(1, n // 2), max(1, n // 4), 1}, reverse=True)
    return out


class ThreadTuner:
    """Per-batch thread-count choice by measurement (an explore-then-exploit loop).

    Args:
        candidates: thread counts to try (e.g. from :func:`thread_candidates`).
        probe_every: after the warm-up, every ``probe_every``-th batch runs one of
            the other candidates so that a change of load is noticed.
        smoothing: weight of a new measurement in the running estimate.
    """

    def __init__(self, candidates: list[int], probe_every: int = 40, smoothing: float = 0.3) -> None:
        self.candidates = list(candidates)
        self.probe_every = probe_every
        self.smoothing = smoothing
        self.cost: dict[int, float] = {}
        self._step = 0
        self._probe = 0

    def choose(self) -> int:
        """The thread count for the next batch."""
        self._step += 1
        untried = [c for c in self.candidates if c not in self.cost]
        if untried:
            return untried[0]
        best = min(self.cost, key=self.cost.__getitem__)
        if len(self.candidates) > 1 and self._step % self.probe_every == 0:
            others = [c for c in self.candidates if c != best]
            self._probe += 1
            return others[self._probe % len(others)]
        return best

    def record(self, threads: int, seconds: float, work: int) -> None:
        """Fold one batch's time (``work`` padded tokens) into the estimate for ``threads``."""
        per = seconds / max(1, work)
        old = self.cost.get(threads)
        self.cost[threads] = per if old is None else (1 - self.smoothing) * old + self.smoothing * per

    @contextmanager
    def run(self, work: int, prepare: Callable[[int], object] | None = None) -> Iterator[int]:
        """Run one batch under the chosen thread count, timing it; restores nothing.

        ``prepare(threads)``, if given, runs before the clock starts (e.g. creating a
        runtime session for that thread count, a one-time cost that is not the batch's).
        """
        threads = self.choose()
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if prepare is not None:
            prepare(threads)
        start = time.perf_counter()
        yield threads
        self.record(threads, time.perf_counter() - start, work)
