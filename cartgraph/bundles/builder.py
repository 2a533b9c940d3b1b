"""The public bundle builder: :class:`BundleBuilder`.

    builder = BundleBuilder(size=5).fit(dataset, item_vectors)        # RL-tuned by default
    [bundle] = builder.build("12345", budget=60.0, anchor="85123A")
    print(bundle.describe())
    builder.feedback(bundle, accepted=[bundle.items[1]], rejected=[bundle.items[2]])
    builder.save("runs/bundles"); BundleBuilder.load("runs/bundles", relevance=...)

``fit`` flattens the item graph into neighbour arrays (:class:`ItemTables`), fits the
relevance model, and (unless ``rl=None``) tunes the walk's weights with RL on the
training period cut by time (:mod:`.episodes`, :mod:`.rl`). ``build`` walks the arrays:
no graph is built per request.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from cartgraph.atomic import atomic_dir
from cartgraph.bundles.bundle import Bundle, explain
from cartgraph.bundles.complements import as_complement_matrix, co_purchase_matrix
from cartgraph.bundles.constraints import Availability, Constraints
from cartgraph.bundles.features import FEATURES, USER_FEATURES
from cartgraph.bundles.episodes import Episode, bundle_split, has_times, last_split, time_split
from cartgraph.bundles.feedback import apply_feedback
from cartgraph.bundles.policy import HAND_WEIGHTS, LinearPolicy
from cartgraph.bundles.relevance import MatrixRelevance, PopularityRelevance, Relevance, standardize
from cartgraph.bundles.rl import RLConfig, plot_curve, train_policy
from cartgraph.bundles.tables import ItemTables, LexicalIndex, item_titles
from cartgraph.bundles.walk import Request, Step, beam_decode, decode, frontier
from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, NotFittedError

__all__ = ["BundleBuilder", "default_relevance"]

_FORMAT, _VERSION = "cartgraph-bundle-builder", 1


def default_relevance(dataset: Dataset) -> Relevance:
    """ItemKNN (cosine, top-100) on ``dataset``'s interactions; popularity for anonymous users."""
    from cartgraph.baselines import ItemKNN

    buyers = np.asarray(dataset.interactions().sum(axis=0)).ravel().astype(np.float32)
    return MatrixRelevance(ItemKNN().fit(dataset), fallback=buyers)


