"""The facade: :class:`Recommender` runs the whole pipeline and serves it by raw ids.

::

    rec = cartgraph.Recommender(RecommenderConfig(model=ModelConfig("ease"))).fit(dataset)
    items, scores = rec.recommend("12347", k=10)          # 1-D for one user
    items, scores = rec.recommend(["12347", "12348"])     # 2-D (users, k) for a batch
    rec.explain("12347", items[0])                        # reasons, best first
    rec.complements("85123A", k=5, with_reasons=True)     # ids, scores, reasons
    rec.save("models/shop");  rec = cartgraph.Recommender.load("models/shop")

``fit`` runs text → graph → recommender model → complements → bundle policy, each
stage from its own subpackage (DESIGN.md); :attr:`Recommender.stages_` records, per
stage, ``"done"``, ``"disabled"`` (switched off in the config) or ``"unavailable"``
(it could not run: its subpackage is not installed, a stage it needs did not run, or
the data holds nothing for it, e.g. no two items ever bought together) — a stage is
never reported done when it did not run. Asking an unavailable stage for results raises
:class:`StageUnavailableError`.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cartgraph.config import RecommenderConfig
from cartgraph.dataset import Dataset
from cartgraph.errors import CartgraphError, ConfigError, NotFittedError
from cartgraph.evaluation.topk import topk
from cartgraph.vocab import Vocabulary

__all__ = ["Recommender", "StageUnavailableError", "Explanation", "STAGES"]

STAGES: tuple[str, ...] = ("text", "graph", "model", "complements", "bundles")
"""The pipeline's stages, in the order :meth:`Recommender.fit` runs them."""


class StageUnavailableError(CartgraphError, RuntimeError):
    """A pipeline stage was asked for results but did not run (disabled or not installed)."""


