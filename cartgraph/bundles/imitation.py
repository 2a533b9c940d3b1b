"""A fitted starting point for RL: the walk's weights that best pick the real bundles' items.

REINFORCE estimates its gradient from a few sampled walks per episode; with ~20 features and
hits that are rare (a few per cent of the frontier), that estimate is noisy and the walk
moves little from its start. The one-step problem has an exact, low-variance form: at a
walk state ``s`` with frontier ``A(s)`` and the episode's not-yet-chosen real items
``P(s) ⊆ A(s)``, the probability that the softmax policy picks a hit is

    π_w(P | s) = Σ_{a ∈ P(s)} exp(w·φ(a)) / Σ_{a ∈ A(s)} exp(w·φ(a)),

a smooth function of ``w`` whose log is concave where one real item is in reach (with several
it is the log-likelihood of a latent choice: a difference of two convex log-sum-exps). This module
maximises ``mean_s log π_w(P | s) − l2/2 · ‖w − w₀‖²`` (``w₀``: the starting weights, so a
large ``l2`` keeps the start and a small one trusts the data) with L-BFGS over the states the greedy
walk visits on the training episodes (states where no real item is reachable carry no
signal and are skipped). States come from the walk itself, not from the real bundle, so
the fit sees the mistakes it will make (as in DAgger): round one walks with the given
weights, each further round adds the states of the weights just fitted.

The result is one more candidate start of :func:`~cartgraph.bundles.rl.train_policy`:
scored on validation like the baselines, tuned further by REINFORCE, and kept only under
the same guard. L-BFGS starts at the given weights and takes no random step, so the fit is
deterministic.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize

from cartgraph.bundles.episodes import Episode
from cartgraph.bundles.features import FEATURES
from cartgraph.bundles.policy import LinearPolicy
from cartgraph.bundles.walk import Request, decode

__all__ = ["HitStates", "hit_states", "fit_hit_policy"]


@dataclasses.dataclass
class HitStates:
    """Walk states with a reachable real item, stacked.

    Attributes:
        feats: ``(M, F)`` float64, every state's candidates one after another.
        hit: ``(M,)`` bool, the candidate is one of the episode's not-yet-chosen real items.
        start: ``(S + 1,)`` int64 offsets: state ``i`` owns rows ``start[i]:start[i + 1]``.
    """

    feats: np.ndarray
    hit: np.ndarray
    start: np.ndarray

    @property
    def n_states(self) -> int:
        return len(self.start) - 1

    def __add__(self, other: "HitStates") -> "HitStates":
        return HitStates(np.vstack([self.feats, other.feats]), np.concatenate([self.hit, other.hit]),
                         np.concatenate([self.start, other.start[1:] + self.start[-1]]))


def hit_states(requests: Sequence[Request], episodes: Sequence[Episode], policy: LinearPolicy) -> HitStates:
    """The states of ``policy``'s greedy walk on each episode that have a real item in the frontier."""
    feats, hit, sizes = [], [], [0]
    for req, ep in zip(requests, episodes):
        target = np.fromiter(ep.target, dtype=np.int64)
        for step in decode(req, policy)[1]:
            h = np.isin(step.cands, target)
            if step.opening or not h.any():
                continue
            feats.append(step.feats.astype(np.float64))
            hit.append(h)
            sizes.append(len(h))
    if len(sizes) == 1:
        return HitStates(np.zeros((0, len(FEATURES))), np.zeros(0, bool), np.zeros(1, np.int64))
    return HitStates(np.vstack(feats), np.concatenate(hit), np.cumsum(sizes).astype(np.int64))


def _objective(w: np.ndarray, st: HitStates, l2: float, prior: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Negative mean log hit probability plus ``l2/2 · ‖w − prior‖²`` (prior 0 when None),
    and its gradient ``(F,)``."""
    d = w if prior is None else w - prior
    s = st.feats @ w
    lo = st.start[:-1]
    seg = np.repeat(np.arange(st.n_states), np.diff(st.start))
    s_hit = np.where(st.hit, s, -np.inf)
    top, top_hit = np.maximum.reduceat(s, lo), np.maximum.reduceat(s_hit, lo)   # per state, for stability
    e, e_hit = np.exp(s - top[seg]), np.exp(s_hit - top_hit[seg])              # exp(-inf) = 0: non-hits
    z_all, z_hit = np.add.reduceat(e, lo), np.add.reduceat(e_hit, lo)
    log_p = np.log(z_hit) + top_hit - np.log(z_all) - top
    loss = -float(np.mean(log_p)) + 0.5 * l2 * float(d @ d)
    grad = -(st.feats.T @ (e_hit / z_hit[seg] - e / z_all[seg])) / st.n_states + l2 * d
    return loss, grad


def fit_hit_policy(requests: Sequence[Request], episodes: Sequence[Episode], init: LinearPolicy,
                   l2: float = 1e-3, rounds: int = 2, frozen: Sequence[str] = (),
                   keep_norm: bool = False) -> tuple[LinearPolicy, dict[str, float]]:
    """Weights ``(F,)`` maximising the mean log probability of picking a real item (module doc).

    Args:
        requests, episodes: the training episodes and their prepared walk requests.
        init: the weights whose greedy walk gives the first round's states, and the ridge's centre.
        l2: ridge toward ``init`` (features are about 0..1 and the starts' weights 5).
        rounds: state-collection rounds (≥ 1); each adds the last fit's greedy states.
        frozen: features whose weights stay at ``init``'s.
        keep_norm: rescale the result to ``init``'s norm (the greedy walk is the same).

    Returns:
        the fitted policy (``init``'s temperature) and ``{"states", "log_hit_prob"}`` of the
        last round (the mean log probability of a hit at the fitted weights).
    """
    if rounds < 1 or not l2 > 0:
        raise ValueError(f"fit_hit_policy: rounds ≥ 1 and l2 > 0 required, got {rounds!r}, {l2!r}")
    policy, states, info = init, None, {"states": 0.0, "log_hit_prob": float("nan")}
    for _ in range(rounds):
        new = hit_states(requests, episodes, policy)
        states = new if states is None else states + new
        if not states.n_states:
            return init, info
        bounds = [(w, w) if f in frozen else (None, None) for f, w in zip(FEATURES, init.weights)]
        res = minimize(_objective, init.weights, args=(states, l2, init.weights), jac=True, method="L-BFGS-B",
                       bounds=bounds, options={"maxiter": 500})
        x = res.x.copy()
        if keep_norm and np.linalg.norm(x) > 0:
            x *= np.linalg.norm(init.weights) / np.linalg.norm(x)
        policy = LinearPolicy(x, init.temperature)
        info = {"states": float(states.n_states), "log_hit_prob": -_objective(x, states, 0.0)[0]}
    return policy, info
