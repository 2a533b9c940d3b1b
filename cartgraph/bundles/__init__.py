"""Bundle building: an RL-tuned walk over the item graph (see DESIGN.md, "Bundles").

Public API:

- :class:`BundleBuilder` — ``fit(dataset, item_vectors)``, ``build(user, size=, budget=,
  anchor=, n=, exclude=, seed=)``, ``feedback(bundle, accepted=, rejected=)``, ``save``/``load``;
- :class:`Bundle` — items, per-item explanation and feature values, total price, score;
- :class:`Constraints` — size, budget, per-category cap, exclusions, stock hook;
- :class:`RLConfig` — the RL tuning settings; :data:`HAND_WEIGHTS` — the RL-off weights;
- relevance sources (:class:`MatrixRelevance`, :class:`VectorRelevance`,
  :class:`PopularityRelevance`) and complement sources (:func:`co_purchase_matrix`,
  :func:`as_complement_matrix`);
- :mod:`cartgraph.bundles.baselines` and :mod:`cartgraph.bundles.metrics` for evaluation.
"""
from cartgraph.bundles.builder import BundleBuilder, default_relevance
from cartgraph.bundles.bundle import Bundle
from cartgraph.bundles.complements import as_complement_matrix, co_purchase_matrix
from cartgraph.bundles.constraints import Constraints
from cartgraph.bundles.features import FEATURES
from cartgraph.bundles.policy import HAND_WEIGHTS, LinearPolicy
from cartgraph.bundles.relevance import MatrixRelevance, PopularityRelevance, VectorRelevance
from cartgraph.bundles.rl import RLConfig

__all__ = ["Bundle", "BundleBuilder", "Constraints", "FEATURES", "HAND_WEIGHTS", "LinearPolicy", "MatrixRelevance",
           "PopularityRelevance", "RLConfig", "VectorRelevance", "as_complement_matrix", "co_purchase_matrix",
           "default_relevance"]