class BundleBuilder:
    """Builds bundles by an RL-tuned walk over the item graph.

    Args:
        size: default bundle size (anchors included).
        top_user: the user's most relevant items added to every frontier.
        k_complements, k_similar, k_category, k_lexical: neighbour-list widths (see :class:`ItemTables`).
        weights: starting / fixed policy weights by feature name (default :data:`HAND_WEIGHTS`).
        rl: RL settings; ``None`` keeps ``weights`` as they are (the "RL off" walk).
        beam_width: beam width when ``n > 1`` bundles are asked for.
        feedback_lr: step size of :meth:`feedback`.
        curve_path: where ``fit`` saves the RL learning curve (PNG); None: not saved.
        avoid_substitutes: the walk never adds a substitute of a chosen item (same leaf
            category, text cosine > 0.9); False leaves it to the policy's penalty.
    """

    def __init__(self, *, size: int = 5, top_user: int = 50, k_complements: int = 30, k_similar: int = 10,
                 k_category: int = 10, k_lexical: int = 10, weights: dict[str, float] | None = None,
                 rl: RLConfig | None = RLConfig(),
                 beam_width: int = 4, feedback_lr: float = 0.5, curve_path: str | Path | None = None,
                 avoid_substitutes: bool = True) -> None:
        self.size, self.top_user, self.beam_width, self.feedback_lr = size, top_user, beam_width, feedback_lr
        self.avoid_substitutes = avoid_substitutes
        self.k = {"k_complements": k_complements, "k_similar": k_similar, "k_category": k_category,
                  "k_lexical": k_lexical}
        self.weights = dict(HAND_WEIGHTS if weights is None else weights)
        self.rl, self.curve_path = rl, curve_path
        Constraints(size=size)
        if top_user < 1 or beam_width < 1 or min(self.k.values()) < 0:
            raise ConfigError(f"top_user and beam_width must be ≥ 1 and list widths ≥ 0, got {top_user}, "
                              f"{beam_width}, {self.k}")

    # ------------------------------------------------------------------ fitting
    def fit(self, dataset: Dataset, item_vectors: np.ndarray, *,
            relevance: Callable[[Dataset], Relevance] | Relevance | None = None,
            complements: Any = None, seed: int = 0, progress: bool = False) -> "BundleBuilder":
        """Learn from ``dataset`` (training data only); return ``self``.

        Args:
            item_vectors: ``(n_items, dim)`` text vectors in ``item_vocab`` order.
            relevance: a factory ``Dataset → Relevance`` (default :func:`default_relevance`),
                called on the pre-episode data for RL and on ``dataset`` for serving; or a
                fitted :class:`Relevance`, then used for both (it must not have seen the RL
                episodes, or RL learns to trust it too much).
            complements: None (co-purchase lift of each data cut), a factory
                ``Dataset → matrix``, or any source :func:`as_complement_matrix` accepts
                (a learned complement model), used as given.
            seed: fixes the RL episodes' sample and rollouts.
        """
        policy = LinearPolicy.from_dict(self.weights)
        self.history_: list[dict[str, float]] = []
        self._lexical = LexicalIndex.build(item_titles(dataset), self.k["k_lexical"])  # shared by every data cut
        if self.rl is not None:
            cfg = self.rl
            rel_of = lambda data: _resolve(relevance, data)  # noqa: E731
            if cfg.episodes == "users":  # anonymous episodes: the shopper features are not learned there
                cfg = dataclasses.replace(cfg, frozen=tuple(dict.fromkeys(cfg.frozen + USER_FEATURES)))
            if cfg.episodes in ("last", "users"):
                cut = last_split(dataset, cfg.graph_fraction, cfg.max_episodes, cfg.max_size, seed, cfg.sources,
                                 cfg.max_valid, train_from="time" if cfg.episodes == "last" else "users")
                makers = [self._maker(g, item_vectors, complements, rel_of) for g in cut.train_graphs]
                valid_makers = [self._maker(g, item_vectors, complements, rel_of) for g in cut.valid_graphs]
                requests = [makers[k](e) for e, k in zip(cut.train, cut.train_fold)]  # each reads its own fold
                make_valid = [valid_makers[k](e) for e, k in zip(cut.valid, cut.valid_fold)]
                policy, self.history_ = train_policy(requests, cut.train, cut.valid, policy, cfg, seed, progress,
                                                     [cut.train_pairs[k] for k in cut.train_fold],
                                                     make_valid_request=make_valid,
                                                     valid_pairs=[cut.valid_pairs[k] for k in cut.valid_fold],
                                                     train_groups=cut.train_fold)
            else:
                by_time = cfg.episodes == "time" or (cfg.episodes == "auto" and has_times(dataset, cfg.sources))
                if by_time:
                    graph, train, valid, pairs = time_split(dataset, cfg.graph_fraction, cfg.valid_fraction,
                                                            cfg.max_episodes, cfg.max_size, seed, cfg.sources,
                                                            cfg.max_valid)
                else:
                    graph, train, valid, pairs = bundle_split(dataset, cfg.graph_fraction, cfg.valid_fraction,
                                                              cfg.max_episodes, cfg.max_size, seed, cfg.max_valid)
                make = self._maker(graph, item_vectors, complements, rel_of)
                policy, self.history_ = train_policy(make, train, valid, policy, cfg, seed, progress, pairs)
            if self.curve_path is not None:
                plot_curve(self.history_, self.curve_path, f"bundle walk RL: {dataset.name}")
        self.tables_ = self._tables(dataset, item_vectors, complements)
        self.relevance_ = _resolve(relevance, dataset)
        self.policy_ = policy
        self.user_ids_ = np.asarray(dataset.user_vocab.ids, dtype=object)
        self.owned_ = dataset.interactions().tocsr()
        self.n_feedback_ = 0
        del self._lexical
        return self

    def _maker(self, data: Dataset, vectors: np.ndarray, complements: Any,
               relevance: Callable[[Dataset], Relevance]) -> Callable[[Episode], Request]:
        """Episode → walk request reading ``data`` only (its tables, relevance and owned items)."""
        tables, rel, owned = self._tables(data, vectors, complements), relevance(data), data.interactions().tocsr()
        return lambda e: self._request(tables, rel, e.user, e.anchors,
                                       Constraints(size=e.size, budget=e.budget, exclude=e.exclude), owned)

    def _tables(self, dataset: Dataset, vectors: np.ndarray, complements: Any) -> ItemTables:
        if complements is None:
            comp = co_purchase_matrix(dataset)
        elif callable(complements) and not hasattr(complements, "complement_matrix"):
            comp = as_complement_matrix(complements(dataset), dataset.n_items)
        else:
            comp = as_complement_matrix(complements, dataset.n_items)
        return ItemTables.build(dataset, vectors, comp, **self.k, lexical=getattr(self, "_lexical", None))

    def _request(self, tables: ItemTables, relevance: Relevance, user: int | None, anchors: tuple[int, ...],
                 constraints: Constraints, owned: sp.csr_matrix) -> Request:
        raw = np.asarray(tables.popularity if user is None else relevance.scores(user), dtype=np.float32)
        if raw.shape != (tables.n_items,):
            raise ConfigError(f"relevance.scores: expected shape ({tables.n_items},), found {raw.shape}")
        k = min(self.top_user, tables.n_items)
        top = np.argpartition(-raw, k - 1)[:k]
        top = top[np.lexsort((top, -raw[top]))]
        profile = None
        if user is not None and owned[user].nnz:
            p = tables.vectors[owned[user].indices].sum(axis=0)
            profile = p / max(float(np.linalg.norm(p)), 1e-9)
        return Request(tables, standardize(raw), top, constraints, tuple(int(a) for a in anchors), profile,
                       self.avoid_substitutes)

    # ------------------------------------------------------------------ serving
    def request(self, user: int | None, anchors: Iterable[int], constraints: Constraints) -> Request:
        """A prepared walk request on indices (for baselines and evaluation on the same footing)."""
        self._check_fitted()
        return self._request(self.tables_, self.relevance_, user, tuple(anchors), constraints, self.owned_)

    def build(self, user: str | None = None, size: int | None = None, budget: float | None = None,
              anchor: str | Iterable[str] | None = None, n: int = 1, exclude: Iterable[str] = (),
              seed: int = 0, *, temperature: float | None = None, max_per_category: int | None = None,
              available: Availability | None = None, exclude_owned: bool = False) -> list[Bundle]:
        """Up to ``n`` bundles for ``user`` (external id; None for an anonymous shopper).

        Args:
            size: items per bundle, anchors included (default: the builder's ``size``).
            budget: the most a bundle may cost; items without a price are then skipped.
            anchor: item id(s) already in the cart; the bundle grows from them.
            n: bundles wanted (beam search; fewer if the frontier runs out).
            exclude: item ids never to add.  exclude_owned: also skip items the user bought.
            seed, temperature: with a temperature the walk samples (seeded) instead of
                decoding greedily / by beam; the same seed gives the same bundles.
            max_per_category: cap on items of one leaf category.  available: stock hook.
        """
        self._check_fitted()
        vocab, items = self._positions()
        if user is not None and str(user) not in vocab:
            raise ConfigError(f"user: unknown user id {user!r} (pass user=None for an anonymous shopper)")
        u = None if user is None else vocab[str(user)]
        anchors = [] if anchor is None else [anchor] if isinstance(anchor, str) else list(anchor)
        bad = [a for a in [*anchors, *exclude] if str(a) not in items]
        if bad:
            raise ConfigError(f"anchor/exclude: unknown item id {bad[0]!r}")
        excl = {items[str(e)] for e in exclude}
        if exclude_owned and u is not None:
            excl |= set(self.owned_[u].indices.tolist())
        c = Constraints(size=self.size if size is None else size, budget=budget, max_per_category=max_per_category,
                        exclude=frozenset(excl), available=available)
        return self.build_indices(u, [items[str(a)] for a in anchors], c, n=n, seed=seed, temperature=temperature)

    def _positions(self) -> tuple[dict[str, int], dict[str, int]]:
        """External id → index for users and items (cached)."""
        if getattr(self, "_pos", None) is None or self._pos[0] is not self.user_ids_:
            self._pos = (self.user_ids_, {u: i for i, u in enumerate(self.user_ids_)},
                         {it: k for k, it in enumerate(self.tables_.item_ids)})
        return self._pos[1], self._pos[2]

    def build_indices(self, user: int | None, anchors: list[int], constraints: Constraints, *, n: int = 1,
                      seed: int = 0, temperature: float | None = None) -> list[Bundle]:
        """:meth:`build` on indices (user index, item indices) with prepared constraints."""
        self._check_fitted()
        if n < 1:
            raise ConfigError(f"n must be ≥ 1, got {n!r}")
        if len(set(anchors)) != len(anchors) or len(anchors) > constraints.size:
            raise ConfigError(f"anchor: {len(anchors)} items (distinct required) do not fit size {constraints.size}")
        t = self.tables_
        if constraints.budget is not None and float(np.nansum(t.price[anchors])) > constraints.budget:
            raise ConfigError(f"budget {constraints.budget} is below the anchors' price {np.nansum(t.price[anchors]):.2f}")
        req = self._request(t, self.relevance_, user, tuple(anchors), constraints, self.owned_)
        if temperature is not None:
            policy = LinearPolicy(self.policy_.weights, temperature)
            rng = np.random.default_rng(seed)
            walks = [decode(req, policy, rng) for _ in range(n)]
            found = [(b, s, float(sum(policy.scores(x.feats)[x.action] for x in s))) for b, s in walks]
        elif n == 1:
            b, s = decode(req, self.policy_)
            found = [(b, s, float(sum(self.policy_.scores(x.feats)[x.action] for x in s)))]
        else:
            found = beam_decode(req, self.policy_, n, max(n, self.beam_width))
        return [self._bundle(req, user, b, s, score) for b, s, score in found]

    def _bundle(self, req: Request, user: int | None, items: list[int], steps: list[Step], score: float) -> Bundle:
        t, c, na = self.tables_, req.constraints, len(req.anchors)
        texts, feats = ["in the cart"] * na, [{}] * na
        for j, s in enumerate(steps):
            before = items[:na + j]
            left = None if c.budget is None else c.budget - float(np.nansum(t.price[before]))
            texts.append(explain(t, s.item, before, s.feats[s.action], left))
            feats.append(dict(zip(FEATURES, (float(x) for x in s.feats[s.action]))))
        prices = t.price[items]
        total = float(np.nansum(prices)) if np.isfinite(prices).any() else float("nan")
        return Bundle(tuple(t.item_ids[items]), tuple(items), tuple(t.titles[items]), tuple(texts), tuple(feats),
                      total, score, user, na, tuple(steps))

    # ------------------------------------------------------------------ online feedback
    def feedback(self, bundle: Bundle, accepted: Iterable[str] = (), rejected: Iterable[str] = ()) -> "BundleBuilder":
        """Learn from a shopper's answer to ``bundle`` (item ids accepted / rejected); return ``self``.

        A bundle from :meth:`build` carries its logged steps; a bundle rebuilt elsewhere
        (no steps) is replayed through the current walk to recover them.
        """
        self._check_fitted()
        pos = {i: k for k, i in enumerate(bundle.items)}
        bad = [i for i in [*accepted, *rejected] if i not in pos]
        if bad:
            raise ConfigError(f"feedback: item {bad[0]!r} is not in the bundle {list(bundle.items)}")
        idx = lambda ids: [bundle.indices[pos[i]] for i in ids]  # noqa: E731
        steps = bundle.steps or self._replay(bundle)
        self.policy_ = apply_feedback(self.policy_, steps, idx(accepted), idx(rejected), self.feedback_lr,
                                      self.n_feedback_)
        self.n_feedback_ += 1
        return self

    def _replay(self, bundle: Bundle) -> list[Step]:
        items = list(bundle.indices)
        req = self._request(self.tables_, self.relevance_, bundle.user, tuple(items[:bundle.anchors]),
                            Constraints(size=len(items)), self.owned_)
        steps = []
        for j in range(bundle.anchors, len(items)):
            cands, feats = frontier(req, items[:j])
            hit = np.flatnonzero(cands == items[j])
            if len(hit):
                steps.append(Step(cands, feats, int(hit[0]), opening=j == 0))
        return steps

    # ------------------------------------------------------------------ persistence
    @property
    def weights_(self) -> dict[str, float]:
        """The current policy weights by feature name."""
        self._check_fitted()
        return self.policy_.as_dict()

    def save(self, path: str | Path) -> None:
        """Write the fitted builder (tables, weights, feedback count, curve) to folder ``path``, atomically.

        The relevance model is not saved: pass it again to :meth:`load`.
        """
        self._check_fitted()
        with atomic_dir(path) as tmp:
            self.tables_.save(tmp)
            sp.save_npz(tmp / "owned.npz", self.owned_)
            settings = {"size": self.size, "top_user": self.top_user, **self.k, "beam_width": self.beam_width,
                        "feedback_lr": self.feedback_lr, "weights": self.weights,
                        "avoid_substitutes": self.avoid_substitutes}
            state = {"format": _FORMAT, "version": _VERSION, "settings": settings,
                     "rl": None if self.rl is None else dataclasses.asdict(self.rl),
                     "policy": self.policy_.as_dict(), "temperature": self.policy_.temperature,
                     "n_feedback": self.n_feedback_, "history": self.history_, "user_ids": self.user_ids_.tolist()}
            (tmp / "builder.json").write_text(json.dumps(state))

    @classmethod
    def load(cls, path: str | Path, relevance: Relevance | None = None) -> "BundleBuilder":
        """Read a builder written by :meth:`save`; ``relevance`` (fitted) serves users,
        popularity when None."""
        path = Path(path)
        state = json.loads((path / "builder.json").read_text())
        if state.get("format") != _FORMAT or state.get("version") != _VERSION:
            raise ConfigError(f"{path}: expected a {_FORMAT} version {_VERSION} folder, found "
                              f"{state.get('format')} version {state.get('version')}")
        rl = None if state["rl"] is None else RLConfig(**state["rl"])
        self = cls(**state["settings"], rl=rl)
        self.tables_ = ItemTables.load(path)
        self.owned_ = sp.load_npz(path / "owned.npz").tocsr()
        self.policy_ = LinearPolicy.from_dict(state["policy"], state["temperature"])
        self.n_feedback_, self.history_ = int(state["n_feedback"]), state["history"]
        self.user_ids_ = np.asarray(state["user_ids"], dtype=object)
        self.relevance_ = relevance if relevance is not None else PopularityRelevance(self.tables_.popularity)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "policy_"):
            raise NotFittedError("BundleBuilder is not fitted yet; call fit(dataset, item_vectors) first")


def _resolve(relevance: Any, dataset: Dataset) -> Relevance:
    if relevance is None:
        return default_relevance(dataset)
    if hasattr(relevance, "scores"):
        return relevance
    if callable(relevance):
        return relevance(dataset)
    raise ConfigError(f"relevance: expected a factory Dataset → Relevance or an object with scores(user), "
                      f"found {type(relevance).__name__}")
