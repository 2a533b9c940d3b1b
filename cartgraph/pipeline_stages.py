"""The five stages :meth:`cartgraph.Recommender.fit` runs, one function each.

Each stage function takes ``(recommender, dataset, progress)``, sets the learned
attribute(s) of its stage on the recommender and returns ``(status, detail)`` with
status ``"done"``, ``"disabled"`` (off in the config) or ``"unavailable"`` (the
subpackage it needs is not in this installation, or an earlier stage it needs did
not run). Nothing is reported done that did not run.
"""
from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from cartgraph.dataset import Dataset

__all__ = ["STAGE_FUNCTIONS", "build_bundles", "bundle_relevance", "choose_count_weight", "complement_reason",
           "complement_score", "complement_source", "complements_of", "fit_model_on", "graph_with_complements",
           "make_complement_model", "make_model", "optional_import", "GRAPH_RANKER_CANDIDATES",
           "GRAPH_RANKER_VALID_FRACTION"]


def optional_import(module: str, name: str) -> Any | None:
    """``module.name``, or None when the module is not installed (a stage not landed yet)."""
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.startswith(exc.name):
            return None
        raise
    except AttributeError:
        return None


def fit_text(rec, dataset: Dataset, progress: bool) -> tuple[str, str]:
    """Item text → ``rec.item_vectors_`` ``(n_items, dim)`` float32, item-index order."""
    cfg = rec.config.text
    if not cfg.enabled:
        return "disabled", "text.enabled is False"
    from cartgraph.text import TextEncoder, item_vectors

    rec.item_vectors_ = item_vectors(dataset, TextEncoder(cfg.model, cache=True if cfg.cache else None))
    return "done", f"{rec.item_vectors_.shape[0]} items encoded, dim {rec.item_vectors_.shape[1]}"


def fit_graph(rec, dataset: Dataset, progress: bool) -> tuple[str, str]:
    """The knowledge graph (with SIMILAR_TO edges when item vectors exist) → ``rec.graph_``."""
    from cartgraph.graph import build

    cfg = rec.config.graph
    rec.graph_ = build(dataset, rec.item_vectors_, similar_k=cfg.similar_k if rec.item_vectors_ is not None else 0,
                       co_purchase_min_count=cfg.co_purchase_min_count)
    counts = rec.graph_.counts()
    rels = sum(v for key, v in counts.items() if key.isupper())
    return "done", f"{sum(counts[k] for k in ('User', 'Item', 'Category', 'Bundle'))} nodes, {rels} relationships"


GRAPH_RANKER_CANDIDATES = 200
"""Items per user the facade's graph ranker re-ranks (the benchmark's setting)."""
GRAPH_RANKER_VALID_FRACTION = 0.2
"""Share of the graph ranker's training users held out for early stopping in the facade."""


def make_model(rec, progress: bool = False) -> Any:
    """An unfitted recommender model for ``rec.config.model`` (None when not installed)."""
    cfg, seed = rec.config.model, rec.config.seed
    if cfg.name == "ease":
        from cartgraph.baselines import EASE

        return EASE(cfg.ease_lambda)
    if cfg.name == "itemknn":
        from cartgraph.baselines import ItemKNN

        return ItemKNN(cfg.n_neighbors)
    if cfg.name == "graph_ranker":
        from cartgraph.gnn import TextGraphRanker

        return TextGraphRanker(cfg.ease_lambda, "auto", GRAPH_RANKER_CANDIDATES, fold=cfg.ranker_fold, features="auto",
                               epochs=cfg.epochs, seed=seed, valid_fraction=GRAPH_RANKER_VALID_FRACTION)
    if cfg.name == "lightgcn":
        from cartgraph.gnn import LightGCN

        return LightGCN(cfg.embedding_dim, cfg.num_layers, epochs=cfg.epochs, lr=cfg.lr, seed=seed,
                        eval_every=0, progress=progress)
    hetero = optional_import("cartgraph.gnn.hetero", "TextHeteroGNN")
    if hetero is None:
        return None
    return hetero(cfg.embedding_dim, cfg.num_layers, epochs=cfg.epochs, lr=cfg.lr, seed=seed, eval_every=0,
                  progress=progress)


