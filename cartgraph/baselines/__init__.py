"""Reference baselines every result is reported beside (EVALUATION.md).

- :class:`MostPopular` — distinct users per item;
- :class:`ItemKNN` — cosine on the binary user × item matrix, top-100 neighbours;
- :class:`EASE` — closed-form linear model, λ tuned on validation by :func:`tune_ease`.

All implement :class:`cartgraph.evaluation.RecommenderModel`.
"""
from cartgraph.baselines.base import MatrixRecommender
from cartgraph.baselines.ease import EASE, ease_memory_bytes
from cartgraph.baselines.item_knn import ItemKNN
from cartgraph.baselines.most_popular import MostPopular
from cartgraph.baselines.tuning import EASE_LAMBDAS, ease_grid, tune_ease

__all__ = ["EASE", "EASE_LAMBDAS", "ItemKNN", "MatrixRecommender", "MostPopular", "ease_grid", "ease_memory_bytes", "tune_ease"]
