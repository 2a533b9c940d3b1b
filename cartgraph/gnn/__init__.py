"""Graph neural networks over the knowledge graph (LightGCN, ...), one seeded BPR trainer."""
from cartgraph.gnn.lightgcn import LightGCN
from cartgraph.gnn.trainer import TrainConfig, TrainHistory, train_bpr

__all__ = ["LightGCN", "TrainConfig", "TrainHistory", "train_bpr"]
