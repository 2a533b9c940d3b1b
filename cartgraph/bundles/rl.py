"""RL tuning of the walk's policy: REINFORCE with a leave-one-out baseline.

For each training episode (a real bundle or basket, anchor given) the policy samples
``rollouts`` bundles. Step ``t`` earns

    r_t = hit_t / |target| + complement_bonus · pairs_t / (size · (size − 1) / 2)
          + diversity_bonus · (1 − similarity_t) / (size − 1)
          − substitute_penalty · substitute_t / (size − 1)

(``hit``: the item is one of the episode's real items, i.e. a complement actually
bought with the anchor; ``pairs_t``: how many items already in the bundle it shares
some other bundle/basket of the episode period with, so the return is recall plus
``complement_bonus`` × complement precision; constraints are always met because the
walk masks illegal actions). The gradient is ``Σ_t (G_t − b_t) ∇ log π(a_t)`` with ``G_t`` the return
to go and ``b_t`` the mean return of the *other* rollouts of the same episode at the
same step (a baseline that needs no critic). Updates use Adam over mini-batches of
episodes. After every epoch the greedy walk is scored on the validation episodes and
the best weights are kept (early stopping with ``patience``); "best" is by default the
highest validation recall among epochs that keep the start's validation complement
precision and substitute rate (``select_on="guarded"``: the issue's target, measured on
validation), else plain recall or the shaped reward. The kept weights then replace the
start only when their validation recall beats it by ``min_gain_z`` paired standard
errors: the best of many epochs (and reward weights) on a small slice looks better than
it is (the winner's curse), and on BundleRec electronic such kept policies lost to their
start on the test in every run before this guard.

Starting points: besides the caller's weights, :data:`~cartgraph.bundles.policy.STARTS`
(the baselines written as walk weights: text and lexical kNN of the anchor, co-purchase
lift, top-k relevance) and, with ``fit_start``, the ``"fitted"`` weights
(:mod:`~cartgraph.bundles.imitation`: the exact, low-variance one-step problem solved from the
best of them on the training episodes) are scored on the validation episodes (the fixed ones
on the training episodes too with ``start_pool``) and RL starts from the best (``fit_folds`` and
``fit_min_gain_z`` ask the fitted start for an out-of-fold, clear paired gain first).
As epoch 0 is a candidate too, the kept policy is never worse on validation than the
best starting point.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from cartgraph.bundles.episodes import Episode
from cartgraph.bundles.features import FEATURES
from cartgraph.bundles.imitation import fit_hit_policy
from cartgraph.bundles.policy import STARTS, LinearPolicy
from cartgraph.bundles.walk import Request, Step, decode
from cartgraph.errors import ConfigError

__all__ = ["RLConfig", "train_policy", "episode_rewards", "gain_z", "plot_curve"]

_SIM, _SUB = FEATURES.index("similarity"), FEATURES.index("substitute")


@dataclasses.dataclass(frozen=True)
class RLConfig:
    """Settings of :func:`train_policy` and of the episode cut (see :mod:`.episodes`).

    Args:
        epochs: passes over the training episodes (at most).  rollouts: samples per episode (≥ 2).
        lr: Adam step size.  batch: episodes per update.  temperature: sampling temperature.
        patience: epochs without a better validation reward before stopping.
        complement_bonus, diversity_bonus, substitute_penalty: reward shaping (see the module doc).
        graph_fraction, valid_fraction: the time cut of the training period.
        max_episodes: training episodes kept.  max_valid: validation episodes kept (None: a
            third of ``max_episodes``; validation walks are greedy, so a larger slice is cheap).
        max_size: episodes longer than this are walked to this size.
        sources: episodes from ``"bundles"``, ``"baskets"`` or ``"both"``.
        episodes: how episodes are cut from the training data: ``"time"`` (by time, see
            :func:`~cartgraph.bundles.episodes.time_split`), ``"bundles"`` (a seeded share of
            the bundles, for catalogues without times: :func:`~cartgraph.bundles.episodes.bundle_split`),
            ``"last"`` (validation = each user's last bundle, read against all other data as the
            test reads the training data: :func:`~cartgraph.bundles.episodes.last_split`; training
            episodes cut by time from the rest, ``graph_fraction`` as for ``"time"``, ``valid_fraction``
            unused), ``"users"`` (the same validation; training episodes cross-fitted over five user
            groups, each read against the other users' data:
            :func:`~cartgraph.bundles.episodes.user_folds`) or ``"auto"`` (time when every
            source has a time, else bundles; ``"last"`` and ``"users"`` are opt-in).
        select_on: what picks the kept epoch on validation: ``"guarded"`` (the highest recall
            among epochs whose complement precision is no lower and substitute rate no higher
            than the chosen start's, i.e. the best baseline's on validation), ``"recall"`` or
            ``"reward"`` (the shaped reward). The start is picked by recall (by reward for ``"reward"``).
        starts: names of :data:`~cartgraph.bundles.policy.STARTS` tried besides the given weights.
        complement_bonuses: when given, one RL run per ``complement_bonus`` value (same seed,
            same start) and the run best on validation (``select_on``) is kept: the reward's
            weights chosen per dataset.
        frozen: features whose weights RL (and the fitted start) leave at their starting value (e.g. ``("popularity",)``
            when the catalogue's popularity drifts between the training period and serving).
        prox: decoupled pull of the weights back toward the run's starting weights, per Adam
            step (``w -= lr · prox · (w - w_start)``, as AdamW's decay but toward the start):
            weights whose gradient is noise stay near the start, weights with a consistent
            gradient settle about ``1 / prox`` away from it. 0 (default): no pull.
        keep_norm: rescale the weights to the start's norm after every step. The greedy walk
            ignores the weights' scale but the sampled one does not: without this, REINFORCE
            partly just sharpens the sampling (grows every useful weight, and features that
            echo the start's, e.g. ``similarity`` beside ``anchor_similarity``), which changes
            the greedy walk in ways the reward never asked for.
        min_gain_z: the RL-tuned weights are kept only if their validation recall exceeds the
            start's by at least this many standard errors of the paired per-episode
            difference; otherwise the start is served (recorded as ``rl_kept`` in the curve).
            0 keeps any improvement (no guard).
        fit_start: add the ``"fitted"`` start: the weights that maximise the log probability
            of picking a real item on the training episodes' walk states
            (:func:`~cartgraph.bundles.imitation.fit_hit_policy`, from the best fixed start's
            states), scored on validation like the others (the curve's ``fit`` records its
            ``weights`` and, where it beats the best fixed start on validation, its paired
            ``gain``, ``gain_se`` and whether it was ``kept``).
        fit_l2: its ridge.
        fit_min_gain_z: the fitted start replaces the best fixed start only with a paired
            validation recall gain of at least this many standard errors. 0 (default): any
            gain, as between the fixed starts: it is one more candidate, so the winner's curse
            that ``min_gain_z`` guards REINFORCE against (the best of many epochs and reward
            weights) is small. Run 8 in ``benchmarks/RESULTS.md`` measured 2 on BundleRec and Steam.
        fit_folds: ≥ 2: the fitted start must also win out of fold on the training episodes.
            They are dealt into this many folds (the cut's own groups when the training episodes
            are cross-fitted, else seeded); each fold is walked with weights fitted on the
            other folds, and the best fixed start (never fitted) is walked on all of them.
            Those paired recalls join the validation's, and the fitted start is kept when
            the combined mean gain is positive (and ≥ ``fit_min_gain_z`` SEs). The curve's
            ``fit`` adds ``cv_episodes``, ``cv_gain`` and ``cv_gain_se``. Default 4 (run 9 in
            ``benchmarks/RESULTS.md``: never worse than 0, better on clothing and Steam); 0: off.
        start_pool: the fixed starts (the caller's weights and ``starts``, never fitted) are
            also walked on the training episodes, and the start is the one with the best mean
            recall over validation and training episodes together (``select_on="reward"``:
            validation reward, as before). The training episodes read only data from before
            them (or, cross-fitted, other users' data), so they are a fair, larger test of a
            weight vector nothing was fitted to; validation alone is 134–400 episodes on the
            benchmarks. The curve's epoch 0 adds ``start_train_recall`` and ``start_episodes``
            (both counts). Default False: validation alone. Run 10 in ``benchmarks/RESULTS.md``
            measured it on BundleRec, Steam and Online Retail: test recall within noise of
            validation alone (−0.002 to +0.001), so it stays opt-in.
    """

    epochs: int = 15
    rollouts: int = 4
    lr: float = 0.05
    batch: int = 32
    temperature: float = 0.5
    patience: int = 4
    complement_bonus: float = 2.0
    diversity_bonus: float = 0.0
    substitute_penalty: float = 1.0
    graph_fraction: float = 0.6
    valid_fraction: float = 0.25
    max_episodes: int = 1200
    max_valid: int | None = None
    max_size: int = 10
    sources: str = "both"
    episodes: str = "auto"
    select_on: str = "guarded"
    starts: tuple[str, ...] = tuple(STARTS)
    complement_bonuses: tuple[float, ...] = ()
    frozen: tuple[str, ...] = ()
    prox: float = 0.0
    keep_norm: bool = False
    min_gain_z: float = 2.0
    fit_start: bool = True
    fit_l2: float = 1e-3
    fit_min_gain_z: float = 0.0
    fit_folds: int = 4
    start_pool: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "starts", tuple(self.starts))
        object.__setattr__(self, "frozen", tuple(self.frozen))
        bad = sorted(set(self.frozen) - set(FEATURES))
        if bad:
            raise ConfigError(f"RLConfig.frozen: unknown features {bad}; valid: {list(FEATURES)}")
        object.__setattr__(self, "complement_bonuses", tuple(float(b) for b in self.complement_bonuses))
        unknown = sorted(set(self.starts) - set(STARTS))
        if unknown:
            raise ConfigError(f"RLConfig.starts: unknown starting points {unknown}; valid: {list(STARTS)}")
        if (self.episodes not in ("auto", "time", "bundles", "last", "users")
                or self.select_on not in ("guarded", "recall", "reward")):
            raise ConfigError(f"RLConfig: episodes must be 'auto', 'time', 'bundles', 'last' or 'users' and select_on "
                              f"'guarded', 'recall' or 'reward', got {self.episodes!r}, {self.select_on!r}")
        if self.fit_folds < 0 or self.fit_folds == 1:
            raise ConfigError(f"RLConfig.fit_folds must be 0 (off) or >= 2, got {self.fit_folds!r}")
        if not self.fit_l2 > 0:
            raise ConfigError(f"RLConfig.fit_l2 must be > 0, got {self.fit_l2!r}")
        if not self.prox >= 0 or not self.min_gain_z >= 0 or not self.fit_min_gain_z >= 0:
            raise ConfigError(f"RLConfig.prox, min_gain_z and fit_min_gain_z must be >= 0, got {self.prox!r}, "
                              f"{self.min_gain_z!r}, {self.fit_min_gain_z!r}")
        if self.epochs < 1 or self.rollouts < 2 or self.batch < 1 or self.max_size < 2:
            raise ConfigError(f"RLConfig: epochs ≥ 1, rollouts ≥ 2, batch ≥ 1 and max_size ≥ 2 required, got "
                              f"{self.epochs}, {self.rollouts}, {self.batch}, {self.max_size}")
        if not (self.lr > 0 and self.temperature > 0):
            raise ConfigError(f"RLConfig: lr and temperature must be > 0, got {self.lr}, {self.temperature}")


def episode_rewards(steps: Sequence[Step], ep: Episode, cfg: RLConfig, pairs: sp.csr_matrix | None) -> np.ndarray:
    """Per-step rewards ``(len(steps),)`` of one walk against an episode's real items."""
    slots, n_pairs = max(ep.size - 1, 1), max(ep.size * (ep.size - 1) / 2, 1)
    chosen = list(ep.anchors)
    r = np.zeros(len(steps))
    for t, s in enumerate(steps):
        f = s.feats[s.action]
        r[t] = (float(s.item in ep.target) / max(len(ep.target), 1) + cfg.diversity_bonus * (1.0 - f[_SIM]) / slots
                - cfg.substitute_penalty * f[_SUB] / slots)
        if pairs is not None and cfg.complement_bonus:
            row = pairs.indices[pairs.indptr[s.item]:pairs.indptr[s.item + 1]]
            r[t] += cfg.complement_bonus * np.isin(chosen, row).sum() / n_pairs
        chosen.append(s.item)
    return r


def _greedy_eval(policy: LinearPolicy, requests: list[Request], episodes: list[Episode], cfg: RLConfig,
                 pairs_of: list[sp.csr_matrix | None], per_episode: bool = False) -> dict:
    """The greedy walk on validation: mean shaped ``reward``, ``recall``, ``complement_precision``
    (episode ``j`` against ``pairs_of[j]``) and ``substitute_rate`` (as
    :mod:`~cartgraph.bundles.metrics` defines them); with ``per_episode`` also ``recalls``,
    each episode's recall ``(len(episodes),)``."""
    from cartgraph.bundles.metrics import bundle_metrics, mean_metrics

    rew, rows = [], []
    for req, ep, pairs in zip(requests, episodes, pairs_of):
        items, steps = decode(req, policy)
        rew.append(episode_rewards(steps, ep, cfg, pairs).sum())
        t = req.tables
        rows.append(bundle_metrics(items, len(ep.anchors), set(ep.target),
                                   pairs if pairs is not None else sp.csr_matrix((t.n_items, t.n_items), dtype=bool),
                                   t.vectors, t.leaf))
    m = mean_metrics(rows)
    out = {"reward": float(np.mean(rew)), "recall": float(np.nan_to_num(m["recall"])),
           "complement_precision": float(np.nan_to_num(m["complement_precision"])),
           "substitute_rate": float(np.nan_to_num(m["substitute_rate"]))}
    if per_episode:
        out["recalls"] = np.nan_to_num(np.array([r["recall"] for r in rows], dtype=np.float64))
    return out


def gain_z(new: np.ndarray, old: np.ndarray) -> tuple[float, float]:
    """Mean paired gain ``new − old`` over episodes and its standard error (0 for < 2 episodes)."""
    d = np.asarray(new, dtype=np.float64) - np.asarray(old, dtype=np.float64)
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0
    return float(d.mean()) if len(d) else 0.0, se


def _selector(cfg: RLConfig, ref: dict[str, float]) -> Callable[[dict[str, float]], tuple]:
    """Sort key of a validation result: higher is better (see :class:`RLConfig` ``select_on``)."""
    if cfg.select_on == "reward":
        return lambda r: (r["reward"], r["recall"])
    if cfg.select_on == "recall":
        return lambda r: (r["recall"], r["reward"])
    tol = 1e-9  # "guarded": recall, among results that keep the start's complement precision and substitute rate
    return lambda r: (r["complement_precision"] >= ref["complement_precision"] - tol
                      and r["substitute_rate"] <= ref["substitute_rate"] + tol, r["recall"], r["reward"])


def _episode_gradient(policy: LinearPolicy, req: Request, ep: Episode, cfg: RLConfig,
                      rng: np.random.Generator, pairs: sp.csr_matrix | None) -> tuple[np.ndarray, float]:
    """REINFORCE gradient ``(F,)`` of one episode over ``rollouts`` samples, and its mean return."""
    runs = []
    for _ in range(cfg.rollouts):
        _, steps = decode(req, policy, rng)
        rewards = episode_rewards(steps, ep, cfg, pairs)
        runs.append((steps, np.cumsum(rewards[::-1])[::-1]))
    horizon = max(len(g) for _, g in runs)
    returns = np.zeros((cfg.rollouts, horizon))
    for i, (_, g) in enumerate(runs):
        returns[i, :len(g)] = g
    grad = np.zeros(len(FEATURES))
    for i, (steps, g) in enumerate(runs):
        base = (returns.sum(axis=0) - returns[i]) / (cfg.rollouts - 1)
        for t, s in enumerate(steps):
            grad += (g[t] - base[t]) * policy.grad_log_prob(s.feats, s.action)
    return grad / cfg.rollouts, float(returns[:, 0].mean()) if horizon else 0.0


def train_policy(make_request: Callable[[Episode], Request] | Sequence[Request], train: list[Episode],
                 valid: list[Episode], init: LinearPolicy, cfg: RLConfig, seed: int = 0, progress: bool = False,
                 pairs: sp.csr_matrix | Sequence[sp.csr_matrix] | None = None, *,
                 make_valid_request: Callable[[Episode], Request] | Sequence[Request] | None = None,
                 valid_pairs: sp.csr_matrix | Sequence[sp.csr_matrix] | None = None,
                 train_groups: Sequence[int] | None = None,
                 ) -> tuple[LinearPolicy, list[dict[str, float]]]:
    """Tune ``init``'s weights on ``train`` episodes, early-stopped on ``valid``.

    Args:
        make_request: episode → prepared walk request (built from pre-episode data only), or
            the training episodes' requests ready-made, one per episode in ``train`` order
            (cross-fitted episodes read different data).
        train, valid: episodes from :func:`cartgraph.bundles.episodes.time_split`.
        init: starting weights (e.g. the hand-set ones).  seed: fixes the result.
        pairs: boolean ``(n_items, n_items)`` "bought together in the episode period"
            (the complement reward), or one such matrix per training episode (cross-fitted
            episodes read different data); None for none.
        make_valid_request, valid_pairs: the same for the validation episodes when they read
            other data than the training episodes (default: ``make_request`` and ``pairs``;
            ready-made training requests need ``make_valid_request`` and per-episode training
            ``pairs`` need ``valid_pairs``).
        train_groups: each training episode's group (e.g. the user fold whose data it
            reads), used as the folds of ``cfg.fit_folds`` (taken modulo it).

    Returns:
        the best policy (by validation recall or reward, ``cfg.select_on``) and the learning
        curve: one dict per epoch (epoch 0 = the chosen start) with ``train_reward``,
        ``valid_reward``, ``valid_recall``; epoch 0 also names the ``start``, every
        candidate start's validation recall (``start_valid_recall``), the kept run's
        ``complement_bonus``, the ``kept_epoch`` and its ``kept_valid_recall`` and, with several
        bonuses, each one's kept validation recall (``bonus_valid``).
    """
    if not train or not valid:
        raise ConfigError(f"train_policy needs training and validation episodes, got {len(train)} and {len(valid)}")

    tr_req = _requests(make_request, train, "make_request")
    if make_valid_request is None and not callable(make_request):
        raise ConfigError("train_policy: ready-made training requests need make_valid_request")
    va_req = _requests(make_request if make_valid_request is None else make_valid_request, valid,
                       "make_valid_request")
    if valid_pairs is None and isinstance(pairs, Sequence):
        raise ConfigError("train_policy: per-episode training pairs need valid_pairs")
    tr_pairs = _per_episode(pairs, len(train), "pairs")
    vpairs = _per_episode(pairs if valid_pairs is None else valid_pairs, len(valid), "valid_pairs")
    candidates = {"init": init.weights} | {n: LinearPolicy.from_dict(STARTS[n]).weights for n in cfg.starts}
    scored = {n: _greedy_eval(LinearPolicy(w), va_req, valid, cfg, vpairs, per_episode=True)
              for n, w in candidates.items()}
    by_recall = _selector(dataclasses.replace(cfg, select_on="recall"), {})
    first = _selector(cfg, {}) if cfg.select_on == "reward" else by_recall
    pooled = cfg.start_pool and cfg.select_on != "reward"
    tr_recalls: dict[str, np.ndarray] = {}

    def train_recalls(name: str) -> np.ndarray:
        """``(len(train),)`` recalls of a fixed start on the training episodes (walked once)."""
        if name not in tr_recalls:
            tr_recalls[name] = _greedy_eval(LinearPolicy(candidates[name]), tr_req, train, cfg, tr_pairs,
                                            per_episode=True)["recalls"]
        return tr_recalls[name]

    if pooled:  # first of equals: the caller's weights win ties
        start = max(scored, key=lambda n: (np.concatenate([scored[n]["recalls"], train_recalls(n)]).mean(),
                                           scored[n]["recall"]))
    else:
        start = max(scored, key=lambda n: first(scored[n]))
    fit_info = {}
    if cfg.fit_start:
        fitted, fit_info = fit_hit_policy(tr_req, train, LinearPolicy(candidates[start]), cfg.fit_l2,
                                          frozen=cfg.frozen, keep_norm=cfg.keep_norm)
        candidates["fitted"] = fitted.weights
        scored["fitted"] = _greedy_eval(fitted, va_req, valid, cfg, vpairs, per_episode=True)
        new, old = scored["fitted"]["recalls"], scored[start]["recalls"]
        if not cfg.fit_folds:
            better = first(scored["fitted"]) > first(scored[start])
        else:
            where, cv_new = _out_of_fold_recalls(tr_req, train, LinearPolicy(candidates[start]), cfg, tr_pairs,
                                                 seed, train_groups)
            cv_old = train_recalls(start)[where]
            cv_gain, cv_se = gain_z(cv_new, cv_old)
            fit_info = fit_info | {"cv_episodes": len(cv_new), "cv_gain": cv_gain, "cv_gain_se": cv_se}
            new, old = np.concatenate([new, cv_new]), np.concatenate([old, cv_old])
            better = new.mean() > old.mean()
        if better:
            gain, se, kept = _paired_gain(new, old, cfg.fit_min_gain_z)
            fit_info = fit_info | {"gain": gain, "gain_se": se, "kept": kept}
            start = "fitted" if kept else start
        fit_info = fit_info | {"weights": fitted.as_dict()}
    pool_info = ({"start_train_recall": {n: float(train_recalls(n).mean()) for n in scored if n != "fitted"},
                  "start_episodes": {"valid": len(valid), "train": len(train)}} if pooled else {})
    key = _selector(cfg, scored[start])
    runs = []
    for bonus in cfg.complement_bonuses or (cfg.complement_bonus,):
        run_cfg = dataclasses.replace(cfg, complement_bonus=bonus, complement_bonuses=())
        weights, best_key, history, recalls = _reinforce(candidates[start], tr_req, va_req, train, valid, run_cfg,
                                                         key, seed, progress, tr_pairs, vpairs)
        kept = max(history, key=lambda h: (key(_as_result(h)), -h["epoch"]))
        history[0].update(kept_epoch=kept["epoch"], kept_valid_recall=kept["valid_recall"], start=start,
                          start_valid_recall={n: r["recall"] for n, r in scored.items()},
                          **pool_info,
                          complement_bonus=bonus, fit=fit_info,
                          start_weights=LinearPolicy(candidates[start]).as_dict())
        runs.append((best_key, weights, history, recalls))
    best_key, weights, history, recalls = max(runs, key=lambda r: r[0])  # first of equals: the first bonus
    if len(runs) > 1:
        history[0]["bonus_valid"] = {str(h[0]["complement_bonus"]): h[0]["kept_valid_recall"] for _, _, h, _ in runs}
    weights = _significance_guard(weights, candidates[start], recalls, scored[start]["recalls"], cfg, history[0])
    return LinearPolicy(weights, init.temperature), history


def _out_of_fold_recalls(tr_req: list[Request], train: list[Episode], start: LinearPolicy, cfg: RLConfig,
                         tr_pairs: list[sp.csr_matrix | None], seed: int,
                         groups: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold training recalls of the fitted start: ``(where, recalls)``, both ``(m,)``,
    the positions in ``train`` and each one's recall, walked with weights fitted from
    ``start`` on the other folds (folds with no other fold to fit on are left out)."""
    folds = None if groups is None else np.asarray(groups, dtype=np.int64) % cfg.fit_folds
    if folds is None or len(folds) != len(train) or len(np.unique(folds)) < 2:
        folds = np.random.default_rng(seed).integers(0, cfg.fit_folds, size=len(train))
    where, new = [], []
    for j in np.unique(folds):
        inside, outside = np.flatnonzero(folds == j), np.flatnonzero(folds != j)
        if not len(outside):
            continue
        fitted, _ = fit_hit_policy([tr_req[i] for i in outside], [train[i] for i in outside], start, cfg.fit_l2,
                                   frozen=cfg.frozen, keep_norm=cfg.keep_norm)
        req, eps, prs = [tr_req[i] for i in inside], [train[i] for i in inside], [tr_pairs[i] for i in inside]
        where.append(inside)
        new.append(_greedy_eval(fitted, req, eps, cfg, prs, per_episode=True)["recalls"])
    if not new:
        return np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(where), np.concatenate(new)


def _paired_gain(new: np.ndarray, old: np.ndarray, z: float) -> tuple[float, float, bool]:
    """Mean paired gain of per-episode validation recalls ``new`` over ``old`` ``(n,)``, its
    standard error, and whether it clears ``z`` standard errors (a positive gain is required)."""
    gain, se = gain_z(new, old)
    return gain, se, bool(gain > 0 and gain >= z * se)


def _significance_guard(weights: np.ndarray, start: np.ndarray, recalls: np.ndarray, start_recalls: np.ndarray,
                        cfg: RLConfig, head: dict) -> np.ndarray:
    """``weights`` if their per-episode validation ``recalls`` ``(n,)`` beat ``start``'s
    (``start_recalls``, same episodes) by ``cfg.min_gain_z`` paired standard errors, else
    ``start``; records ``rl_gain``, ``rl_gain_se`` and ``rl_kept`` in ``head``."""
    if np.array_equal(weights, start):
        head.update(rl_gain=0.0, rl_gain_se=0.0, rl_kept=False)
        return weights
    gain, se, kept = _paired_gain(recalls, start_recalls, cfg.min_gain_z)
    head.update(rl_gain=gain, rl_gain_se=se, rl_kept=kept)
    return weights if kept else start.copy()


def _requests(make: Callable[[Episode], Request] | Sequence[Request], episodes: list[Episode],
              name: str) -> list[Request]:
    """One walk request per episode, made by ``make`` or given ready-made (one per episode)."""
    if callable(make):
        return [make(e) for e in episodes]
    if len(make) != len(episodes):
        raise ConfigError(f"train_policy: {name} must be a callable or one request per episode "
                          f"({len(episodes)}), got {len(make)}")
    return list(make)


def _per_episode(pairs: sp.csr_matrix | Sequence[sp.csr_matrix] | None, n: int,
                 name: str) -> list[sp.csr_matrix | None]:
    """One pair matrix (or None) per episode from a shared matrix or a per-episode sequence."""
    if not isinstance(pairs, Sequence):
        return [pairs] * n
    if len(pairs) != n:
        raise ConfigError(f"train_policy: {name} must be one matrix or one per episode ({n}), got {len(pairs)}")
    return list(pairs)


def _reinforce(init: np.ndarray, tr_req: list[Request], va_req: list[Request], train: list[Episode],
               valid: list[Episode], cfg: RLConfig, key: Callable, seed: int, progress: bool,
               pairs: list[sp.csr_matrix | None], vpairs: list[sp.csr_matrix | None],
               ) -> tuple[np.ndarray, tuple, list[dict], np.ndarray]:
    """One REINFORCE run from weights ``init`` ``(F,)``: the best weights, their key, the curve
    and their per-episode validation recalls ``(len(valid),)`` (``pairs``, ``vpairs``: each
    training / validation episode's pairs)."""
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    policy = LinearPolicy(init, cfg.temperature)
    r = _greedy_eval(policy, va_req, valid, cfg, vpairs, per_episode=True)
    best, best_key, best_recalls = policy.weights.copy(), key(r), r["recalls"]
    history = [{"epoch": 0, "train_reward": float("nan"), **_valid_row(r)}]
    m, v, t, stale = np.zeros(len(FEATURES)), np.zeros(len(FEATURES)), 0, 0
    free = np.array([f not in cfg.frozen for f in FEATURES], dtype=np.float64)
    for epoch in tqdm(range(1, cfg.epochs + 1), desc="RL epochs", disable=not progress):
        order, got = rng.permutation(len(train)), []
        for lo in range(0, len(order), cfg.batch):
            grad = np.zeros(len(FEATURES))
            for i in order[lo:lo + cfg.batch]:
                g, ret = _episode_gradient(policy, tr_req[i], train[i], cfg, rng, pairs[i])
                grad += g
                got.append(ret)
            grad /= len(order[lo:lo + cfg.batch])
            grad *= free  # frozen features: no step (×1.0 elsewhere, exact)
            t += 1  # Adam, ascending the expected reward
            m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad ** 2
            policy.weights += cfg.lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
            policy.weights -= cfg.lr * cfg.prox * (policy.weights - init)
            if cfg.keep_norm and np.linalg.norm(policy.weights) > 0:
                policy.weights *= np.linalg.norm(init) / np.linalg.norm(policy.weights)
        r = _greedy_eval(policy, va_req, valid, cfg, vpairs, per_episode=True)
        history.append({"epoch": epoch, "train_reward": float(np.mean(got)), **_valid_row(r)})
        if key(r) > best_key:
            best, best_key, best_recalls, stale = policy.weights.copy(), key(r), r["recalls"], 0
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    return best, best_key, history, best_recalls


def _valid_row(r: dict[str, float]) -> dict[str, float]:
    return {"valid_reward": r["reward"], "valid_recall": r["recall"],
            "valid_complement_precision": r["complement_precision"], "valid_substitute_rate": r["substitute_rate"]}


def _as_result(row: dict[str, float]) -> dict[str, float]:
    return {"reward": row["valid_reward"], "recall": row["valid_recall"],
            "complement_precision": row["valid_complement_precision"],
            "substitute_rate": row["valid_substitute_rate"]}


def plot_curve(history: list[dict[str, float]], path: str | Path, title: str = "bundle walk RL") -> None:
    """Save the learning curve (train sampled reward, validation greedy reward and recall) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cartgraph.atomic import atomic_file

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(ep, [h["train_reward"] for h in history], marker="o", label="train reward (sampled)")
    ax.plot(ep, [h["valid_reward"] for h in history], marker="s", label="validation reward (greedy)")
    ax.plot(ep, [h["valid_recall"] for h in history], marker="^", label="validation recall (greedy)")
    ax.set_xlabel("epoch")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    with atomic_file(path) as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)
