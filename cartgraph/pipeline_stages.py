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
from cartgraph.errors import ConfigError

__all__ = ["STAGE_FUNCTIONS", "build_bundles", "bundle_relevance", "complement_score", "complement_source",
           "complements_of", "graph_with_complements", "make_model", "optional_import"]


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


def make_model(rec, progress: bool = False) -> Any:
    """An unfitted recommender model for ``rec.config.model`` (None when not installed)."""
    cfg, seed = rec.config.model, rec.config.seed
    if cfg.name == "ease":
        from cartgraph.baselines import EASE

        return EASE(cfg.ease_lambda)
    if cfg.name == "itemknn":
        from cartgraph.baselines import ItemKNN

        return ItemKNN(cfg.n_neighbors)
    if cfg.name == "lightgcn":
        from cartgraph.gnn import LightGCN

        return LightGCN(cfg.embedding_dim, cfg.num_layers, epochs=cfg.epochs, lr=cfg.lr, seed=seed,
                        eval_every=0, progress=progress)
    hetero = optional_import("cartgraph.gnn.hetero", "HeteroRecommender")
    if hetero is None:
        return None
    return None


def fit_model(rec, dataset: Dataset, progress: bool) -> tuple[str, str]:
    """The recommender model (``rec.config.model.name``) fitted on every interaction → ``rec.model_``."""
    model = make_model(rec, progress)
    if model is None:
        return "unavailable", f"model {rec.config.model.name!r}: cartgraph.gnn.hetero is not wired into the facade yet"
    rec.model_ = model.fit(dataset)
    return "done", f"{type(model).__name__} on {rec.seen_.nnz} user-item pairs"


def fit_complements(rec, dataset: Dataset, progress: bool) -> tuple[str, str]:
    """Learned COMPLEMENTS (:mod:`cartgraph.gnn.complements`) → ``rec.complements_``."""
    if not rec.config.complements.enabled:
        return "disabled", "complements.enabled is False"
    model = optional_import("cartgraph.gnn.complements", "ComplementModel")
    if model is None:
        return "unavailable", "cartgraph.gnn.complements (ComplementModel) is not in this installation"
    return "unavailable", "cartgraph.gnn.complements is not wired into the facade yet"


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
        return bundle_relevance(rec, rec.model_ if data is dataset else make_model(rec).fit(data), data)

    rl = RLConfig(epochs=cfg.rl_epochs, max_episodes=cfg.max_episodes) if cfg.rl_epochs else None
    rec.bundler_ = builder(size=cfg.size, rl=rl).fit(dataset, rec.item_vectors_, relevance=relevance,
                                                     complements=complement_source(rec), seed=rec.config.seed,
                                                     progress=progress)
    tuned = f"RL-tuned over {len(rec.bundler_.history_)} epochs" if rl else "hand-set weights (rl_epochs=0)"
    return "done", f"graph walk, {tuned}"


def bundle_relevance(rec, model: Any, data: Dataset | None = None):
    """:class:`~cartgraph.bundles.MatrixRelevance` of ``model``; popularity for anonymous shoppers."""
    from cartgraph.bundles import MatrixRelevance

    seen = model.user_items_ if data is None else data.interactions()
    return MatrixRelevance(model, fallback=np.asarray(seen.sum(axis=0)).ravel().astype(np.float32))


def complement_source(rec) -> Any:
    """What the bundle walk uses as complements: the learned model when it ran, else
    None (the builder's observed co-purchase lift)."""
    return rec.complements_


def complements_of(rec, item: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(item_ids (k,), scores (k,))`` of the complement model for one item."""
    raise ConfigError("complements: not wired yet")


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
    """Learned complement score of item ``i`` for each history item, shape ``(len(history),)``."""
    raise ConfigError("complements: not wired yet")


def graph_with_complements(rec):
    """``rec.graph_`` with the learned COMPLEMENTS edges (unchanged when the stage did not run)."""
    return rec.graph_
