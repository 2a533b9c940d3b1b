"""cartgraph: product and bundle recommendation on a knowledge graph.

Pipeline (each stage takes the previous stage's output)::

    loaders -> Dataset -> text -> graph -> gnn -> bundles

Public API: :class:`Recommender` (the whole pipeline, configured by
:class:`RecommenderConfig`), :class:`Dataset`, :class:`Vocabulary`, :func:`load`
(real formats in), :func:`pseudonymize`, and the error types. Heavier stages are imported from their
subpackages (``cartgraph.text``, ``cartgraph.graph`` ...), so ``import cartgraph``
stays fast.
"""
from cartgraph.config import RecommenderConfig
from cartgraph.dataset import Dataset
from cartgraph.errors import CartgraphError, ConfigError, DataError, NotFittedError
from cartgraph.loaders import load
from cartgraph.privacy import pseudonymize
from cartgraph.recommender import Recommender
from cartgraph.vocab import Vocabulary

__version__ = "0.1.0"

__all__ = [
    "CartgraphError",
    "ConfigError",
    "DataError",
    "Dataset",
    "NotFittedError",
    "Recommender",
    "RecommenderConfig",
    "Vocabulary",
    "__version__",
    "load",
    "pseudonymize",
]
