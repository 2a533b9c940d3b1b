"""LightGCN (He et al., SIGIR 2020), made fast on PyTorch sparse CSR.

Model: ego embeddings ``E⁰ ∈ R^{(U+I)×d}``; ``E^{l+1} = Â E^l``; the final embedding
is the mean of ``E⁰..E^L``; the score of ``(u, i)`` is ``e_u · e_i``. Trained with BPR
(:mod:`cartgraph.gnn.trainer`): L2 on the batch's ego embeddings, Adam.

Speed (see ``benchmarks/lightgcn_speed.py``): one CSR sparse–dense product per layer
and a symmetric backward (:mod:`cartgraph.gnn.propagation`) instead of per-edge
messages; vectorised negative sampling; no host synchronisation in the batch loop on
CUDA; large batches are an option (fewer full propagations per epoch).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from cartgraph.baselines.base import MatrixRecommender
from cartgraph.errors import ConfigError
from cartgraph.evaluation.topk import topk_torch
from cartgraph.gnn.propagation import normalized_adjacency, propagate
from cartgraph.gnn.state_file import construct, load_state, save_state
from cartgraph.gnn.trainer import TrainConfig, TrainHistory, train_bpr

__all__ = ["LightGCN"]


class _Embeddings(torch.nn.Module):
    def __init__(self, adj: torch.Tensor, n_users: int, n_items: int, dim: int, layers: int, seed: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.adj, self.n_users, self.layers = adj, n_users, layers
        self.weight = torch.nn.Parameter((torch.randn(n_users + n_items, dim, generator=gen) * 0.1).to(adj.device))

    def final(self) -> torch.Tensor:
        return propagate(self.adj, self.weight, self.layers)

    def bpr_terms(self, users, pos, neg):
        # One gather of the final and one of the ego embeddings for all three roles:
        # each gather's backward is a (deterministic, sorting) scatter, so fewer is faster.
        nodes = torch.cat([users, pos + self.n_users, neg + self.n_users])
        eu, ei, ej = self.final()[nodes].chunk(3)
        l2 = 0.5 * self.weight[nodes].pow(2).sum()
        return (eu * ei).sum(-1), (eu * ej).sum(-1), l2


class LightGCN(MatrixRecommender):
    """Collaborative filtering by linear propagation on the user–item graph.

    Args:
        embedding_dim: ``d`` (default 64).
        num_layers: ``L`` (default 3).
        epochs, batch_size, lr, weight_decay, eval_every, patience, seed, checkpoint,
            progress, tensorboard: see :class:`~cartgraph.gnn.trainer.TrainConfig`.
        device: ``"cpu"``, ``"cuda"`` or None (CUDA when available).
        kinds: event kinds that count as interactions (default: all).

    Shapes: ``recommend(users (b,), k)`` → ``items (b, k)``, ``scores (b, k)``.
    """

    def __init__(self, embedding_dim: int = 64, num_layers: int = 3, *, epochs: int = 100,
                 batch_size: int = 8192, lr: float = 1e-3, weight_decay: float = 1e-4, eval_every: int = 5,
                 patience: int = 3, seed: int = 0, checkpoint: str | None = None, progress: bool = True,
                 tensorboard: str | None = None, device: str | None = None,
                 kinds: tuple[str, ...] | None = None) -> None:
        if embedding_dim < 1 or num_layers < 0:
            raise ConfigError(f"embedding_dim must be ≥ 1 and num_layers ≥ 0, got {embedding_dim}, {num_layers}")
        self.embedding_dim, self.num_layers = embedding_dim, num_layers
        self.config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                                  eval_every=eval_every, patience=patience, seed=seed, checkpoint=checkpoint,
                                  progress=progress, tensorboard=tensorboard)
        self.device = device
        self.kinds = kinds

    # ------------------------------------------------------------------ training
    def fit(self, dataset, valid=None, on_epoch_end=None) -> "LightGCN":
        """Train on ``dataset``'s interactions; ``valid`` (a Split) drives early stopping.

        ``on_epoch_end(epoch, history)`` is passed to the trainer (see
        :func:`~cartgraph.gnn.trainer.train_bpr`); ``self.module_.weight`` holds the
        ego embeddings while it runs."""
        return self.fit_matrix(dataset.interactions(self.kinds), valid=valid, on_epoch_end=on_epoch_end)

    def fit_matrix(self, interactions: sp.csr_matrix, valid=None, on_epoch_end=None) -> "LightGCN":
        """Train on a binary user × item matrix, shape ``(U, I)``."""
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.user_items_ = sp.csr_matrix(interactions, dtype=np.float32)
        n_users, n_items = self.user_items_.shape
        adj = normalized_adjacency(self.user_items_, device)
        self.module_ = _Embeddings(adj, n_users, n_items, self.embedding_dim, self.num_layers, self.config.seed)
        coo = self.user_items_.tocoo()
        users = torch.as_tensor(coo.row, dtype=torch.long, device=device)
        items = torch.as_tensor(coo.col, dtype=torch.long, device=device)
        validate = None
        if valid is not None:
            from cartgraph.evaluation import evaluate

            def validate() -> float:
                self._cache_embeddings()
                return evaluate(self, valid, ks=(20,), progress=False)["recall@20"]

        self.history_: TrainHistory = train_bpr(self.module_, users, items, n_items, self.config, validate,
                                                on_epoch_end)
        self._cache_embeddings()
        return self

    def _cache_embeddings(self) -> None:
        with torch.no_grad():
            final = self.module_.final().float()
        n_users = self.user_items_.shape[0]
        out = final.cpu().numpy()
        self.user_factors_, self.item_factors_ = out[:n_users], out[n_users:]
        # On a GPU, recommend() scores and ranks there (validation during training too).
        self._device_factors = (final[:n_users], final[n_users:]) if final.is_cuda else None

    # ------------------------------------------------------------------ serving
    def _recommend_batch_size(self) -> int:
        return 1024

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[users] @ self.item_factors_.T

    def _recommend_rows(self, batch: np.ndarray, k: int, exclude_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        factors = getattr(self, "_device_factors", None)
        if factors is None:
            return super()._recommend_rows(batch, k, exclude_seen)
        users_t, items_t = factors
        s = users_t[torch.as_tensor(batch, device=users_t.device)] @ items_t.T
        if exclude_seen:
            rows, cols = self._seen_entries(batch)
            s[torch.as_tensor(rows, device=s.device), torch.as_tensor(cols, device=s.device)] = -np.inf
        return topk_torch(s, k)

    def similar_items(self, items, k: int = 10):
        """Items closest (cosine of final embeddings) to each item index; excludes the item itself.
        Shapes as :func:`cartgraph.gnn.similar.cosine_neighbours`."""
        from cartgraph.gnn.similar import cosine_neighbours

        self._check_fitted()
        return cosine_neighbours(self.item_factors_, items, k)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write settings, learned factors and the seen matrix to one file (atomic)."""
        self._check_fitted()
        state = {"settings": {"embedding_dim": self.embedding_dim, "num_layers": self.num_layers,
                              "config": dataclasses.asdict(self.config), "kinds": self.kinds},
                 "user_factors": self.user_factors_, "item_factors": self.item_factors_,
                 "seen": (self.user_items_.indptr, self.user_items_.indices, self.user_items_.shape)}
        save_state(path, "cartgraph-lightgcn", 1, state)

    @classmethod
    def load(cls, path: str | Path) -> "LightGCN":
        """Read a file written by :meth:`save`."""
        state = load_state(path, "cartgraph-lightgcn", 1)
        model = construct(cls, state["settings"])
        model.user_factors_, model.item_factors_ = state["user_factors"], state["item_factors"]
        indptr, indices, shape = state["seen"]
        model.user_items_ = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=shape)
        return model
