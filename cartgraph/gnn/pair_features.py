"""Period-invariant (user, candidate item) features by fixed message passing on the shop graph.

Every feature is an aggregation along edges of the heterogeneous graph (User–BOUGHT–Item
with purchase times, Item–IN–Category, Item–SIMILAR_TO–Item by text cosine) with *fixed*
weights, so nothing in it is an id that could memorise one period's pairs; a small learned
scorer (:class:`~cartgraph.gnn.graph_ranker.TextGraphRanker`) combines them. For a user
``u`` with history ``x_u`` (binary, ``(I,)``), recency weights ``r_u`` (``0.5^(age/h)``,
age in days before the user's last event, ``h`` = half-life), last basket ``l_u``:

==================  ==============================================================
``ease``            ``x_u B`` (EASE, cold columns from text neighbours: one hop
                    over SIMILAR_TO, :class:`~cartgraph.gnn.text_ease.TextEASE`)
``ease_rank``       ``log(1 + rank)`` of the item among the user's new items by ``ease``
``ease_recent``     ``r_u B / Σ r_u`` — EASE from a recency-weighted history
``ease_last``       ``l_u B`` — EASE from the last basket only
``nbr_ease``        mean ``ease`` of the item's ``k`` text neighbours (SIMILAR_TO hop)
``text_mean``       cosine of the item's text to the mean text of the user's items
``text_max``        highest cosine of the item's text to one of the user's items
``text_recent``     cosine to the recency-weighted mean text of the user's items
``category``        share of the user's items in the item's categories (User→Item→
                    Category←Item, two hops), averaged over the item's categories
``pop``             ``log(1 + buyers)`` of the item
``pop_recent``      ``log(1 + buyers in the last recent_days)``
``pop_new``         ``log(1 + users whose first purchase of the item was in the last
                    recent_days)`` — how often the item is a *new* item for someone lately
``item_age``        ``log(1 + days since the item's first sale)``
``cold``            1 when the item has no buyer yet
``user_size``       ``log(1 + |x_u|)``
``user_idle``       ``log(1 + days since the user's last event)``
==================  ==============================================================

"The last recent_days" is measured on one of two clocks (``PairSettings.clock``):
``"global"`` — before ``now`` (shops with real calendar time, where seasons matter);
``"user"`` — before each user's own last event (next-basket data whose timelines do not
share a calendar, e.g. Instacart's order sequences); there ``item_age`` and ``user_idle``
are 0.

Candidates are each user's ``C`` best *new* items (not in ``x_u``) by ``ease``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError
from cartgraph.gnn.text_ease import TextEASE

__all__ = ["CLOCKS", "FEATURES", "PairSettings", "PairBatch", "pair_features", "item_category_matrix"]

FEATURES: tuple[str, ...] = ("ease", "ease_rank", "ease_recent", "ease_last", "nbr_ease", "text_mean", "text_max",
                             "text_recent", "category", "pop", "pop_recent", "pop_new", "item_age", "cold", "user_size",
                             "user_idle")
CLOCKS = ("global", "user")


@dataclasses.dataclass(frozen=True)
class PairSettings:
    """How the features are computed.

    Args:
        lam: EASE's λ. neighbours: text neighbours of a cold item's imputed scores.
        candidates: ``C``, new items per user. half_life_days: ``h`` of the recency weights.
        recent_days: window of ``pop_recent``/``pop_new``. text_k: text neighbours of ``nbr_ease``.
        clock: ``"global"`` or ``"user"`` (see the module docstring).
    """

    lam: float = 500.0
    neighbours: int = 10
    candidates: int = 100
    half_life_days: float = 30.0
    recent_days: float = 30.0
    text_k: int = 10
    clock: str = "global"

    def check(self) -> None:
        """Raise :class:`ConfigError` on an out-of-range setting."""
        if not self.lam > 0 or self.neighbours < 0 or self.candidates < 1 or self.text_k < 1:
            raise ConfigError(f"need lam > 0, neighbours >= 0, candidates >= 1, text_k >= 1; got {self}")
        if not self.half_life_days > 0 or not self.recent_days > 0:
            raise ConfigError(f"half_life_days and recent_days must be > 0, got {self.half_life_days}, "
                              f"{self.recent_days}")
        if self.clock not in CLOCKS:
            raise ConfigError(f"clock must be one of {CLOCKS}, got {self.clock!r}")


@dataclasses.dataclass(frozen=True)
class PairBatch:
    """Features of some users' candidates.

    Attributes:
        users: ``(n,)`` user indices.
        items: ``(n, C)`` candidate item indices, best EASE first.
        features: ``(n, C, F)`` float32, columns in :data:`FEATURES` order (raw, unscaled).
        base: the fitted :class:`TextEASE` of the history (for serving the other items).
        history: ``(U, I)`` csr, the binary history the features came from.
    """

    users: np.ndarray
    items: np.ndarray
    features: np.ndarray
    base: TextEASE
    history: sp.csr_matrix


def item_category_matrix(dataset: Dataset) -> sp.csr_matrix:
    """``(I, K)`` binary: item → every category on its path (leaf and ancestors); ``K`` may be 0."""
    from cartgraph.gnn.hetero_graph import item_category_pairs

    items, cats, n_cat = item_category_pairs(dataset)
    m = sp.csr_matrix((np.ones(len(items), np.float32), (items, cats)), shape=(dataset.n_items, max(n_cat, 0)))
    m.data[:] = 1.0
    return m


def pair_features(dataset: Dataset, events: pd.DataFrame, now: pd.Timestamp, text: np.ndarray,
                  categories: sp.csr_matrix, text_nbrs: np.ndarray, settings: PairSettings,
                  users: np.ndarray | None = None, available: np.ndarray | None = None) -> PairBatch:
    """Features of each user's ``C`` best new items, computed from ``events`` alone.

    Args:
        dataset: gives the vocabularies (events are indexed by its ``item_vocab``/``user_vocab``).
        events: identified events with times (the history; a fold's early part or all of
            the training data).
        now: the reference time (a fold's cut; the training data's last event).
        text: ``(I, D)`` item text vectors. categories: ``(I, K)`` from
            :func:`item_category_matrix`. text_nbrs: ``(I, k)`` text neighbours per item.
        users: whose candidates (default: every user with history).
        available: ``(I,)`` bool, the items that exist at this view's time (default: all);
            the others are never candidates (a fold of the past must not offer items
            that were launched only later: at serving, every never-sold item is new).
    """
    settings.check()
    n_users, n_items = dataset.n_users, dataset.n_items
    urow = dataset.user_vocab.indices(events["user_id"].to_numpy())
    icol = dataset.item_vocab.indices(events["item_id"].to_numpy())
    ts = events["ts"].to_numpy()
    last_ts = pd.Series(ts).groupby(urow).max()
    user_last = np.full(n_users, np.datetime64("NaT"), dtype="datetime64[ns]")
    user_last[last_ts.index.to_numpy()] = last_ts.to_numpy()
    age = (user_last[urow] - ts) / np.timedelta64(1, "D")                       # days before the user's last event
    X = _matrix(urow, icol, np.ones(len(urow)), (n_users, n_items))
    R = _matrix(urow, icol, 0.5 ** (age / settings.half_life_days), (n_users, n_items))
    L = _matrix(urow[age == 0], icol[age == 0], np.ones(int((age == 0).sum())), (n_users, n_items))
    if users is None:
        users = np.flatnonzero(np.diff(X.indptr) > 0)
    users = np.asarray(users, dtype=np.int64)
    if len(users) and (np.diff(X.indptr)[users] == 0).any():
        raise ConfigError("pair_features: every user must have history in events")
    base = TextEASE(settings.lam, settings.neighbours).fit_text(X, text)
    S = base.scores_of(X[users])                                                  # (n, I)
    had = X[users].toarray() > 0
    C = min(settings.candidates, n_items)
    if available is not None:
        if available.shape != (n_items,):
            raise ConfigError(f"available must have shape ({n_items},), got {available.shape}")
        had = had | ~available[None, :]
    masked = np.where(had, -np.inf, S)
    top = np.argpartition(-masked, C - 1, axis=1)[:, :C]
    order = np.lexsort((top, -np.take_along_axis(masked, top, axis=1)))           # score desc, index asc
    cand = np.take_along_axis(top, order, axis=1)                                 # (n, C)
    take = lambda m: np.take_along_axis(m, cand, axis=1)                          # noqa: E731
    Rn = sp.diags(1.0 / np.maximum(np.asarray(R.sum(axis=1)).ravel(), 1e-12)) @ R
    f: dict[str, np.ndarray] = {
        "ease": take(S),
        "ease_rank": np.broadcast_to(np.log1p(np.arange(C, dtype=np.float64)), cand.shape),
        "ease_recent": take(base.scores_of(Rn[users])),
        "ease_last": take(base.scores_of(L[users])),
        "nbr_ease": np.take_along_axis(S, text_nbrs[cand].reshape(len(users), -1), axis=1)
                      .reshape(len(users), C, -1).mean(axis=2),
    }
    t = (text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)).astype(np.float64)
    mean_prof, recent_prof = _unit(np.asarray(X[users] @ t)), _unit(np.asarray(R[users] @ t))   # (n, D)
    f["text_mean"], f["text_recent"], f["text_max"] = (np.zeros(cand.shape) for _ in range(3))
    for k, u in enumerate(users):                                                 # (C, D) per user
        tc = t[cand[k]]
        f["text_mean"][k], f["text_recent"][k] = tc @ mean_prof[k], tc @ recent_prof[k]
        f["text_max"][k] = (tc @ t[X.indices[X.indptr[u]:X.indptr[u + 1]]].T).max(axis=1)
    if categories.shape[1]:
        share = np.asarray((sp.diags(1.0 / np.maximum(np.diff(X.indptr)[users], 1)) @ (X[users] @ categories))
                           .todense())                                            # (n, K)
        per_item = np.maximum(np.asarray(categories.sum(axis=1)).ravel(), 1.0)
        cat_score = np.asarray((categories @ sp.csr_matrix(share.T)).todense()).T / per_item   # (n, I)
        f["category"] = take(cat_score)
    else:
        f["category"] = np.zeros(cand.shape)
    buyers = np.diff(X.tocsc().indptr).astype(np.float64)
    glob = settings.clock == "global"
    when = ((np.datetime64(now) - ts) / np.timedelta64(1, "D")) if glob else age   # days before the clock
    recent = when < settings.recent_days
    pop_recent = np.diff(_matrix(urow[recent], icol[recent], np.ones(int(recent.sum())),
                                 (n_users, n_items)).tocsc().indptr).astype(np.float64)
    first_buy = pd.Series(when).groupby([urow, icol]).max()                        # the pair's first purchase
    new_items = first_buy.index.get_level_values(1).to_numpy()[first_buy.to_numpy() < settings.recent_days]
    pop_new = np.bincount(new_items, minlength=n_items).astype(np.float64)
    item_age = np.zeros(n_items)
    if glob:
        first = pd.Series(ts).groupby(icol).min()
        item_age[first.index.to_numpy()] = (np.datetime64(now) - first.to_numpy()) / np.timedelta64(1, "D")
    f["pop"], f["pop_recent"], f["pop_new"] = (np.log1p(v)[cand] for v in (buyers, pop_recent, pop_new))
    f["item_age"], f["cold"] = np.log1p(np.maximum(item_age, 0.0))[cand], (buyers == 0)[cand].astype(np.float64)
    idle = (np.datetime64(now) - user_last[users]) / np.timedelta64(1, "D") if glob else np.zeros(len(users))
    f["user_size"] = np.broadcast_to(np.log1p(np.diff(X.indptr)[users])[:, None], cand.shape)
    f["user_idle"] = np.broadcast_to(np.log1p(np.maximum(idle, 0.0))[:, None], cand.shape)
    feats = np.stack([np.asarray(f[name], dtype=np.float32) for name in FEATURES], axis=2)
    return PairBatch(users, cand, feats, base, X)


def _matrix(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """``(U, I)`` csr holding, per (row, col), the largest of its values."""
    if not len(rows):
        return sp.csr_matrix(shape, dtype=np.float64)
    frame = pd.DataFrame({"r": rows, "c": cols, "v": vals}).groupby(["r", "c"], sort=True)["v"].max()
    r, c = frame.index.get_level_values(0).to_numpy(), frame.index.get_level_values(1).to_numpy()
    return sp.csr_matrix((frame.to_numpy(np.float64), (r, c)), shape=shape)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
