"""Learned COMPLEMENTS edges from graph pair features: :class:`ComplementRanker`.

Two stages over the item graph (baskets, bundles, text vectors, leaf categories):

1. *Fixed message passing* (:class:`~cartgraph.gnn.complement_features.ComplementView`)
   lists, for each anchor item, up to ``W`` candidate partners (co-purchased, two hops away,
   bought with the anchor's look-alikes, popular in the leaves bought with the anchor's
   leaf, and the look-alikes themselves) with 14 features each.
2. A *learned scorer* (:class:`~cartgraph.gnn.listwise.PairScorer`) ranks each anchor's
   list, trained with a softmax against what was bought together *next*: each holdout
   (:mod:`cartgraph.gnn.complement_holdout`: the latest baskets, each user's last bundle)
   builds the view from the rest and labels ``(a, b)`` by how many held-out groups hold
   both. Look-alike candidates that were not bought together are the negatives that
   separate complements from substitutes. Early stopping on precision@10 of a held-out
   share of the anchors; the scorer starts from the candidates' co-purchase order, so an
   untrained (or early-stopped at 0) model lists exactly the raw-count partners.

Serving builds the view from all of the data and keeps each item's scored list.

Example::

    model = ComplementRanker(seed=0).fit(dataset, item_vectors=vectors)
    idx, scores = model.complements([3, 17], k=10)       # (2, 10) each
    model.write(store, m=10)                              # COMPLEMENTS, model=model.name
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.typing import ArrayLike

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, NotFittedError
from cartgraph.evaluation.topk import topk
from cartgraph.gnn.complement_edges import ComplementEdges
from cartgraph.gnn.complement_features import FEATURES, ComplementView
from cartgraph.gnn.complement_holdout import BasketHoldout, default_holdouts
from cartgraph.gnn.complement_pairs import group_matrix
from cartgraph.gnn.item_features import text_features
from cartgraph.gnn.listwise import PairScorer, scale, standardise, start_sharpness, train_listwise
from cartgraph.gnn.state_file import save_state
from cartgraph.gnn.trainer import TrainHistory

__all__ = ["ComplementRanker"]

_FORMAT = "cartgraph-complement-ranker"
_STAT_ANCHORS = 3000


@dataclasses.dataclass
class _Lists:
    """Candidate lists of some anchors: ``z (n, W, F)``, ``y``/``mask (n, W)``, ``groups (n,)``
    (held-out groups holding the anchor)."""

    z: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    groups: np.ndarray


class ComplementRanker(ComplementEdges):
    """Directed complementarity ``s(a → b)`` from graph pair features and a learned scorer.

    Args:
        bundle_weight: one shared bundle counts as this many shared baskets (default 2).
        text_k: look-alikes per item (text neighbours; default 10).
        hidden: width of the scorer's hidden layer.
        epochs: maximum passes over the training anchors (0: the raw co-purchase order).
        lr, weight_decay: Adam's. batch_anchors: anchors per step.
        eval_every, patience: validate every this many epochs, stop after ``patience``
            checks without improvement (validation also runs before training).
        valid_fraction: share of the holdouts' anchors kept for early stopping.
        holdout_fraction, n_rolling: the default holdouts hold out the latest
            ``holdout_fraction`` of the baskets, rolled back ``n_rolling`` times
            (:func:`~cartgraph.gnn.complement_holdout.default_holdouts`).
        seed: seeds the anchor split, initialisation and shuffling.
        valid_k: early stopping watches precision@``valid_k`` (the list length you serve).
        block: anchors per block when building lists (memory ``~ block × I``).
        name: the ``model`` property of written COMPLEMENTS edges.

    Attributes (after ``fit``): ``history_``, ``n_train_anchors_``, ``n_valid_anchors_``,
    ``valid_precision_`` (precision@``valid_k`` on the validation anchors: untrained start and kept
    weights), ``fit_seconds_``; served lists ``candidates_``, ``scores_`` and ``substitute_``
    (each ``(n_items, W)``; ``substitute_`` marks the listed look-alike substitutes).
    """

    def __init__(self, *, bundle_weight: float = 2.0, text_k: int = 10, hidden: int = 32, epochs: int = 200,
                 lr: float = 1e-2, weight_decay: float = 1e-4, batch_anchors: int = 256, eval_every: int = 1,
                 patience: int = 10, valid_fraction: float = 0.2, holdout_fraction: float = 0.2, n_rolling: int = 2,
                 seed: int = 0, valid_k: int = 10, block: int = 512, name: str = "complement-ranker") -> None:
        if bundle_weight < 0 or text_k < 1 or hidden < 1 or epochs < 0 or batch_anchors < 1 or block < 1:
            raise ConfigError(f"need bundle_weight >= 0, text_k, hidden, batch_anchors, block >= 1 and epochs >= 0; "
                              f"got {bundle_weight}, {text_k}, {hidden}, {batch_anchors}, {block}, {epochs}")
        if not lr > 0 or weight_decay < 0 or eval_every < 0 or patience < 1:
            raise ConfigError(f"need lr > 0, weight_decay >= 0, eval_every >= 0, patience >= 1; got "
                              f"{lr}, {weight_decay}, {eval_every}, {patience}")
        if not (0.0 < valid_fraction < 1.0 and 0.0 < holdout_fraction < 1.0):
            raise ConfigError(f"valid_fraction and holdout_fraction must be in (0, 1), got "
                              f"{valid_fraction}, {holdout_fraction}")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"name must be a non-empty string, got {name!r}")
        if n_rolling < 1 or valid_k < 1:
            raise ConfigError(f"n_rolling and valid_k must be >= 1, got {n_rolling}, {valid_k}")
        self.bundle_weight, self.text_k, self.hidden, self.epochs = bundle_weight, text_k, hidden, epochs
        self.lr, self.weight_decay, self.batch_anchors = lr, weight_decay, batch_anchors
        self.eval_every, self.patience, self.valid_fraction = eval_every, patience, valid_fraction
        self.holdout_fraction, self.seed, self.block, self.name = holdout_fraction, seed, block, name
        self.n_rolling, self.valid_k = n_rolling, valid_k

    # ------------------------------------------------------------------ training
    def fit(self, dataset: Dataset, *, item_vectors: np.ndarray | None = None,
            holdouts: Sequence[BasketHoldout] | None = None, exclude_bundles: ArrayLike | None = None
            ) -> "ComplementRanker":
        """Train the scorer on ``holdouts`` (default: :func:`default_holdouts` of ``dataset``),
        then score every item's candidates on all of ``dataset``.

        Args:
            item_vectors: ``(n_items, D)`` text vectors in item-index order (default: encoded, cached).
            holdouts: ``(train dataset, held-out groups)`` pairs of the same catalogue; each
                ``train`` must not contain its groups.
            exclude_bundles: bundle ids never learned from (e.g. held-out test bundles).

        Raises:
            ConfigError: no holdout (too few baskets or bundles to learn from): use
                ``epochs=0`` for the raw co-purchase order.
        """
        t0 = time.perf_counter()
        text = text_features(dataset, item_vectors)
        exclude = None if exclude_bundles is None else list(np.asarray(exclude_bundles).tolist())
        gen = torch.Generator().manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        if self.epochs > 0:
            holdouts = default_holdouts(dataset, self.holdout_fraction, self.n_rolling) if holdouts is None else list(holdouts)
            if not holdouts:
                raise ConfigError(f"{dataset.name}: too few baskets or bundles to hold any out for training the "
                                  f"complement scorer; fit with epochs=0 (raw co-purchase order)")
            lists = [self._holdout_lists(h, dataset, text, exclude, rng) for h in holdouts]
            train, valid = _split_anchors(lists, self.valid_fraction, rng)
        else:
            train = valid = None
        rank = FEATURES.index("base_rank")
        if train is not None and len(train.z):
            z, y, mask = (torch.as_tensor(a) for a in (train.z, train.y, train.mask))
            sharp = start_sharpness(z[:, :, rank], y, mask)
        else:
            z = y = mask = None
            sharp = 1.0
        self.scorer_ = PairScorer(len(FEATURES), self.hidden, rank, gen, sharp)
        self.n_train_anchors_ = 0 if train is None else len(train.z)
        self.n_valid_anchors_ = 0 if valid is None else len(valid.z)
        if z is not None:
            validate = (lambda: _precision(self.scorer_, valid, self.valid_k)) if self.n_valid_anchors_ else None
            start = validate() if validate else float("nan")
            self.history_ = train_listwise(self.scorer_, z, y, epochs=self.epochs, lr=self.lr,
                                           weight_decay=self.weight_decay, batch=self.batch_anchors, generator=gen,
                                           mask=mask, validate=validate, eval_every=self.eval_every,
                                           patience=self.patience)
            self.valid_precision_ = {"start": start, "kept": validate() if validate else float("nan")}
        else:
            self.history_ = TrainHistory(best_epoch=0)
            self.valid_precision_ = {}
        self._serve(dataset, text, exclude)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _holdout_lists(self, holdout: BasketHoldout, dataset: Dataset, text: np.ndarray, exclude,
                       rng: np.random.Generator) -> _Lists:
        if holdout.train.n_items != dataset.n_items:
            raise ConfigError(f"holdouts: a holdout's train has {holdout.train.n_items} items, the dataset "
                              f"{dataset.n_items}; holdouts must keep the catalogue")
        view = ComplementView.build(holdout.train, text, bundle_weight=self.bundle_weight, text_k=self.text_k,
                                    exclude_bundles=exclude)
        g = group_matrix(holdout.groups, dataset, "group_id")
        g = g[np.flatnonzero(np.diff(g.indptr) >= 2)]
        together = (g.T @ g).tocsr()
        together.setdiag(0)
        together.eliminate_zeros()
        n_groups = np.asarray(g.sum(axis=0)).ravel()
        anchors = np.flatnonzero(n_groups > 0)
        mu, sd = self._view_stats(view, rng)
        zs, ys, masks = [], [], []
        for start in range(0, len(anchors), self.block):
            a = anchors[start:start + self.block]
            items, f, mask = view.candidates(a)
            zs.append(scale(f, mask, mu, sd))
            ys.append(np.where(mask, together[a].toarray()[np.arange(len(a))[:, None], np.where(mask, items, 0)], 0.0))
            masks.append(mask)
        z, y, mask = np.concatenate(zs), np.concatenate(ys).astype(np.float32), np.concatenate(masks)
        keep = y.sum(axis=1) > 0
        return _Lists(z[keep], y[keep], mask[keep], n_groups[anchors][keep].astype(np.float64))

    def _view_stats(self, view: ComplementView, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Feature mean and std over the candidate lists of (a sample of) all anchors: each
        period's view on its own scale, the same way for training and serving."""
        n = view.n_items
        sample = np.sort(rng.choice(n, size=min(n, _STAT_ANCHORS), replace=False))
        feats, masks = [], []
        for start in range(0, len(sample), self.block):
            _, f, mask = view.candidates(sample[start:start + self.block])
            feats.append(f)
            masks.append(mask)
        _, mu, sd = standardise(np.concatenate(feats), np.concatenate(masks))
        return mu, sd

    def _serve(self, dataset: Dataset, text: np.ndarray, exclude) -> None:
        view = ComplementView.build(dataset, text, bundle_weight=self.bundle_weight, text_k=self.text_k,
                                    exclude_bundles=exclude)
        mu, sd = self._view_stats(view, np.random.default_rng(self.seed))
        n, width = view.n_items, view.width
        self.candidates_ = np.full((n, width), -1, dtype=np.int64)
        self.scores_ = np.full((n, width), -np.inf, dtype=np.float32)
        self.substitute_ = np.zeros((n, width), dtype=bool)
        flag = FEATURES.index("substitute")
        with torch.no_grad():
            for start in range(0, n, self.block):
                a = np.arange(start, min(start + self.block, n))
                items, f, mask = view.candidates(a)
                s = self.scorer_(torch.as_tensor(scale(f, mask, mu, sd))).numpy()
                self.candidates_[a] = items
                self.scores_[a] = np.where(mask, s, -np.inf)
                self.substitute_[a] = mask & (f[:, :, flag] > 0.5)
        self.item_ids_ = np.asarray(dataset.item_vocab.ids, dtype=object)

    # ------------------------------------------------------------------ serving
    def _check_fitted(self) -> None:
        if not hasattr(self, "candidates_"):
            raise NotFittedError("ComplementRanker is not fitted yet; call fit(dataset) first")

    def complements(self, items: ArrayLike, k: int = 10, *, substitutes: str = "keep") -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best complements of each item index, best first.

        Shapes: ``items (b,)`` → ``(b, k)`` int64 indices and float32 scores; a scalar gives
        ``(k,)``. Only an item's candidates are ranked: a list shorter than ``k`` ends in
        ``-1`` with score ``-inf`` (an item with no partner, look-alike or category link).

        ``substitutes="drop"`` leaves out the item's substitutes (the EVALUATION.md rule: same
        leaf category and text cosine > 0.9), even those bought with it; ``"keep"`` (default)
        ranks them as the scorer does (it learned to put look-alikes below complements).
        """
        self._check_fitted()
        scalar = np.ndim(items) == 0
        a = np.atleast_1d(self._indices(items, "items"))
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        scores = self.scores_[a]
        if substitutes == "drop":
            if self.substitute_ is None:
                raise ConfigError("substitutes='drop': this ComplementRanker was saved without its substitute flags "
                                  "(an older file); fit it again to drop substitutes")
            scores = np.where(self.substitute_[a], -np.inf, scores)
        elif substitutes != "keep":
            raise ConfigError(f"substitutes must be 'keep' or 'drop', got {substitutes!r}")
        pos, vals = topk(scores, min(int(k), self.scores_.shape[1]))
        idx = np.where(np.isfinite(vals), np.take_along_axis(self.candidates_[a], pos, axis=1), -1)
        if idx.shape[1] < k:
            pad = k - idx.shape[1]
            idx = np.pad(idx, ((0, 0), (0, pad)), constant_values=-1)
            vals = np.pad(vals, ((0, 0), (0, pad)), constant_values=-np.inf)
        return (idx[0], vals[0]) if scalar else (idx, vals.astype(np.float32))

    def served_score(self, src: ArrayLike, dst: ArrayLike) -> np.ndarray:
        """``s(src[k] → dst[k])`` for index arrays of equal shape ``(n,)``; a pair outside
        ``src``'s candidate list scores ``-inf``. float32."""
        self._check_fitted()
        a, b = self._indices(src, "src"), self._indices(dst, "dst")
        if a.shape != b.shape:
            raise ConfigError(f"src and dst must have the same shape, got {a.shape} and {b.shape}")
        hit = self.candidates_[a.ravel()] == b.ravel()[:, None]
        out = np.where(hit.any(axis=1), self.scores_[a.ravel()][np.arange(a.size), hit.argmax(axis=1)], -np.inf)
        return out.reshape(a.shape).astype(np.float32)

    # ------------------------------------------------------------------ persistence
    def _settings(self) -> dict:
        return {"bundle_weight": self.bundle_weight, "text_k": self.text_k, "hidden": self.hidden,
                "epochs": self.epochs, "lr": self.lr, "weight_decay": self.weight_decay,
                "batch_anchors": self.batch_anchors, "eval_every": self.eval_every, "patience": self.patience,
                "valid_fraction": self.valid_fraction, "holdout_fraction": self.holdout_fraction, "n_rolling": self.n_rolling, "valid_k": self.valid_k,
                "seed": self.seed, "block": self.block, "name": self.name}

    def save(self, path: str | Path) -> None:
        """Write settings, item ids and the scored candidate lists to one file (atomic)."""
        self._check_fitted()
        save_state(path, _FORMAT, 1, {"settings": self._settings(), "item_ids": list(self.item_ids_),
                                      "candidates": self.candidates_, "scores": self.scores_,
                                      "substitute": self.substitute_})

    @classmethod
    def load(cls, path: str | Path) -> "ComplementRanker":
        """Read a file written by :meth:`save` (serving only; files saved before the substitute
        flags were kept load too, without ``substitutes="drop"``)."""
        model, state = cls._restore(path, _FORMAT)
        model.candidates_, model.scores_ = state["candidates"], state["scores"]
        model.substitute_ = state.get("substitute")
        return model


