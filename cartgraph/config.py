"""The settings of :class:`cartgraph.Recommender`: one small frozen dataclass per stage.

::

    RecommenderConfig(
        text=TextConfig(),                       # item text → vectors (bundled MiniLM)
        graph=GraphConfig(similar_k=10),         # the knowledge graph
        model=ModelConfig(name="itemknn"),       # the recommender: ease | itemknn | lightgcn | hetero
        complements=ComplementsConfig(),         # learned COMPLEMENTS edges
        bundles=BundlesConfig(size=4),           # the bundle policy
        seed=0,
    )

Plain typed values, checked on construction (a wrong name or value fails at once,
naming the field); :meth:`RecommenderConfig.to_dict` / :meth:`from_dict` round-trip
through JSON for the saved model folder, and an unknown key is an error, never
silently ignored.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from cartgraph.errors import ConfigError

__all__ = ["BundlesConfig", "ComplementsConfig", "GraphConfig", "ModelConfig", "RecommenderConfig",
           "TextConfig", "MODEL_NAMES"]

MODEL_NAMES: tuple[str, ...] = ("ease", "itemknn", "lightgcn", "hetero", "graph_ranker")
"""Recommender models the facade can fit (``hetero`` needs :mod:`cartgraph.gnn.hetero`;
``graph_ranker`` is :class:`cartgraph.gnn.TextGraphRanker`, which needs a time on every event)."""


def _require(cond: bool, field: str, expected: str, found: Any) -> None:
    if not cond:
        raise ConfigError(f"{field}: expected {expected}, found {found!r}")


@dataclasses.dataclass(frozen=True)
class TextConfig:
    """Item text → vectors.

    Args:
        enabled: encode item text (off: no SIMILAR_TO edges, no text reasons).
        model: a local folder or Hugging Face id; None = the bundled all-MiniLM-L6-v2.
        cache: keep vectors in the on-disk embedding cache (unchanged items are not re-encoded).
    """

    enabled: bool = True
    model: str | None = None
    cache: bool = True


@dataclasses.dataclass(frozen=True)
class GraphConfig:
    """The knowledge graph (:func:`cartgraph.graph.build`).

    Args:
        similar_k: text neighbours per item (SIMILAR_TO).
        co_purchase_min_count: baskets a pair must share to get a CO_PURCHASED edge.
    """

    similar_k: int = 10
    co_purchase_min_count: int = 5

    def __post_init__(self) -> None:
        _require(self.similar_k >= 0, "graph.similar_k", "an integer >= 0", self.similar_k)
        _require(self.co_purchase_min_count >= 1, "graph.co_purchase_min_count", "an integer >= 1",
                 self.co_purchase_min_count)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The recommender model and its main hyperparameters.

    Args:
        name: ``"ease"``, ``"itemknn"`` (default), ``"lightgcn"``, ``"hetero"`` or
            ``"graph_ranker"`` (text-imputed EASE re-ranked by a scorer trained on rolling
            cuts; its text neighbours chosen on the latest cut, its feature set and epochs on a
            held-out 20% of its training users).
        ease_lambda: EASE's L2 weight λ (also the graph ranker's).
        n_neighbors: ItemKNN neighbours per item.
        embedding_dim, num_layers, epochs, lr: LightGCN / hetero GNN training (``epochs``:
            also the graph ranker's most epochs).
        ranker_fold: the graph ranker's rolling training cuts: ``"time"`` (windows of the
            calendar, as a time-split evaluation) or ``"basket"`` (each user's last baskets in
            turn, as next-basket prediction).
    """

    name: str = "itemknn"
    ease_lambda: float = 500.0
    n_neighbors: int = 100
    embedding_dim: int = 64
    num_layers: int = 3
    epochs: int = 50
    lr: float = 1e-3
    ranker_fold: str = "time"

    def __post_init__(self) -> None:
        _require(self.name in MODEL_NAMES, "model.name", f"one of {list(MODEL_NAMES)}", self.name)
        _require(self.ease_lambda > 0, "model.ease_lambda", "a number > 0", self.ease_lambda)
        for field in ("n_neighbors", "embedding_dim", "epochs"):
            _require(getattr(self, field) >= 1, f"model.{field}", "an integer >= 1", getattr(self, field))
        _require(self.num_layers >= 0, "model.num_layers", "an integer >= 0", self.num_layers)
        _require(self.lr > 0, "model.lr", "a number > 0", self.lr)
        _require(self.ranker_fold in ("time", "basket"), "model.ranker_fold", "'time' or 'basket'", self.ranker_fold)


