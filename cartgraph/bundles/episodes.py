"""Training episodes for the walk, cut from the training period by time.

An episode is a real bundle or basket of the training data: its first item is the
anchor and the walk should find the rest. To keep the episode's own items out of
the evidence the walk reads, the training period is cut by time
(:func:`time_split`): the item graph and the relevance model of the RL stage are
built only from events *before* the episodes; the latest episodes are the
validation slice (early stopping), all still inside the training period.

A catalogue of bundles without times (Steam) is cut by :func:`bundle_split` instead:
a seeded share of its bundles become episodes (rebuilt under a budget of their own
price) and leave the evidence the walk reads.

Data of users choosing bundles over time (BundleRec) can be cut by :func:`last_split`:
validation is each user's *last* training bundle, read against everything else, exactly
as the test reads the training data (``splits.last_bundle`` one step earlier), and the
training episodes are cut by time from the rest or cross-fitted over user groups
(:func:`user_folds`: each group's bundles read against the other users' data).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError

__all__ = ["Episode", "LastSplit", "episode_sources", "to_episodes", "time_split", "bundle_split", "last_split",
           "user_folds", "has_times", "has_user_bundles"]


@dataclasses.dataclass(frozen=True)
class Episode:
    """One real bundle/basket: ``user`` index (None: anonymous), ``anchors`` and ``target`` item
    indices, the walk's ``size``, its ``budget`` (None: none) and items it may not add
    (``exclude``: e.g. what the user already owns)."""

    user: int | None
    anchors: tuple[int, ...]
    target: frozenset[int]
    size: int
    budget: float | None = None
    exclude: frozenset[int] = frozenset()


def episode_sources(dataset: Dataset, kind: str = "both") -> pd.DataFrame:
    """Bundles users chose and/or identified baskets, with ≥ 2 distinct items.

    Args:
        kind: ``"bundles"``, ``"baskets"`` or ``"both"``.

    Returns columns ``user`` (index), ``ts``, ``key`` (bundle/basket id) and ``items``
    (item indices in bundle order / event order), sorted by ``(ts, key)``.
    """
    if kind not in ("bundles", "baskets", "both"):
        raise ConfigError(f"episode sources: kind must be 'bundles', 'baskets' or 'both', got {kind!r}")
    parts = []
    if kind != "baskets" and len(dataset.user_bundles):
        parts.append(_bundle_sources(dataset))
    if kind != "bundles":
        parts.append(_basket_sources(dataset))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["user", "ts", "key", "items"])
    frame = frame[frame["items"].map(lambda x: len(set(x))) >= 2]
    return frame.sort_values(["ts", "key"], kind="stable").reset_index(drop=True)


def _bundle_sources(dataset: Dataset) -> pd.DataFrame:
    """One row per user–bundle choice, members in bundle order."""
    members = dataset.bundles.set_index("bundle_id")["item_ids"]
    ub = dataset.user_bundles
    frame = pd.DataFrame({"user": dataset.user_vocab.indices(ub["user_id"].to_numpy()), "ts": ub["ts"].to_numpy(),
                          "key": ub["bundle_id"].astype(str).to_numpy()})
    frame["items"] = [list(dataset.item_vocab.indices(members[b])) for b in ub["bundle_id"]]
    frame["key"] = "bundle:" + frame["key"]
    return frame


def _basket_sources(dataset: Dataset) -> pd.DataFrame:
    """One row per identified basket, items in event order."""
    ev = dataset.events[dataset.events["basket_id"].notna() & dataset.events["user_id"].notna()
                        & dataset.events["kind"].isin(("cart", "purchase"))]
    ev = ev.drop_duplicates(["basket_id", "item_id"])
    items = dataset.item_vocab.indices(ev["item_id"].to_numpy())
    g = pd.DataFrame({"key": ev["basket_id"].astype(str).to_numpy(), "item": items,
                      "user": dataset.user_vocab.indices(ev["user_id"].to_numpy()), "ts": ev["ts"].to_numpy()})
    grouped = g.groupby("key", sort=False)
    frame = pd.DataFrame({"user": grouped["user"].first(), "ts": grouped["ts"].min(),
                          "items": grouped["item"].agg(list)}).reset_index()
    frame["key"] = "basket:" + frame["key"]
    return frame


def to_episodes(sources: pd.DataFrame, max_size: int) -> list[Episode]:
    """Episodes from :func:`episode_sources` rows: anchor = first item, target = the rest."""
    out = []
    for user, items in zip(sources["user"], sources["items"]):
        items = list(dict.fromkeys(int(i) for i in items))
        user = None if user is None or pd.isna(user) else int(user)
        out.append(Episode(user, (items[0],), frozenset(items[1:]), min(len(items), max_size)))
    return out


def has_times(dataset: Dataset, sources: str = "both") -> bool:
    """True when ≥ 10 episode sources exist and every one has a time (:func:`time_split` works)."""
    src = episode_sources(dataset, sources)
    return len(src) >= 10 and not src["ts"].isna().any()


def bundle_split(dataset: Dataset, graph_fraction: float, valid_fraction: float, max_episodes: int,
                 max_size: int, seed: int, max_valid: int | None = None) -> tuple[Dataset, list[Episode], list[Episode], sp.csr_matrix]:
    """:func:`time_split` for bundles without times: ``(graph_data, train, valid, pairs)``.

    A seeded ``1 − graph_fraction`` share of the bundles (the chosen ones when the data
    records choices, else the catalogue's) become episodes, ``valid_fraction`` of them
    validation; ``graph_data`` no longer holds them, so their co-membership is not evidence:
    chosen bundles leave as choices, and then every catalogue bundle that only those
    choices named (as :func:`time_split` does); a catalogue's bundles leave the catalogue.
    Each episode's ``budget`` is its items' summed price when every item has one (the
    budget-bundle task), else None.
    """
    if not (0 < graph_fraction < 1 and 0 < valid_fraction < 1):
        raise ConfigError(f"graph_fraction and valid_fraction must be in (0, 1), got {graph_fraction}, {valid_fraction}")
    chosen = len(dataset.user_bundles) > 0
    if chosen:
        src = _bundle_sources(dataset)
    else:
        b = dataset.bundles
        src = pd.DataFrame({"user": None, "ts": pd.NaT, "key": "bundle:" + b["bundle_id"].astype(str).to_numpy(),
                            "items": [list(dataset.item_vocab.indices(ids)) for ids in b["item_ids"]]})
    src = src[src["items"].map(lambda x: len(set(x))) >= 2].reset_index(drop=True)
    if len(src) < 10:
        raise ConfigError(f"{dataset.name}: RL tuning needs ≥ 10 bundles of ≥ 2 items, found {len(src)}")
    rng = np.random.default_rng(seed)
    later = src.iloc[np.sort(rng.permutation(len(src))[:max(2, int(len(src) * (1 - graph_fraction)))])]
    n_valid = max(1, int(len(later) * valid_fraction))
    order = rng.permutation(len(later))
    valid_src = later.iloc[np.sort(order[:n_valid])[:_n_valid(max_episodes, max_valid)]]
    train_src = later.iloc[np.sort(order[n_valid:])[:max_episodes]]
    gone = later["key"].str.slice(len("bundle:"))
    if chosen:  # drop those (user, bundle) choices, then the bundles only they named
        ub = dataset.user_bundles
        pairs_out = set(zip(dataset.user_vocab.external(later["user"].astype(int).tolist()), gone))
        pick = [(u, str(b)) in pairs_out for u, b in zip(ub["user_id"], ub["bundle_id"])]
        graph = _without_unchosen_bundles(dataset, dataset.replace(user_bundles=ub[~np.asarray(pick, dtype=bool)]))
    else:
        graph = dataset.replace(bundles=dataset.bundles[~dataset.bundles["bundle_id"].astype(str).isin(set(gone))])
    from cartgraph.bundles.metrics import pair_matrix

    pairs = pair_matrix([list(dict.fromkeys(x)) for x in later["items"]], dataset.n_items)
    price = _prices(dataset)
    return graph, _budgeted(train_src, max_size, price), _budgeted(valid_src, max_size, price), pairs


def _n_valid(max_episodes: int, max_valid: int | None) -> int:
    """Validation episodes kept: ``max_valid``, default a third of ``max_episodes`` (≥ 1)."""
    return max(1, max_episodes // 3 if max_valid is None else max_valid)


def _prices(dataset: Dataset) -> np.ndarray:
    """``(n_items,)`` prices in ``item_vocab`` order (NaN unknown)."""
    out = np.full(dataset.n_items, np.nan)
    out[dataset.item_vocab.indices(dataset.items["item_id"].to_numpy())] = dataset.items["price"].to_numpy(np.float64)
    return out


def _budgeted(sources: pd.DataFrame, max_size: int, price: np.ndarray) -> list[Episode]:
    """:func:`to_episodes` with budget = the bundle's summed item price when all are known."""
    out = []
    for ep, items in zip(to_episodes(sources, max_size), sources["items"]):
        p = price[list(dict.fromkeys(int(i) for i in items))]
        budget = float(p.sum()) if np.isfinite(p).all() and p.sum() > 0 else None
        out.append(dataclasses.replace(ep, budget=budget))
    return out


def time_split(dataset: Dataset, graph_fraction: float, valid_fraction: float, max_episodes: int,
               max_size: int, seed: int, sources: str = "both",
               max_valid: int | None = None) -> tuple[Dataset, list[Episode], list[Episode], sp.csr_matrix]:
    """``(graph_data, train_episodes, valid_episodes, pairs)`` from one training dataset.

    The earliest ``graph_fraction`` of the episode sources (by time) give a cut time
    ``t``; ``graph_data`` keeps only events and bundle choices before ``t``; the later
    sources become episodes, the last ``valid_fraction`` of them validation. At most
    ``max_episodes`` training and ``max_valid`` (default ``max_episodes // 3``) validation episodes are kept
    (a seeded sample). ``pairs`` (boolean ``(n_items, n_items)``) marks items that
    share any later bundle/basket: the "complements hit" of the reward.
    """
    if not (0 < graph_fraction < 1 and 0 < valid_fraction < 1):
        raise ConfigError(f"graph_fraction and valid_fraction must be in (0, 1), got {graph_fraction}, {valid_fraction}")
    src = episode_sources(dataset, sources)
    if len(src) < 10 or src["ts"].isna().any():
        raise ConfigError(f"{dataset.name}: RL tuning needs ≥ 10 timed bundles or baskets of ≥ 2 items, "
                          f"found {len(src)} ({int(src['ts'].isna().sum())} without a time)")
    cut = src["ts"].iloc[int(len(src) * graph_fraction)]
    later = src[src["ts"] >= cut]
    n_valid = max(1, int(len(later) * valid_fraction))
    train_src, valid_src = later.iloc[:-n_valid], later.iloc[-n_valid:]
    rng = np.random.default_rng(seed)
    train_src = train_src.iloc[np.sort(rng.permutation(len(train_src))[:max_episodes])]
    valid_src = valid_src.iloc[np.sort(rng.permutation(len(valid_src))[:_n_valid(max_episodes, max_valid)])]
    ev, ub = dataset.events, dataset.user_bundles
    graph = dataset.replace(events=ev[ev["ts"] < cut], user_bundles=ub[ub["ts"] < cut])
    graph = _without_unchosen_bundles(dataset, graph)
    from cartgraph.bundles.metrics import pair_matrix

    pairs = pair_matrix([list(dict.fromkeys(x)) for x in later["items"]], dataset.n_items)
    return graph, to_episodes(train_src, max_size), to_episodes(valid_src, max_size), pairs


def _without_unchosen_bundles(full: Dataset, graph: Dataset) -> Dataset:
    """``graph`` without the catalogue bundles that only its removed bundle choices named.

    A bundle's definition (its items) is the answer of an episode built from it, and a
    learned complement model reads the bundle catalogue, not only the choices; so a cut that
    removes choices removes the bundles nobody left in it chose (as the test split does).
    Bundles nobody ever chose stay."""
    gone = set(full.user_bundles["bundle_id"]) - set(graph.user_bundles["bundle_id"])
    if not gone:
        return graph
    return graph.replace(bundles=graph.bundles[~graph.bundles["bundle_id"].isin(gone)])


def has_user_bundles(dataset: Dataset, min_users: int = 10) -> bool:
    """True when ≥ ``min_users`` users chose ≥ 2 bundles, all with a time (:func:`last_split` works)."""
    ub = dataset.user_bundles
    if not len(ub) or ub["ts"].isna().any():
        return False
    return int((ub.groupby("user_id").size() >= 2).sum()) >= min_users


@dataclasses.dataclass(frozen=True)
class LastSplit:
    """:func:`last_split`'s result. Training episode ``train[j]`` is read against
    ``train_graphs[train_fold[j]]`` with reward pairs ``train_pairs[train_fold[j]]``;
    validation episode ``valid[j]`` against ``valid_graphs[valid_fold[j]]``, its metric pairs
    ``valid_pairs[valid_fold[j]]`` (for the last-bundle slice, fold 0: items sharing a
    held-out last bundle)."""

    train_graphs: list[Dataset]
    train: list[Episode]
    train_fold: list[int]
    train_pairs: list[sp.csr_matrix]
    valid_graphs: list[Dataset]
    valid: list[Episode]
    valid_fold: list[int]
    valid_pairs: list[sp.csr_matrix]


def user_folds(dataset: Dataset, folds: int, max_episodes: int, max_size: int, seed: int,
               sources: str = "both") -> tuple[list[Dataset], list[Episode], list[int], list[sp.csr_matrix]]:
    """Cross-fitted episodes: ``(graphs, episodes, fold of each episode, pairs per fold)``.

    Users are dealt into ``folds`` seeded groups. Every bundle/basket of a group's users
    is an episode read against ``graphs[k]`` = the data of *all other* users (the group's
    events and bundle choices removed), served as an anonymous shopper (``user=None``);
    ``pairs[k]`` marks items sharing one of the group's bundles/baskets (the complement
    reward). Nothing an episode is scored on is in the graph it reads, and items only the
    group bought are cold there, as most items of a user's next bundle are at test time.
    At most ``max_episodes`` episodes are kept (a seeded sample).
    """
    from cartgraph.bundles.metrics import pair_matrix

    if folds < 2:
        raise ConfigError(f"user folds: folds must be >= 2, got {folds}")
    rng = np.random.default_rng(seed)
    group = rng.integers(0, folds, size=dataset.n_users)
    src = episode_sources(dataset, sources)
    src = src[src["user"].notna()]
    src = src.iloc[np.sort(rng.permutation(len(src))[:max_episodes])]
    src_group = group[src["user"].astype(int).to_numpy()]
    ev, ub = dataset.events, dataset.user_bundles
    ev_group = np.full(len(ev), -1)
    known = ev["user_id"].notna().to_numpy()
    ev_group[known] = group[dataset.user_vocab.indices(ev.loc[known, "user_id"].to_numpy())]
    ub_group = group[dataset.user_vocab.indices(ub["user_id"].to_numpy())]
    graphs, pairs = [], []
    for k in range(folds):
        graphs.append(_without_unchosen_bundles(dataset, dataset.replace(events=ev[ev_group != k],
                                                                         user_bundles=ub[ub_group != k])))
        mine = src[src_group == k]
        pairs.append(pair_matrix([list(dict.fromkeys(x)) for x in mine["items"]], dataset.n_items))
    episodes = [dataclasses.replace(e, user=None) for e in to_episodes(src, max_size)]
    return graphs, episodes, [int(k) for k in src_group], pairs


def last_split(dataset: Dataset, graph_fraction: float, max_episodes: int, max_size: int, seed: int,
               sources: str = "both", max_valid: int | None = None, train_from: str = "time",
               folds: int = 5) -> LastSplit:
    """Validation = each user's last bundle of ``dataset``; training episodes from the rest.

    The validation slice mirrors the BundleRec test one step earlier
    (:func:`cartgraph.evaluation.splits.last_bundle` on the training data): the walk reads
    everything but those last bundles, the anchor is the bundle's first item, the target
    its other items that the user did not have before ("new" mode), the user's earlier
    items are excluded, and complement precision counts pairs of the held-out last
    bundles. At most ``max_valid`` (default ``max_episodes // 3``) validation episodes are
    kept, a seeded sample. Training episodes come from the remaining data, never from the
    validation bundles: ``train_from="time"``: :func:`time_split` (its own validation share
    folded back into training); ``"users"``: :func:`user_folds` with ``folds`` groups, of
    which the first is held out as more validation (anonymous episodes read against the
    other users' data: a larger slice whose recall and substitute-rate changes track the
    test's, see ``benchmarks/bundle_validation.py``).
    """
    from cartgraph.bundles.metrics import pair_matrix
    from cartgraph.evaluation import splits

    if train_from not in ("time", "users"):
        raise ConfigError(f"last_split: train_from must be 'time' or 'users', got {train_from!r}")
    if not has_user_bundles(dataset):
        raise ConfigError(f"{dataset.name}: the 'last' episode split needs ≥ 10 users with ≥ 2 timed bundle "
                          f"choices; use episodes='time' or 'bundles'")
    split = splits.last_bundle(dataset, mode="new")
    rest = split.train
    ub = dataset.user_bundles.assign(_order=dataset.bundle_vocab.indices(dataset.user_bundles["bundle_id"].to_numpy()))
    held = ub.sort_values(["user_id", "ts", "_order"], kind="stable").drop_duplicates("user_id", keep="last")
    members = dataset.bundles.set_index("bundle_id")["item_ids"]
    by_user = {str(u): b for u, b in zip(held["user_id"], held["bundle_id"])}
    owned = rest.interactions().tocsr()
    valid = []
    for u in split.users:
        bundle = by_user[rest.user_vocab.external(int(u))]
        items = list(dict.fromkeys(int(i) for i in rest.item_vocab.indices(members[bundle])))
        target = frozenset(split.test[u].indices.tolist()) - {items[0]}
        if len(items) >= 2 and target:
            valid.append(Episode(int(u), (items[0],), target, min(len(items), max_size),
                                 exclude=frozenset(owned[u].indices.tolist()) - {items[0]}))
    rng = np.random.default_rng(seed)
    valid = [valid[i] for i in np.sort(rng.permutation(len(valid))[:_n_valid(max_episodes, max_valid)])]
    valid_pairs = pair_matrix([list(dict.fromkeys(int(i) for i in rest.item_vocab.indices(members[b])))
                               for b in held["bundle_id"]], dataset.n_items)
    valid_graphs, valid_fold, valid_pair_list = [rest], [0] * len(valid), [valid_pairs]
    if train_from == "users":
        graphs, episodes, fold, pairs = user_folds(rest, folds, max_episodes, max_size, seed, sources)
        extra = [e for e, k in zip(episodes, fold) if k == 0][:_n_valid(max_episodes, max_valid)]
        valid, valid_fold = valid + extra, valid_fold + [1] * len(extra)
        valid_graphs, valid_pair_list = valid_graphs + [graphs[0]], valid_pair_list + [pairs[0]]
        train = [e for e, k in zip(episodes, fold) if k != 0]
        fold, graphs, pairs = [k - 1 for k in fold if k != 0], graphs[1:], pairs[1:]
    else:
        graph, train, more, train_pairs = time_split(rest, graph_fraction, 0.1, max_episodes, max_size, seed,
                                                     sources, max_valid=max_episodes)
        train = (train + more)[:max_episodes]
        graphs, fold, pairs = [graph], [0] * len(train), [train_pairs]
    if not valid or not train:
        raise ConfigError(f"{dataset.name}: the 'last' episode split found {len(train)} training and "
                          f"{len(valid)} validation episodes")
    return LastSplit(graphs, train, fold, pairs, valid_graphs, valid, valid_fold, valid_pair_list)