def _split_anchors(lists: list[_Lists], valid_fraction: float, rng: np.random.Generator) -> tuple[_Lists, _Lists]:
    """All holdouts' lists, a seeded ``valid_fraction`` of each holdout's anchors apart."""
    parts: tuple[list, list] = ([], [])
    for one in lists:
        is_valid = rng.random(len(one.z)) < valid_fraction
        for side, sel in ((0, ~is_valid), (1, is_valid)):
            parts[side].append(_Lists(one.z[sel], one.y[sel], one.mask[sel], one.groups[sel]))
    return tuple(_Lists(*(np.concatenate([getattr(p, f.name) for p in side]) for f in dataclasses.fields(_Lists)))
                 for side in parts)


def _precision(scorer: torch.nn.Module, lists: _Lists, k: int = 10) -> float:
    """Precision@k of the scorer's top ``k`` per anchor against the held-out groups (each
    anchor weighs its number of groups, as in
    :func:`~cartgraph.gnn.complement_metrics.group_precision`)."""
    with torch.no_grad():
        s = scorer(torch.as_tensor(lists.z)).numpy()
    pos, _ = topk(np.where(lists.mask, s, -np.inf), k)
    hits = np.take_along_axis(np.where(lists.mask, lists.y, 0.0), pos, axis=1).sum()
    return float(hits / (k * lists.groups.sum()))