def fit_model_on(rec, model: Any, data: Dataset) -> Any:
    """``model`` fitted on ``data``; the text-aware models get the facade's item vectors."""
    if type(model).__name__ in ("TextHeteroGNN", "TextGraphRanker"):
        return model.fit(data, item_vectors=rec.item_vectors_)
    return model.fit(data)


def fit_model(rec, dataset: Dataset, progress: bool) -> tuple[str, str]:
    """The recommender model (``rec.config.model.name``) fitted on every interaction → ``rec.model_``."""
    model = make_model(rec, progress)
    if model is None:
        return "unavailable", f"model {rec.config.model.name!r}: cartgraph.gnn.hetero is not in this installation"
    rec.model_ = fit_model_on(rec, model, dataset)
    return "done", f"{type(model).__name__} on {rec.seen_.nnz} user-item pairs"


COMPLEMENT_BATCH_SIZE = 8192
"""Training pairs per gradient step of the facade's complement model."""


def make_complement_model(rec, data: Dataset, progress: bool = False, count_weight: float | str = 0.0) -> Any:
    """An unfitted :class:`~cartgraph.gnn.ComplementModel` for ``rec.config.complements``
    and ``data``, serving with ``count_weight`` (``"auto"``: chosen among the model's
    :data:`~cartgraph.gnn.complements.COUNT_WEIGHTS` on ``fit``'s ``valid`` groups); None
    when it is not installed or ``data`` has no two items in one basket or bundle (nothing
    to learn from). Early stopping is off; epochs are raised so that training takes at
    least ``min_steps`` steps on ``data``'s training pairs."""
    model = optional_import("cartgraph.gnn.complements", "ComplementModel")
    if model is None:
        return None
    from cartgraph.gnn.complement_pairs import co_occurrence, positive_pairs

    cfg = rec.config.complements
    probe = model(cfg.embedding_dim, per_item=cfg.per_item, weight_by_count=False, progress=False)
    src, _ = positive_pairs(co_occurrence(data, bundle_weight=probe.bundle_weight), cfg.per_item, probe.min_count)
    if not len(src):
        return None
    steps_per_epoch = -(-len(src) // COMPLEMENT_BATCH_SIZE)
    epochs = max(cfg.epochs, -(-cfg.min_steps // steps_per_epoch))
    return model(cfg.embedding_dim, per_item=cfg.per_item, weight_by_count=False, epochs=epochs,
                 batch_size=COMPLEMENT_BATCH_SIZE, eval_every=0, seed=rec.config.seed, progress=progress,
                 count_weight=count_weight)


def choose_count_weight(rec, dataset: Dataset) -> tuple[float, str]:
    """``(weight, how)``: the complement model's ``count_weight`` for ``dataset``.

    A number in ``rec.config.complements.count_weight`` is used as given. ``"auto"`` fits
    the model without the latest baskets (:func:`~cartgraph.gnn.complement_holdout.latest_baskets`)
    and takes the weight with the best precision@10 on them; with too few baskets to hold
    out, :data:`~cartgraph.config.AUTO_COUNT_WEIGHT_FALLBACK`.
    """
    from cartgraph.config import AUTO_COUNT_WEIGHT_FALLBACK
    from cartgraph.gnn.complement_holdout import latest_baskets

    cfg = rec.config.complements
    if cfg.count_weight != "auto":
        return float(cfg.count_weight), "count weight set"
    holdout = latest_baskets(dataset, cfg.valid_fraction)
    model = None if holdout is None else make_complement_model(rec, holdout.train, count_weight="auto")
    if model is None:
        return AUTO_COUNT_WEIGHT_FALLBACK, "count weight: too few baskets to hold out, default"
    model.fit(holdout.train, item_vectors=rec.item_vectors_, valid=holdout.groups)
    n = holdout.groups["group_id"].nunique()
    return model.count_weight_, (f"count weight chosen on the latest {n} baskets (P@10 "
                                 f"{model.count_weight_scores_[model.count_weight_]:.3f}; learned alone "
                                 f"{model.count_weight_scores_[0.0]:.3f})")


def make_complement_ranker(rec, data: Dataset) -> Any:
    """A :class:`~cartgraph.gnn.ComplementRanker` fitted on ``data`` for ``rec.config``: its
    scorer trained on ``data``'s own holdouts (the latest ``complements.valid_fraction`` of
    the baskets, rolled back once, and each user's last bundle), or untrained (the raw
    co-purchase order) when there are too few to hold out; None when it is not installed or
    no two items of ``data`` share a basket or bundle."""
    ranker = optional_import("cartgraph.gnn.complement_ranker", "ComplementRanker")
    if ranker is None:
        return None
    from cartgraph.gnn.complement_holdout import default_holdouts
    from cartgraph.gnn.complement_pairs import co_occurrence

    if not co_occurrence(data).nnz:
        return None
    cfg = rec.config.complements
    model = ranker(seed=rec.config.seed, holdout_fraction=cfg.valid_fraction, valid_k=cfg.k)
    holdouts = default_holdouts(data, cfg.valid_fraction, model.n_rolling)
    if not holdouts:
        model = ranker(epochs=0, seed=rec.config.seed)
    return model.fit(data, item_vectors=rec.item_vectors_, holdouts=holdouts or None)


def fit_complements(rec, dataset: Dataset, progress: bool) -> tuple[str, str]:
    """Learned COMPLEMENTS (``complements.model``: :class:`cartgraph.gnn.ComplementRanker` or
    :class:`cartgraph.gnn.ComplementModel`) → ``rec.complements_``.

    Unavailable (not an error) without item text vectors, or when no two items share a
    basket or bundle: there is nothing to learn complements from.
    """
    cfg = rec.config.complements
    if not cfg.enabled:
        return "disabled", "complements.enabled is False"
    if rec.item_vectors_ is None:
        return "unavailable", "the complement model learns from item text vectors; the text stage did not run"
    nothing = f"{dataset.name}: no two items share a basket or bundle; nothing to learn complements from"
    if cfg.model == "ranker":
        if optional_import("cartgraph.gnn.complement_ranker", "ComplementRanker") is None:
            return "unavailable", "cartgraph.gnn.complement_ranker (ComplementRanker) is not in this installation"
        model = make_complement_ranker(rec, dataset)
        if model is None:
            return "unavailable", nothing
        rec.complements_ = model
        if not model.n_train_anchors_:
            return "done", f"ComplementRanker ({model.name}): too few baskets or bundles to hold out, raw co-purchase order"
        v = model.valid_precision_
        return "done", (f"ComplementRanker ({model.name}), scorer trained on {model.n_train_anchors_} anchors of held-out "
                        f"baskets/bundles, {model.history_.best_epoch} epochs kept; validation P@{model.valid_k} "
                        f"{v['start']:.3f} (co-purchase order) -> {v['kept']:.3f}")
    if optional_import("cartgraph.gnn.complements", "ComplementModel") is None:
        return "unavailable", "cartgraph.gnn.complements (ComplementModel) is not in this installation"
    weight, how = choose_count_weight(rec, dataset)  # no pairs here: none in its holdout either, so no fit
    model = make_complement_model(rec, dataset, progress, count_weight=weight)
    if model is None:
        return "unavailable", nothing
    rec.complements_ = model.fit(dataset, item_vectors=rec.item_vectors_)
    return "done", (f"{type(model).__name__} ({model.name}), {model.config.epochs} epochs on {model.n_pairs_} "
                    f"basket/bundle pairs, {how}: {weight:g}")


def fit_bundles(rec, dataset: Dataset, progress: bool) -> tuple[str, str]:
    """The bundle policy (:class:`cartgraph.bundles.BundleBuilder`, RL-tuned walk) → ``rec.bundler_``.

    Relevance comes from the facade's own recommender model: refitted on the data before
    the RL episodes while tuning (so RL never trusts a model that saw them), the fitted
    ``rec.model_`` when serving.
    """
    cfg = rec.config.bundles
    if not cfg.enabled:
        return "disabled", "bundles.enabled is False"
    builder = optional_import("cartgraph.bundles", "BundleBuilder")
    if builder is None:
        return "unavailable", "cartgraph.bundles (BundleBuilder) is not in this installation"
    if rec.item_vectors_ is None or rec.model_ is None:
        return "unavailable", "the bundle walk needs the text and model stages, which did not run"
    from cartgraph.bundles import RLConfig

    def relevance(data: Dataset):
        return bundle_relevance(rec, rec.model_ if data is dataset else fit_model_on(rec, make_model(rec), data), data)

    rl = RLConfig(epochs=cfg.rl_epochs, max_episodes=cfg.max_episodes) if cfg.rl_epochs else None
    rec.bundler_ = builder(size=cfg.size, rl=rl).fit(dataset, rec.item_vectors_, relevance=relevance,
                                                     complements=complement_source(rec, dataset),
                                                     seed=rec.config.seed,
                                                     progress=progress)
    tuned = f"RL-tuned over {len(rec.bundler_.history_)} epochs" if rl else "hand-set weights (rl_epochs=0)"
    return "done", f"graph walk, {tuned}"


def bundle_relevance(rec, model: Any, data: Dataset | None = None):
    """:class:`~cartgraph.bundles.MatrixRelevance` of ``model``; popularity for anonymous shoppers."""
    from cartgraph.bundles import MatrixRelevance

    seen = model.user_items_ if data is None else data.interactions()
    return MatrixRelevance(model, fallback=np.asarray(seen.sum(axis=0)).ravel().astype(np.float32))


def complement_source(rec, dataset: Dataset) -> Any:
    """What the bundle walk uses as complements: None (the builder's observed co-purchase
    lift of each data cut) when the complement stage did not run; else a factory giving
    the fitted ``rec.complements_`` for ``dataset`` and, for the RL tuning's pre-episode
    cut, a complement model refitted on that cut (as the relevance model is, so RL never
    trusts complements learned from its own episodes)."""
    if rec.complements_ is None:
        return None

    def complements(data: Dataset) -> Any:
        if data is dataset:
            return rec.complements_
        if rec.config.complements.model == "ranker":
            model = make_complement_ranker(rec, data)
        else:
            model = make_complement_model(rec, data, count_weight=rec.complements_.count_weight_)
            model = None if model is None else model.fit(data, item_vectors=rec.item_vectors_)
        if model is None:  # the cut shares no basket: its (empty) co-purchase lift
            from cartgraph.bundles.complements import co_purchase_matrix

            return co_purchase_matrix(data)
        return model

    return complements


def complements_of(rec, item: str, k: int, substitutes: str = "keep") -> tuple[np.ndarray, np.ndarray]:
    """``(item_ids (k,), scores (k,))`` of the complement model for one item id, best first
    (``substitutes="drop"``: without look-alike substitutes; the complement ranker only)."""
    from cartgraph.errors import ConfigError
    from cartgraph.gnn import ComplementRanker

    a = rec.item_vocab_.index(item)
    if isinstance(rec.complements_, ComplementRanker):  # it checks ``substitutes`` itself
        idx, scores = rec.complements_.complements(a, k=k, substitutes=substitutes)
    elif substitutes == "keep":
        idx, scores = rec.complements_.complements(a, k=k)
    else:
        raise ConfigError(f"substitutes={substitutes!r}: only the complement ranker can drop substitutes; this model's "
                          f"complements come from {type(rec.complements_).__name__} "
                          f"(ComplementsConfig.model={rec.config.complements.model!r}); use model='ranker'")
    listed = idx >= 0                              # a ComplementRanker list may be shorter than k
    return rec.item_vocab_.ids[idx[listed]], np.asarray(scores, dtype=np.float32)[listed]


def complement_reason(rec, item: str, other: str) -> Any:
    """An :class:`~cartgraph.recommender.Explanation` of why ``other`` goes with ``item``:
    the served complement score (as :meth:`~cartgraph.Recommender.complements` ranks), and
    how often the two were bought together (the graph's CO_PURCHASED count) or that the
    model inferred it from look-alike items."""
    from cartgraph.recommender import Explanation

    a, b = rec.item_vocab_.index(item), rec.item_vocab_.index(other)
    score = float(rec.complements_.served_score(np.array([a]), np.array([b]))[0])
    together = _co_purchase_count(rec, a, b)
    evidence = (f"bought together in {together} baskets" if together else
                "learned from items like these (not seen in the same basket)")
    return Explanation("complement", f"goes with {rec.title(item)}: {evidence} (complement score {score:.2f})",
                       str(item), score)


def _co_purchase_count(rec, a: int, b: int) -> int:
    """Baskets shared by items ``a`` and ``b`` per the graph's CO_PURCHASED edges (0: none or below
    the graph's ``co_purchase_min_count``)."""
    if rec.graph_ is None:
        return 0
    counts = getattr(rec, "_co_counts", None)
    if counts is None:  # built once per fitted or loaded model
        import scipy.sparse as sp

        edges = rec.graph_.edges["CO_PURCHASED"]
        s, d, c = (edges[col].to_numpy() for col in ("src", "dst", "count"))
        n = len(rec.item_vocab_)
        counts = sp.csr_matrix((np.concatenate([c, c]).astype(np.float64), (np.concatenate([s, d]),
                                                                           np.concatenate([d, s]))), shape=(n, n))
        rec._co_counts = counts
    return int(counts[a, b])


def build_bundles(rec, user: str, size: int, budget: float | None, anchor: str | None, n: int,
                  exclude: tuple[str, ...], exclude_owned: bool) -> list[Any]:
    """:meth:`cartgraph.bundles.BundleBuilder.build` with the facade's seed; owned items
    (except the anchor) join ``exclude`` when ``exclude_owned``."""
    if exclude_owned:
        exclude = (*exclude, *(i for i in rec.history(user) if i != anchor))
    return rec.bundler_.build(user, size=size, budget=budget, anchor=anchor, n=n, exclude=exclude,
                              seed=rec.config.seed)


STAGE_FUNCTIONS = {"text": fit_text, "graph": fit_graph, "model": fit_model,
                   "complements": fit_complements, "bundles": fit_bundles}


def complement_score(rec, history: np.ndarray, i: int) -> np.ndarray:
    """Served complement score ``s(h → i)`` (as :meth:`~cartgraph.Recommender.complements`
    ranks) for each history item index ``h``, shape ``(len(history),)``; 0 where ``i`` is not
    among ``h``'s top ``complements.k`` (so a reason is only given for an actual complement)."""
    model = rec.complements_
    idx, _ = model.complements(np.asarray(history, dtype=np.int64), k=rec.config.complements.k)
    top = np.any(idx == i, axis=1)
    scores = model.served_score(np.asarray(history, dtype=np.int64), np.full(len(history), i, dtype=np.int64))
    return np.where(top, np.maximum(scores, 1e-6), 0.0)


def graph_with_complements(rec):
    """``rec.graph_`` with the learned COMPLEMENTS edges: each item's top ``complements.k``
    (``score``, ``model`` = the complement model's name); unchanged when the stage did not run."""
    if rec.complements_ is None or rec.graph_ is None:
        return rec.graph_
    import pandas as pd

    edges = rec.complements_.top_edges(rec.config.complements.k)
    edges = edges[np.isfinite(edges["score"].to_numpy())]
    vocab = rec.graph_.vocab("Item")
    frame = pd.DataFrame({"src": vocab.indices(edges["src"].to_numpy()), "dst": vocab.indices(edges["dst"].to_numpy()),
                          "score": edges["score"].to_numpy(np.float64), "model": rec.complements_.name})
    kept = rec.graph_.edges["COMPLEMENTS"]
    kept = kept[kept["model"] != rec.complements_.name] if len(kept) else kept
    return rec.graph_.with_edges("COMPLEMENTS", pd.concat([kept, frame], ignore_index=True))