@dataclasses.dataclass(frozen=True)
class ComplementsConfig:
    """Learned complementarity.

    Args:
        enabled: learn COMPLEMENTS edges (served by :meth:`Recommender.complements`, used by
            the bundle walk, given as reasons, exported as ``COMPLEMENTS`` edges).
        model: ``"ranker"`` (default, :class:`cartgraph.gnn.ComplementRanker`: graph pair
            features and a list scorer trained on the latest baskets / each user's last
            bundle; the raw co-purchase order when there are too few to hold out) or
            ``"gnn"`` (:class:`cartgraph.gnn.ComplementModel`, fused with the counts). The
            ranker lists better partners on every dataset measured (``benchmarks/complements.py``);
            the fields below down to ``count_weight`` apply to ``"gnn"``.
        k: COMPLEMENTS edges exported per item (and the width of the complement reason check).
        epochs: training epochs of the complement model (early stopping is off in the facade).
        min_steps: at least this many gradient steps: on a small catalogue one epoch is one
            step, so the facade trains more epochs there (``ceil(min_steps / steps per epoch)``).
        embedding_dim: the complement model's embedding size.
        per_item: most frequent basket/bundle partners per item it learns from, each pair
            listed once per epoch. Small defaults keep the fit short: 5 epochs over 20 partners
            take ~47 s on Online Retail (2 shared cores), against ~1.5 min per epoch with the
            model's own defaults (50 partners, count-weighted repeats: 830k pairs).
        count_weight: served score = z(learned) + ``count_weight`` · z(log(1 + co-occurrence)),
            per anchor. ``"auto"`` (default): chosen on the latest ``valid_fraction`` of the
            baskets (a first fit without them), then the model is fitted again on all the data
            with that weight; :data:`AUTO_COUNT_WEIGHT_FALLBACK` when the data has too few
            baskets to hold out. A number fixes it (0: the learned score alone).
        valid_fraction: share of the latest baskets held out to choose ``count_weight``
            (``"gnn"``) or to train the scorer on (``"ranker"``).
    """

    enabled: bool = True
    model: str = "ranker"
    k: int = 10
    epochs: int = 5
    min_steps: int = 50
    embedding_dim: int = 64
    per_item: int = 20
    count_weight: float | str = "auto"
    valid_fraction: float = 0.2

    def __post_init__(self) -> None:
        _require(self.model in COMPLEMENT_MODELS, "complements.model", f"one of {COMPLEMENT_MODELS}", self.model)
        for field in ("k", "epochs", "min_steps", "embedding_dim", "per_item"):
            _require(getattr(self, field) >= 1, f"complements.{field}", "an integer >= 1", getattr(self, field))
        w = self.count_weight
        _require(w == "auto" or (isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0),
                 "complements.count_weight", "'auto' or a number >= 0", w)
        _require(isinstance(self.valid_fraction, (int, float)) and 0 < self.valid_fraction < 1,
                 "complements.valid_fraction", "a number in (0, 1)", self.valid_fraction)


COMPLEMENT_MODELS = ("ranker", "gnn")
"""Values of ``ComplementsConfig.model``."""

AUTO_COUNT_WEIGHT_FALLBACK = 1.0
"""``ComplementsConfig.count_weight="auto"`` without enough baskets to hold out: the learned
score and the observed co-occurrence weigh the same (the weight the complement benchmark
used on BundleRec, which has no validation slice)."""


@dataclasses.dataclass(frozen=True)
class BundlesConfig:
    """The bundle builder (:mod:`cartgraph.bundles`).

    Args:
        enabled: fit a bundle policy.
        size: default bundle size of :meth:`Recommender.bundle`.
        rl_epochs: RL tuning epochs of the walk policy (0: keep the hand-set weights); small by
            default because each epoch walks every episode several times (minutes on Online Retail).
        max_episodes: held-out baskets/bundles the RL tuning learns from (at most).
    """

    enabled: bool = True
    size: int = 4
    rl_epochs: int = 3
    max_episodes: int = 200

    def __post_init__(self) -> None:
        _require(self.size >= 2, "bundles.size", "an integer >= 2", self.size)
        _require(self.rl_epochs >= 0, "bundles.rl_epochs", "an integer >= 0", self.rl_epochs)
        _require(self.max_episodes >= 1, "bundles.max_episodes", "an integer >= 1", self.max_episodes)


_SECTIONS = {"text": TextConfig, "graph": GraphConfig, "model": ModelConfig,
             "complements": ComplementsConfig, "bundles": BundlesConfig}


@dataclasses.dataclass(frozen=True)
class RecommenderConfig:
    """Every setting of :class:`cartgraph.Recommender` (saved with the model)."""

    text: TextConfig = dataclasses.field(default_factory=TextConfig)
    graph: GraphConfig = dataclasses.field(default_factory=GraphConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    complements: ComplementsConfig = dataclasses.field(default_factory=ComplementsConfig)
    bundles: BundlesConfig = dataclasses.field(default_factory=BundlesConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            value = getattr(self, name)
            _require(isinstance(value, cls), name, f"a {cls.__name__}", value)
        _require(isinstance(self.seed, int) and not isinstance(self.seed, bool), "seed", "an integer", self.seed)

    def replace(self, **sections: Any) -> "RecommenderConfig":
        """A copy with some sections (or ``seed``) replaced; a dict updates that section's fields."""
        changes = {}
        for name, value in sections.items():
            if name not in _SECTIONS and name != "seed":
                raise ConfigError(f"RecommenderConfig has no section {name!r}; valid: {[*_SECTIONS, 'seed']}")
            changes[name] = _section(name, value, base=getattr(self, name)) if isinstance(value, dict) else value
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RecommenderConfig":
        """The inverse of :meth:`to_dict`; unknown sections or fields are errors."""
        unknown = set(data) - {*_SECTIONS, "seed"}
        if unknown:
            raise ConfigError(f"config: unknown sections {sorted(unknown)}; valid: {[*_SECTIONS, 'seed']}")
        kwargs = {name: _section(name, data[name]) for name in _SECTIONS if name in data}
        return cls(**kwargs, seed=data.get("seed", 0))


def _section(name: str, values: dict[str, Any], base: Any = None) -> Any:
    cls = _SECTIONS[name]
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - fields
    if unknown:
        raise ConfigError(f"config.{name}: unknown fields {sorted(unknown)}; valid: {sorted(fields)}")
    return dataclasses.replace(base, **values) if base is not None else cls(**values)
