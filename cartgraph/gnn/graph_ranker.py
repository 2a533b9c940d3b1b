"""A text-aware graph re-ranker trained fold-out on several periods: :class:`TextGraphRanker`.

The model is two stages over the heterogeneous shop graph (users, items with text
vectors, categories, purchase times):

1. *Fixed message passing* builds, for each user, ``C`` candidate items (the best new
   items of EASE whose cold columns come from text neighbours,
   :class:`~cartgraph.gnn.text_ease.TextEASE`) and ``F`` features per (user, candidate)
   — EASE from the whole / recency-weighted / last-basket history, text-neighbour
   propagation, text cosines to the user's items, category shares, popularity and its
   recent trend, item age (:mod:`cartgraph.gnn.pair_features`). No feature is an id,
   so what is learned on one period can carry to the next.
2. A *learned scorer* ``s(u, i) = wᵀ z + vᵀ ReLU(W z + b)`` over the standardised
   features ``z`` (each view standardised over its own candidate pairs), trained with a
   softmax over each user's ``C`` candidates against what the user bought next.

Training is fold-out over several rolling cuts of the training data
(:func:`~cartgraph.gnn.rolling_folds.rolling_folds`: time windows on Online Retail, the
user's last, second-last, ... basket on Instacart), so the scorer sees several periods;
serving computes the features from all of the training data. The other items rank below
the candidates in EASE order. At initialisation ``w`` puts ``−a`` on ``ease_rank`` (``a``: the
softmax sharpness that fits the training targets best) and ``v = 0``,
so the untrained model ranks exactly as the text-imputed EASE; early stopping on a
validation split may keep that (epoch 0).

Example::

    model = TextGraphRanker(lam=500, fold="time").fit(split.train, valid=valid_split, item_vectors=v)
    items, scores = model.recommend([0, 1, 2], k=20)          # (3, 20) each
    near, cos = model.similar_items([5], k=10)                # (1, 10): text neighbours
    model.save("ranker.pt"); TextGraphRanker.load("ranker.pt")  # serving copy

Without a validation split, ``valid_fraction`` holds out a seeded share of the training
lists (users of the rolling folds) and early-stops on their NDCG@20 within the candidates.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from cartgraph.baselines.base import MatrixRecommender
from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError
from cartgraph.gnn.item_features import text_features
from cartgraph.gnn.listwise import PairScorer, list_ndcg, standardise, start_sharpness, train_listwise
from cartgraph.gnn.pair_features import FEATURES, PairBatch, PairSettings, item_category_matrix, pair_features
from cartgraph.gnn.rolling_folds import ROLLING_FOLDS, identified_events, rolling_folds
from cartgraph.gnn.similar import cosine_neighbours, text_neighbours
from cartgraph.gnn.state_file import load_state, save_state
from cartgraph.gnn.text_ease import TextEASE
from cartgraph.gnn.trainer import TrainHistory

__all__ = ["TextGraphRanker", "PairScorer", "FEATURE_SETS"]

VALID_METRICS = ("recall@20", "ndcg@20")
_FORMAT = "cartgraph-text-graph-ranker"
_POPULARITY = ("pop", "pop_recent", "pop_new", "item_age", "cold", "user_idle")
_TEXT = ("nbr_ease", "text_mean", "text_max", "text_recent")
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "all": FEATURES,
    "no-popularity": tuple(f for f in FEATURES if f not in _POPULARITY),
    "no-text": tuple(f for f in FEATURES if f not in _TEXT),
}
"""Named feature groups to choose among on validation (``features=FEATURE_SETS[name]``):
without the item popularity/trend/age signals, or without the text signals."""


class TextGraphRanker(MatrixRecommender):
    """Graph pair features + a learned scorer, trained fold-out (see the module docstring).

    Args:
        lam: EASE's λ (choose it on validation). neighbours: text neighbours of a cold
            item's imputed EASE scores (0: cold items score 0), or ``"auto"``: chosen among
            :data:`~cartgraph.gnn.text_ease.TEXT_EASE_NEIGHBOURS` on the latest rolling fold
            (NDCG@20 of new items, as :func:`~cartgraph.gnn.text_ease.tune_text_ease` does
            on a validation split).
        candidates: ``C``, items re-ranked per user (≥ 1).
        fold: ``"time"`` or ``"basket"`` (see :mod:`cartgraph.gnn.rolling_folds`).
        n_folds: rolling cuts the scorer trains on (≥ 1). fold_fraction: window of a
            ``"time"`` cut as a share of the time span.
        half_life_days, recent_days, text_k, clock: feature settings
            (:class:`~cartgraph.gnn.pair_features.PairSettings`; ``clock`` default:
            ``"global"`` for ``fold="time"``, ``"user"`` for ``"basket"``).
        features: the feature names used (default: all of :data:`FEATURES`;
            ``"ease_rank"`` is always kept, the start ranking needs it), a name of
            :data:`FEATURE_SETS`, or ``"auto"``: one scorer per feature set, the best on
            validation kept (needs ``valid`` or ``valid_fraction > 0``).
        hidden: width of the scorer's hidden layer (≥ 1).
        epochs: maximum passes over the training users (≥ 0; 0 = the text-imputed EASE).
        lr, weight_decay: Adam's. batch_users: users per step.
        eval_every, patience: validate every this many epochs; stop after ``patience``
            validations without improvement (validation also runs before training).
        seed: seeds initialisation and shuffling. valid_metric: ``"ndcg@20"`` or ``"recall@20"``.
        hide_future_items: in a ``"time"`` fold, items first sold after the fold's target
            window are not candidates (they did not exist yet; otherwise "never sold" in a
            fold mostly means "launched much later", unlike at serving, where it means new).
            Default False (every catalogue item is offered): on Online Retail's validation
            split True raised cold-start Recall@20 (0.005 → 0.028, 3 seeds) but lowered
            NDCG@20 (0.1264 → 0.1228).
        valid_fraction: without ``valid`` and with ``valid_mode="lists"``, this seeded share
            of the training lists is held out and early stopping reads their NDCG@20 within
            the candidates (0 ≤ f < 1; default 0: without ``valid`` all ``epochs`` are
            trained; with ``"latest"`` any f > 0 switches the internal validation on).
        valid_mode: ``"lists"`` (above) or ``"latest"``: the latest rolling fold is the
            validation (the scorer trains on the older folds, as a protocol validates on the
            period after its training data), then the chosen feature set is refitted on
            every fold for the chosen number of epochs.

    Attributes (after ``fit``): ``history_`` (:class:`~cartgraph.gnn.trainer.TrainHistory`;
    ``best_epoch`` = epochs trained of the kept weights, 0 = untrained), ``n_train_users_``
    (per fold), ``sharpness_`` (the start scale ``a``), ``fit_seconds_``; with ``"auto"``
    options: ``settings.neighbours`` / ``feature_names`` hold the choices and
    ``neighbour_scores_`` / ``feature_set_scores_`` what each option scored.

    Shapes: ``recommend(users (b,), k)`` → ``items (b, k)``, ``scores (b, k)``.
    """

    def __init__(self, lam: float = 500.0, neighbours: int | str = 10, candidates: int = 100, *, fold: str = "time",
                 n_folds: int = 3, fold_fraction: float = 0.2, half_life_days: float = 30.0,
                 recent_days: float = 30.0, text_k: int = 10, clock: str | None = None,
                 features: Sequence[str] | str | None = None,
                 hidden: int = 32, epochs: int = 100, lr: float = 1e-2, weight_decay: float = 1e-4,
                 batch_users: int = 256, eval_every: int = 1, patience: int = 10, seed: int = 0,
                 valid_metric: str = "ndcg@20", hide_future_items: bool = False, valid_fraction: float = 0.0,
                 valid_mode: str = "lists") -> None:
        super().__init__(batch_size=1024)
        clock = clock or ("global" if fold == "time" else "user")
        self.neighbours = neighbours
        if isinstance(neighbours, str) and neighbours != "auto":
            raise ConfigError(f"neighbours must be an integer >= 0 or 'auto', got {neighbours!r}")
        self.settings = PairSettings(lam, 10 if neighbours == "auto" else neighbours, candidates, half_life_days,
                                     recent_days, text_k, clock)
        self.settings.check()
        if fold not in ROLLING_FOLDS:
            raise ConfigError(f"fold must be one of {ROLLING_FOLDS}, got {fold!r}")
        if isinstance(features, str) and features != "auto" and features not in FEATURE_SETS:
            raise ConfigError(f"features: expected a list of names, 'auto' or one of {list(FEATURE_SETS)}, "
                              f"got {features!r}")
        self.features = features if features is None or isinstance(features, str) else list(features)
        named = FEATURE_SETS.get(features, FEATURES) if isinstance(features, str) else features
        names = list(FEATURES if named is None else named)
        bad = sorted(set(names) - set(FEATURES))
        if bad or not names:
            raise ConfigError(f"features: unknown {bad} (known: {list(FEATURES)})" if bad else "features is empty")
        if "ease_rank" not in names:
            names.append("ease_rank")
        self.feature_names = [n for n in FEATURES if n in names]
        if hidden < 1 or epochs < 0 or batch_users < 1 or eval_every < 0 or patience < 1:
            raise ConfigError(f"need hidden >= 1, epochs >= 0, batch_users >= 1, eval_every >= 0, patience >= 1; "
                              f"got {hidden}, {epochs}, {batch_users}, {eval_every}, {patience}")
        if not lr > 0 or weight_decay < 0:
            raise ConfigError(f"need lr > 0 and weight_decay >= 0, got {lr}, {weight_decay}")
        if valid_metric not in VALID_METRICS:
            raise ConfigError(f"valid_metric must be one of {VALID_METRICS}, got {valid_metric!r}")
        self.fold, self.n_folds, self.fold_fraction = fold, n_folds, fold_fraction
        self.hidden, self.epochs, self.lr, self.weight_decay = hidden, epochs, lr, weight_decay
        self.batch_users, self.eval_every, self.patience, self.seed = batch_users, eval_every, patience, seed
        if not 0.0 <= valid_fraction < 1.0:
            raise ConfigError(f"valid_fraction must be in [0, 1), got {valid_fraction!r}")
        self.valid_metric = valid_metric
        self.hide_future_items = bool(hide_future_items)
        self.valid_fraction = float(valid_fraction)
        if valid_mode not in ("lists", "latest") or (valid_mode == "latest" and n_folds < 2):
            raise ConfigError(f"valid_mode must be 'lists' or 'latest' (the latter needs n_folds >= 2), got "
                              f"{valid_mode!r} with n_folds={n_folds}")
        self.valid_mode = valid_mode

    # ------------------------------------------------------------------ training
    def fit(self, dataset: Dataset, valid=None, *, item_vectors: np.ndarray | None = None) -> "TextGraphRanker":
        """Build the fold views and the serving view of ``dataset``, train the scorer.

        Args:
            valid: a validation :class:`~cartgraph.evaluation.splits.Split` whose ``train``
                is ``dataset`` (early stopping on ``valid_metric``; never pass the test split).
            item_vectors: ``(n_items, D)`` text vectors (default: encoded, cached).
        """
        if valid is not None and valid.train.n_items != dataset.n_items:
            raise ConfigError(f"valid: its split fits on {valid.train.n_items} items, the dataset has "
                              f"{dataset.n_items}; pass the validation split of this dataset")
        t0 = time.perf_counter()
        text = text_features(dataset, item_vectors)
        self.text_ = (text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)).astype(np.float32)
        cats = item_category_matrix(dataset)
        every = np.arange(dataset.n_items)
        nbrs = text_neighbours(text, every, every, self.settings.text_k)[0]
        zs, labels, self.n_train_users_ = [], [], []
        events = identified_events(dataset)
        folds = list(rolling_folds(dataset, self.fold, self.n_folds, self.fold_fraction))
        self.neighbour_scores_ = None
        if self.neighbours == "auto":
            self.neighbour_scores_ = _neighbour_scores(dataset, folds[0], text, self.settings.lam)
            best = max(self.neighbour_scores_, key=self.neighbour_scores_.get)      # ties: the earlier k
            self.settings = dataclasses.replace(self.settings, neighbours=best)
        first_sale = np.full(dataset.n_items, np.datetime64("NaT"), dtype="datetime64[ns]")
        first = events.groupby("item_id")["ts"].min()
        first_sale[dataset.item_vocab.indices(first.index.to_numpy())] = first.to_numpy()
        fold_of = []
        for j, fold in enumerate(folds):
            exists = None
            if self.hide_future_items and fold.end is not None:
                exists = first_sale <= np.datetime64(fold.end)               # NaT (never sold) → False
            view = pair_features(dataset, fold.early_events, fold.now, text, cats, nbrs, self.settings,
                                 available=exists)
            hit = np.take_along_axis(fold.target[view.users].toarray() > 0, view.items, axis=1)   # (n, C)
            keep = hit.any(axis=1)
            zs.append(standardise(view.features)[0][keep])
            labels.append(hit[keep])
            fold_of.append(np.full(int(keep.sum()), j))
            self.n_train_users_.append(int(keep.sum()))
        serve = pair_features(dataset, events, events["ts"].max(), text, cats, nbrs, self.settings)
        serve_z = standardise(serve.features)[0]             # (standardised per feature: columns slice freely)
        z = torch.as_tensor(np.concatenate(zs))
        y = torch.as_tensor(np.concatenate(labels))
        held = None
        if valid is None and self.valid_fraction > 0:
            held = np.concatenate(fold_of) == 0 if self.valid_mode == "latest" else \
                np.random.default_rng(self.seed).random(len(z)) < self.valid_fraction
            held = torch.as_tensor(held) if held.any() and not held.all() else None
        if self.features == "auto" and valid is None and held is None:
            raise ConfigError("features='auto' chooses on validation: pass valid= or set valid_fraction > 0")
        options = {n: list(s) + (["ease_rank"] if "ease_rank" not in s else []) for n, s in FEATURE_SETS.items()} \
            if self.features == "auto" else {"given": self.feature_names}
        fitted = {}
        for option, names in options.items():
            names = [n for n in FEATURES if n in names]
            cols = [FEATURES.index(n) for n in names]
            self.feature_names = names
            self._set_serving(serve, serve_z[:, :, cols])
            zc = z[:, :, cols]
            gen = torch.Generator().manual_seed(self.seed)
            rank = names.index("ease_rank")
            self.sharpness_ = start_sharpness(zc[:, :, rank], y)
            self.scorer_ = PairScorer(len(cols), self.hidden, rank, gen, self.sharpness_)
            validate = None if valid is None else (lambda: self._validate(valid))
            zt, yt = zc, y
            if held is not None:
                zv, yv, zt, yt = zc[held], y[held], zc[~held], y[~held]
                validate = lambda zv=zv, yv=yv: list_ndcg(self.scorer_, zv, yv, 20)      # noqa: E731
            self.history_ = self._train(zt, yt, gen, validate)
            fitted[option] = (names, self.scorer_, self.history_, self.sharpness_)
        self.feature_set_scores_ = {o: f[2].best_score for o, f in fitted.items()} if len(fitted) > 1 else None
        chosen = max(fitted, key=lambda o: fitted[o][2].best_score)             # ties: the earlier set
        self.feature_names, self.scorer_, self.history_, self.sharpness_ = fitted[chosen]
        cols = [FEATURES.index(n) for n in self.feature_names]
        if held is not None and self.valid_mode == "latest":        # refit on every fold for the chosen epochs
            gen = torch.Generator().manual_seed(self.seed)
            rank = self.feature_names.index("ease_rank")
            self.scorer_ = PairScorer(len(cols), self.hidden, rank, gen, self.sharpness_)
            train_listwise(self.scorer_, z[:, :, cols], y, epochs=self.history_.best_epoch, lr=self.lr,
                           weight_decay=self.weight_decay, batch=self.batch_users, generator=gen)
        self._set_serving(serve, serve_z[:, :, cols])
        self._refresh()
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _train(self, z: torch.Tensor, y: torch.Tensor, gen: torch.Generator, validate) -> TrainHistory:
        """Adam on the softmax over each user's candidates; keeps the best validated weights."""
        return train_listwise(self.scorer_, z, y, epochs=self.epochs, lr=self.lr, weight_decay=self.weight_decay,
                              batch=self.batch_users, generator=gen, validate=validate,
                              eval_every=self.eval_every, patience=self.patience)

    def _validate(self, valid) -> float:
        from cartgraph.evaluation import evaluate

        self._refresh()
        return float(evaluate(self, valid, ks=(20,), progress=False)[self.valid_metric])

    def _set_serving(self, view: PairBatch, z: np.ndarray) -> None:
        self.base_, self.user_items_ = view.base, view.history
        self.serve_users_, self.serve_items_ = view.users, view.items
        self._serve_z = torch.as_tensor(z)
        self.row_of_ = np.full(view.history.shape[0], -1, np.int64)
        self.row_of_[view.users] = np.arange(len(view.users))

    def _refresh(self) -> None:
        """Recompute the candidates' scores ``(n_serve, C)`` with the current scorer."""
        with torch.no_grad():
            self.serve_scores_ = self.scorer_(self._serve_z).double().numpy()

    # ------------------------------------------------------------------ serving
    def similar_items(self, items, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The items closest by text cosine (the SIMILAR_TO neighbours the ranker's text
        features read); the item itself excluded. Shapes as
        :func:`cartgraph.gnn.similar.cosine_neighbours`: ``items (b,)`` → ``(b, k)``."""
        self._check_fitted()
        return cosine_neighbours(self.text_, items, k)

    def _score(self, users: np.ndarray) -> np.ndarray:
        base = self.base_.scores_of(self.user_items_[users])
        out = base - base.max(axis=1, keepdims=True) - 1.0          # every other item: ≤ −1, EASE order
        rows = self.row_of_[users]
        has = np.flatnonzero(rows >= 0)
        if len(has):
            s = self.serve_scores_[rows[has]]
            s = s - s.min(axis=1, keepdims=True)                    # candidates: ≥ 0
            sub = out[has]
            np.put_along_axis(sub, self.serve_items_[rows[has]], s, axis=1)
            out[has] = sub
        return out

    # ------------------------------------------------------------------ persistence
    def _settings(self) -> dict:
        return {**dataclasses.asdict(self.settings), "neighbours": self.neighbours, "fold": self.fold, "n_folds": self.n_folds,
                "fold_fraction": self.fold_fraction, "features": self.features, "hidden": self.hidden,
                "epochs": self.epochs, "lr": self.lr, "weight_decay": self.weight_decay,
                "batch_users": self.batch_users, "eval_every": self.eval_every, "patience": self.patience,
                "seed": self.seed, "valid_metric": self.valid_metric, "hide_future_items": self.hide_future_items,
                "valid_fraction": self.valid_fraction, "valid_mode": self.valid_mode}

    def save(self, path: str | Path) -> None:
        """Write settings, the TextEASE base, the trained scorer and the serving candidates
        with their scores to one file (atomic)."""
        self._check_fitted()
        save_state(path, _FORMAT, 1, {
            "settings": self._settings(), "base": self.base_.state(), "user_items": self.user_items_,
            "serve_users": self.serve_users_, "serve_items": self.serve_items_, "serve_scores": self.serve_scores_,
            "scorer": self.scorer_.state_dict(), "feature_names": self.feature_names, "text": self.text_,
            "neighbours": self.settings.neighbours,
            "sharpness": self.sharpness_, "history": dataclasses.asdict(self.history_),
            "n_train_users": self.n_train_users_, "fit_seconds": self.fit_seconds_})

    @classmethod
    def load(cls, path: str | Path) -> "TextGraphRanker":
        """Read a file written by :meth:`save`. The copy serves (``recommend``, ``scores``,
        ``similar_items``); the serving features are not stored, so it cannot be trained on."""
        state = load_state(path, _FORMAT, 1)
        model = cls(**state["settings"])
        model.base_, model.user_items_ = TextEASE.from_state(state["base"]), state["user_items"]
        model.serve_users_, model.serve_items_ = state["serve_users"], state["serve_items"]
        model.serve_scores_, model.text_ = state["serve_scores"], state["text"]
        model.row_of_ = np.full(model.user_items_.shape[0], -1, np.int64)
        model.row_of_[model.serve_users_] = np.arange(len(model.serve_users_))
        model.feature_names = state["feature_names"]
        model.settings = dataclasses.replace(model.settings, neighbours=state["neighbours"])
        rank = model.feature_names.index("ease_rank")
        model.sharpness_ = state["sharpness"]
        model.scorer_ = PairScorer(len(model.feature_names), model.hidden, rank, torch.Generator().manual_seed(0))
        model.scorer_.load_state_dict(state["scorer"])
        model.history_ = TrainHistory(**state["history"])
        model.n_train_users_, model.fit_seconds_ = state["n_train_users"], state["fit_seconds"]
        return model


def _neighbour_scores(dataset: Dataset, fold, text: np.ndarray, lam: float) -> dict[int, float]:
    """NDCG@20 of :class:`TextEASE` (λ ``lam``) per ``k`` of :data:`TEXT_EASE_NEIGHBOURS`,
    fitted on the fold's early events and read against its target (new items)."""
    from cartgraph.evaluation.metrics import hit_matrix, ndcg
    from cartgraph.gnn.text_ease import TEXT_EASE_NEIGHBOURS, _with_neighbours

    X = dataset.interactions(events=fold.early_events)
    users = np.flatnonzero(np.diff(fold.target.indptr) > 0)
    base, out = TextEASE(lam, 0).fit_text(X, text), {}
    for k in TEXT_EASE_NEIGHBOURS:
        model = _with_neighbours(base, text, k)
        items, _ = model.recommend(users, k=20)
        target = fold.target[users]
        out[k] = float(ndcg(hit_matrix(items, target), np.diff(target.indptr), 20).mean()) if len(users) else 0.0
    return out