@dataclasses.dataclass(frozen=True)
class Explanation:
    """One reason why an item suits a user.

    Attributes:
        kind: ``"co_purchase"``, ``"complement"``, ``"similar_text"``, ``"category"`` or ``"popular"``.
        text: a sentence for people.
        anchor: the history item the reason points at (external id), if any.
        strength: the reason's own score (cosine, complement score, share of history).
    """

    kind: str
    text: str
    anchor: str | None = None
    strength: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Recommender:
    """Products, complements and bundles for a shop, from one :class:`RecommenderConfig`.

    Args:
        config: the settings (default: every stage on, ItemKNN as the recommender).

    Learned state after :meth:`fit` (or :meth:`load`): ``item_vocab_``, ``user_vocab_``,
    ``items_`` (item_id, title, category, price in item-index order), ``seen_`` (CSR
    user × item, binary), ``item_vectors_`` (``(n_items, dim)`` or None), ``graph_``
    (the :class:`~cartgraph.graph.KnowledgeGraph`), ``model_``, ``complements_``,
    ``bundler_`` (None when their stage did not run) and ``stages_``.
    """

    def __init__(self, config: RecommenderConfig | None = None) -> None:
        if config is not None and not isinstance(config, RecommenderConfig):
            raise ConfigError(f"config: expected a RecommenderConfig, found {type(config).__name__}")
        self.config = config or RecommenderConfig()

    def __repr__(self) -> str:
        fitted = "fitted" if hasattr(self, "stages_") else "not fitted"
        return f"Recommender(model={self.config.model.name!r}, {fitted})"

    # ------------------------------------------------------------------ training
    def fit(self, dataset: Dataset, *, progress: bool = True) -> "Recommender":
        """Run every stage on ``dataset``; return ``self``.

        A stage that is disabled in the config or whose subpackage is missing is
        recorded in :attr:`stages_` and skipped; later stages that need it are skipped too.
        """
        from tqdm.auto import tqdm

        from cartgraph.pipeline_stages import STAGE_FUNCTIONS

        if not isinstance(dataset, Dataset):
            raise ConfigError(f"fit expects a cartgraph Dataset, found {type(dataset).__name__}")
        if dataset.n_items == 0 or dataset.interactions().nnz == 0:
            raise ConfigError(f"fit: dataset {dataset.name!r} has no interactions between known users and items")
        self._reset(dataset)
        bar = tqdm(STAGES, desc="fit", unit="stage", disable=not progress)
        for name in bar:
            bar.set_postfix_str(name)
            t0 = time.perf_counter()
            status, detail = STAGE_FUNCTIONS[name](self, dataset, progress)
            self.stages_[name] = {"status": status, "detail": detail, "seconds": round(time.perf_counter() - t0, 3)}
        return self

    def _reset(self, dataset: Dataset) -> None:
        self.dataset_name_ = dataset.name
        self.item_vocab_, self.user_vocab_ = dataset.item_vocab, dataset.user_vocab
        self.items_ = _item_table(dataset)
        self.seen_ = dataset.interactions()
        self.item_vectors_ = self.graph_ = self.model_ = self.complements_ = self.bundler_ = None
        self.stages_: dict[str, dict[str, Any]] = {}
        self._csc = self._co_counts = None

    # ------------------------------------------------------------------ serving
    def recommend(self, users: Any, k: int = 10, *, exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items for users given by external id.

        Shapes:
            one user id → ``(item_ids (k,), scores (k,))``; a list of ``b`` ids →
            ``(item_ids (b, k), scores (b, k))``. Item ids are an object array of
            strings; scores float32, best first (ties: lower item index).
        """
        self._check_fitted("model")
        scalar = isinstance(users, (str, int, np.integer))
        idx = self.user_vocab_.indices([users] if scalar else list(users))
        items, scores = self.model_.recommend(idx, k=k, exclude_seen=exclude_seen)
        ids = self.item_vocab_.ids[items]
        return (ids[0], scores[0]) if scalar else (ids, scores)

    def similar_items(self, item: str, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Items most like ``item`` (substitutes): cosine of text vectors, or of buyer
        sets when the text stage did not run. Returns ``(item_ids (k,), scores (k,))``."""
        self._check_fitted(None)
        i = self.item_vocab_.index(item)
        if self.item_vectors_ is not None:
            scores = self.item_vectors_ @ self.item_vectors_[i]
            scores = scores / np.maximum(np.linalg.norm(self.item_vectors_, axis=1) * np.linalg.norm(self.item_vectors_[i]), 1e-12)
        else:
            scores = self._buyer_cosine(i)
        scores = np.asarray(scores, dtype=np.float64)
        scores[i] = -np.inf
        top, vals = topk(scores, k)
        return self.item_vocab_.ids[top], vals.astype(np.float32)

    def complements(self, item: str, k: int = 10, *, with_reasons: bool = False, substitutes: str = "keep") -> tuple:
        """Items that go with ``item`` (directed, learned by the complement stage:
        :class:`cartgraph.gnn.ComplementRanker` by default, see ``ComplementsConfig.model``).

        Returns ``(item_ids (k,), scores (k,))`` (fewer when the model lists fewer), best first (ties: lower item index;
        ``item`` itself excluded); with ``with_reasons=True`` a third element, one
        :class:`Explanation` per item (kind ``"complement"``: the learned score and how
        often the two were bought together). ``substitutes="drop"`` leaves out look-alike
        substitutes of ``item`` (same leaf category, text cosine > 0.9; the ranker only).
        """
        self._check_fitted("complements")
        from cartgraph.pipeline_stages import complement_reason, complements_of

        ids, scores = complements_of(self, item, k, substitutes)
        if not with_reasons:
            return ids, scores
        return ids, scores, [complement_reason(self, item, other) for other in ids]

    def bundle(self, user: str, size: int | None = None, budget: float | None = None,
               anchor: str | None = None, *, n: int = 1, exclude: tuple[str, ...] = (),
               exclude_owned: bool = True) -> list[Any]:
        """``n`` :class:`cartgraph.bundles.Bundle` of ``size`` items for ``user``, within
        ``budget`` when given, grown from ``anchor`` (an item in the cart) when given.

        Items the user already has are left out unless ``exclude_owned=False`` (an
        ``anchor`` is always kept); ``exclude`` lists more item ids to leave out.
        """
        self._check_fitted("bundles")
        from cartgraph.pipeline_stages import build_bundles

        return build_bundles(self, user, size or self.config.bundles.size, budget, anchor, n, tuple(exclude),
                             exclude_owned)

    def history(self, user: str) -> np.ndarray:
        """External ids of the items ``user`` interacted with (item-index order)."""
        self._check_fitted(None)
        u = self.user_vocab_.index(user)
        return self.item_vocab_.ids[self.seen_.indices[self.seen_.indptr[u]:self.seen_.indptr[u + 1]]]

    def title(self, item: str) -> str:
        """The item's title, or its id when it has none."""
        t = self.items_.at[self.item_vocab_.index(item), "title"]
        return t if isinstance(t, str) and t else str(item)

    def explain(self, user: str, item: str) -> list[Explanation]:
        """Why ``item`` suits ``user``, strongest reason first (at least one reason)."""
        self._check_fitted(None)
        from cartgraph.explain import explanations

        return explanations(self, user, item)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the fitted pipeline to one folder (atomic; see :mod:`cartgraph.recommender_io`)."""
        self._check_fitted(None)
        from cartgraph.recommender_io import save_recommender

        save_recommender(self, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> "Recommender":
        """Read a folder written by :meth:`save`; a folder of another format version is an error."""
        from cartgraph.recommender_io import load_recommender

        return load_recommender(cls, Path(path))

    # ------------------------------------------------------------------ helpers
    def _check_fitted(self, stage: str | None) -> None:
        if not hasattr(self, "stages_"):
            raise NotFittedError("Recommender is not fitted yet; call fit(dataset) or Recommender.load(path)")
        if stage is not None and self.stages_.get(stage, {}).get("status") != "done":
            info = self.stages_.get(stage, {})
            raise StageUnavailableError(f"the {stage} stage did not run ({info.get('status', 'missing')}: "
                                        f"{info.get('detail', '')})")

    def csc_(self) -> sp.csc_matrix:
        """The seen matrix in CSC form (cached), for per-item reasons."""
        if self._csc is None:
            self._csc = self.seen_.tocsc()
        return self._csc

    def _buyer_cosine(self, i: int) -> np.ndarray:
        col = self.csc_()[:, [i]]
        common = np.asarray((self.csc_().T @ col).todense()).ravel()
        sizes = np.diff(self.csc_().indptr).astype(np.float64) * max(float(col.sum()), 1.0)
        return np.divide(common, np.sqrt(sizes), out=np.zeros_like(common, dtype=np.float64), where=sizes > 0)


def _item_table(dataset: Dataset) -> pd.DataFrame:
    """``item_id``, ``title``, ``category`` (leaf), ``price`` in item-index order."""
    items = dataset.items.iloc[np.argsort(dataset.item_vocab.indices(dataset.items["item_id"].to_numpy()))]
    leaf = items["category_path"].map(lambda p: p[-1] if len(p) else None)
    return pd.DataFrame({"item_id": items["item_id"].to_numpy(), "title": items["title"].to_numpy(),
                         "category": leaf.to_numpy(), "price": items["price"].to_numpy(np.float64)})


def load_vocab(ids: np.ndarray, name: str) -> Vocabulary:
    """A vocabulary whose index order is exactly ``ids`` (checked)."""
    vocab = Vocabulary(ids, name=name)
    if not np.array_equal(vocab.ids, np.asarray(ids, dtype=object)):
        raise ConfigError(f"{name} vocabulary: saved ids are not in vocabulary order")
    return vocab


StageFunction = Callable[["Recommender", Dataset, bool], tuple[str, str]]
