"""The User–Item–Category graph a heterogeneous GNN runs on, built once per fit.

Edges come straight from a :class:`~cartgraph.dataset.Dataset` (no knowledge-graph
build, which would also compute millions of co-purchase pairs the model does not
use): users link to the items of the fitted interaction matrix, items link to every
category on their ``category_path`` (leaf and ancestors, so one hop reaches both the
narrow and the broad group). Each relation is stored in both directions, as PyG's
``HeteroConv`` expects. The category vocabulary is
:func:`cartgraph.graph.build.category_tables`'s, so category indices equal the
knowledge graph's.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
import torch

from cartgraph.dataset import Dataset
from cartgraph.gnn.complement_pairs import co_occurrence, positive_pairs
from cartgraph.graph.build import category_tables

__all__ = ["HeteroGraph", "hetero_graph", "BOUGHT", "REV_BOUGHT", "IN", "REV_IN", "CO_BOUGHT"]

BOUGHT = ("user", "bought", "item")
REV_BOUGHT = ("item", "rev_bought", "user")
IN = ("item", "in", "category")
REV_IN = ("category", "rev_in", "item")
CO_BOUGHT = ("item", "co_bought", "item")


@dataclasses.dataclass(frozen=True)
class HeteroGraph:
    """Node counts and ``(2, E)`` int64 edge indices per edge type.

    Attributes:
        num_nodes: ``{"user": U, "item": I, "category": C}`` (``C`` may be 0).
        edge_index: per edge type; the category types are absent when ``C == 0``.
        item_degree: training interactions per item, shape ``(I,)`` (0 = cold item).
    """

    num_nodes: dict[str, int]
    edge_index: dict[tuple[str, str, str], torch.Tensor]
    item_degree: np.ndarray

    def to(self, device: torch.device | str) -> "HeteroGraph":
        """The same graph with its edge tensors on ``device``."""
        return dataclasses.replace(self, edge_index={k: v.to(device) for k, v in self.edge_index.items()})


def _both_ways(src: np.ndarray, dst: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    fwd = torch.as_tensor(np.stack([src, dst]).astype(np.int64))
    return fwd, fwd.flip(0).contiguous()


def item_category_pairs(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, int]:
    """``(items, categories, n_categories)``: one pair per item and category on its path."""
    nodes, sub, in_cat = category_tables(dataset)
    parent = np.full(len(nodes), -1, dtype=np.int64)
    parent[sub["src"].to_numpy(np.int64)] = sub["dst"].to_numpy(np.int64)
    items, cats = [in_cat["src"].to_numpy(np.int64)], [in_cat["dst"].to_numpy(np.int64)]
    cur_i, cur_c = items[0], parent[cats[0]] if len(cats[0]) else cats[0]
    while len(cur_c):
        keep = cur_c >= 0
        cur_i, cur_c = cur_i[keep], cur_c[keep]
        items.append(cur_i)
        cats.append(cur_c)
        cur_c = parent[cur_c]
    return np.concatenate(items), np.concatenate(cats), len(nodes)


def hetero_graph(dataset: Dataset, interactions: sp.csr_matrix, co_purchase_k: int = 0) -> HeteroGraph:
    """The graph of ``dataset`` with user–item edges from ``interactions`` (shape ``(U, I)``).

    Args:
        co_purchase_k: also link each item to the ``k`` items it shares most baskets
            with (edge type :data:`CO_BOUGHT`, partner → item); 0 for none.
    """
    coo = sp.coo_matrix(interactions)
    edges = dict(zip((BOUGHT, REV_BOUGHT), _both_ways(coo.row, coo.col)))
    if co_purchase_k:
        src, dst = positive_pairs(co_occurrence(dataset, bundle_weight=0.0), co_purchase_k)
        if len(src):
            edges[CO_BOUGHT] = torch.as_tensor(np.stack([dst, src]))
    items, cats, n_cat = item_category_pairs(dataset)
    if n_cat:
        edges.update(zip((IN, REV_IN), _both_ways(items, cats)))
    degree = np.bincount(coo.col, minlength=interactions.shape[1]).astype(np.int64)
    return HeteroGraph({"user": interactions.shape[0], "item": interactions.shape[1], "category": n_cat},
                       edges, degree)
