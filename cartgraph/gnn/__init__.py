"""Graph neural networks over the knowledge graph, one seeded BPR trainer.

- :class:`LightGCN`: collaborative filtering on the user–item graph.
- :class:`TextHeteroGNN`: heterogeneous GNN over users, items (text vectors) and
  categories; serves cold-start items.
- :class:`ComplementModel`: directed item → item complementarity (COMPLEMENTS edges);
  :class:`ComplementRanker`: the same from graph pair features and a learned list scorer.
- :class:`TextGraphRanker`: graph pair features (fixed message passing) + a learned
  scorer, trained fold-out on rolling cuts; :class:`TextEASE`: EASE with text-imputed
  cold items.
"""
from cartgraph.gnn.complement_ranker import ComplementRanker
from cartgraph.gnn.complements import ComplementModel
from cartgraph.gnn.graph_ranker import TextGraphRanker
from cartgraph.gnn.hetero import TextHeteroGNN
from cartgraph.gnn.lightgcn import LightGCN
from cartgraph.gnn.text_ease import TextEASE
from cartgraph.gnn.trainer import TrainConfig, TrainHistory, train_bpr

__all__ = ["ComplementModel", "ComplementRanker", "LightGCN", "TextEASE", "TextGraphRanker", "TextHeteroGNN", "TrainConfig", "TrainHistory",
           "train_bpr"]
