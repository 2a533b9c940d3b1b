"""A text-aware heterogeneous GNN recommender over users, items and categories.

Items enter the graph through their language-model text vectors (384-d from
:func:`cartgraph.text.item_vectors`), so items nobody has bought yet still get
scores: their embedding is built from their text and their categories (see
:class:`~cartgraph.gnn.hetero_net.HeteroNet` for the layers and the math). Trained
with the shared seeded BPR trainer (:func:`~cartgraph.gnn.trainer.train_bpr`),
full-batch message passing per step (these graphs fit in memory many times over).

Losses: BPR with uniform negatives (default) or ``loss="softmax"``, a softmax over the
whole (warm) catalogue per positive pair (see :mod:`cartgraph.gnn.trainer`).

Hybrid option ``base="ease"``: the GNN learns a residual on top of fixed EASE
item–item scores, ``a · x_u B + g · ⟨x_u, x_i⟩`` with ``g = 0`` at the start (the
untrained model ranks as EASE), trained end to end; cold-start items, which have no
EASE column, get one imputed from their nearest warm items by text (see
:mod:`cartgraph.gnn.hetero_base`).

Fold-out training ``fold="time"`` / ``"basket"`` (softmax loss only): the model is
trained to predict the later part of the training data (new items only, as the "new
items" test mode counts them) from the earlier part — graph, EASE base and user
histories all built from the earlier part — and then serves from all of it (EASE
refitted on everything, the graph rebuilt). The residual cannot learn what the base was
fitted on (see :mod:`cartgraph.gnn.hetero_fold`). ``user_ids=False`` represents users by
their items only.

Example::

    model = TextHeteroGNN(epochs=60).fit(split.train, valid=valid_split)
    hybrid = TextHeteroGNN(loss="softmax", base="ease", base_lambda=500).fit(split.train)
    items, scores = model.recommend([0, 1, 2], k=20)     # (3, 20) each
    model.save("gnn.pt"); TextHeteroGNN.load("gnn.pt")
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from cartgraph.baselines.base import MatrixRecommender
from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError
from cartgraph.gnn.hetero_base import BASES, ease_item_weights, impute_cold_columns
from cartgraph.gnn.hetero_fold import FOLDS, fold_matrices
from cartgraph.gnn.hetero_graph import hetero_graph
from cartgraph.gnn.hetero_net import CONVS, HeteroNet
from cartgraph.gnn.item_features import text_features
from cartgraph.gnn.similar import cosine_neighbours
from cartgraph.gnn.state_file import construct, load_state, save_state
from cartgraph.gnn.trainer import TrainConfig, TrainHistory, train_bpr

__all__ = ["TextHeteroGNN"]

_FORMAT = "cartgraph-text-hetero-gnn"
VALID_METRICS = ("recall@20", "ndcg@20")


class TextHeteroGNN(MatrixRecommender):
    """Heterogeneous GNN (PyG ``HeteroConv``) with item text features; serves cold-start items.

    Args:
        embedding_dim: ``d`` (default 64).
        num_layers: message-passing layers ``L`` (default 2).
        conv: ``"sage"`` (mean aggregation, default) or ``"gat"``.
        heads: GAT attention heads (``embedding_dim`` must be divisible by it).
        item_ids: add id embeddings to items with training interactions (default True).
        co_purchase_k: add item → item edges to each item's ``k`` most frequent basket
            partners (default 0: none).
        dropout: feature dropout between layers while training (default 0).
        cold_dropout: share of warm items treated as cold in each epoch (no id embedding,
            no buyer messages; SAGE only), so cold-start items score on a par (default 0).
        loss: ``"bpr"`` (default) or ``"softmax"`` (full-catalogue softmax cross-entropy).
        temperature: softmax temperature ``τ`` (default 1; unused by BPR).
        base: None (default: the pure GNN) or ``"ease"``: learn a residual on top of
            EASE's item–item scores (a hybrid; see the module docstring).
        base_lambda: EASE's λ for ``base="ease"`` (choose it on validation).
        base_neighbours: warm text neighbours whose EASE columns a cold item's column
            is imputed from (default 10; 0 = cold items get base score 0).
        user_ids: learn user id embeddings (default True); False: a user's layer-0
            feature is the mean of its items' (nothing memorises a user's pairs).
        fold: None (default: train on the training pairs), ``"time"`` or ``"basket"``:
            fold-out training on the later part of the training data (needs
            ``loss="softmax"`` and event times; see the module docstring).
        fold_fraction: share of the time span that is the target for ``fold="time"``
            (default 0.2).
        candidates: with ``fold`` and ``base="ease"``: the residual only re-ranks each
            user's ``C`` best new items by EASE (training: softmax over them, pairs
            outside dropped; serving: the other items rank below them in EASE order);
            0 (default): all items.
        valid_metric: what early stopping on ``valid`` maximises: ``"recall@20"``
            (default) or ``"ndcg@20"``.
        epochs, batch_size, lr, weight_decay, eval_every, patience, seed, checkpoint,
            progress, tensorboard: see :class:`~cartgraph.gnn.trainer.TrainConfig`.
        device: ``"cpu"``, ``"cuda"`` or None (CUDA when available).
        kinds: event kinds that count as interactions (default: all).

    Shapes: ``recommend(users (b,), k)`` → ``items (b, k)``, ``scores (b, k)``.
    """

    def __init__(self, embedding_dim: int = 64, num_layers: int = 2, *, conv: str = "sage", heads: int = 1,
                 item_ids: bool = True, co_purchase_k: int = 0, dropout: float = 0.0,
                 cold_dropout: float = 0.0,
                 loss: str = "bpr", temperature: float = 1.0,
                 base: str | None = None, base_lambda: float = 500.0, base_neighbours: int = 10,
                 user_ids: bool = True, fold: str | None = None, fold_fraction: float = 0.2,
                 candidates: int = 0, valid_metric: str = "recall@20",
                 epochs: int = 60,
                 batch_size: int = 8192,
                 lr: float = 5e-3, weight_decay: float = 1e-4, eval_every: int = 5, patience: int = 3,
                 seed: int = 0, checkpoint: str | None = None, progress: bool = True,
                 tensorboard: str | None = None, device: str | None = None,
                 kinds: tuple[str, ...] | None = None) -> None:
        _check_settings(embedding_dim, num_layers, conv, heads, dropout, epochs, batch_size, lr)
        self.embedding_dim, self.num_layers, self.conv, self.heads = embedding_dim, num_layers, conv, heads
        self.item_ids, self.dropout, self.device, self.kinds = item_ids, dropout, device, kinds
        if co_purchase_k < 0:
            raise ConfigError(f"co_purchase_k must be >= 0, got {co_purchase_k}")
        self.co_purchase_k = co_purchase_k
        if not 0.0 <= cold_dropout < 1.0:
            raise ConfigError(f"cold_dropout must be in [0, 1), got {cold_dropout}")
        self.cold_dropout = cold_dropout
        if base not in BASES:
            raise ConfigError(f"base must be one of {BASES}, got {base!r}")
        if not base_lambda > 0 or base_neighbours < 0:
            raise ConfigError(f"base_lambda must be > 0 and base_neighbours >= 0, got {base_lambda} and "
                              f"{base_neighbours}")
        self.base, self.base_lambda, self.base_neighbours = base, base_lambda, base_neighbours
        if fold not in FOLDS:
            raise ConfigError(f"fold must be one of {FOLDS}, got {fold!r}")
        if fold is not None and loss != "softmax":
            raise ConfigError(f"fold={fold!r} trains with loss='softmax' (it masks the items a user already "
                              f"had); got loss={loss!r}")
        if not 0.0 < fold_fraction < 1.0:
            raise ConfigError(f"fold_fraction must be in (0, 1), got {fold_fraction!r}")
        self.user_ids, self.fold, self.fold_fraction = bool(user_ids), fold, fold_fraction
        if candidates < 0 or (candidates and (fold is None or base != "ease")):
            raise ConfigError(f"candidates must be >= 0, and > 0 only with a fold and base='ease'; got {candidates} "
                              f"(fold={fold!r}, base={base!r})")
        self.candidates = int(candidates)
        if valid_metric not in VALID_METRICS:
            raise ConfigError(f"valid_metric must be one of {VALID_METRICS}, got {valid_metric!r}")
        self.valid_metric = valid_metric
        self.config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                                  eval_every=eval_every, patience=patience, seed=seed, checkpoint=checkpoint,
                                  progress=progress, tensorboard=tensorboard, loss=loss, temperature=temperature)

    # ------------------------------------------------------------------ training
    def fit(self, dataset: Dataset, valid=None, *, item_vectors: np.ndarray | None = None) -> "TextHeteroGNN":
        """Train on ``dataset``'s interactions, items' text and categories.

        Args:
            valid: a validation :class:`~cartgraph.evaluation.splits.Split` whose
                ``train`` is ``dataset``; Recall@20 on it drives early stopping.
            item_vectors: ``(n_items, dim)`` text vectors in item-index order
                (default: encode the items, cached).
        """
        if valid is not None and valid.train.n_items != dataset.n_items:
            raise ConfigError(f"valid: its split fits on {valid.train.n_items} items, the dataset has "
                              f"{dataset.n_items}; pass the validation split of this dataset")
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.user_items_ = sp.csr_matrix(dataset.interactions(self.kinds), dtype=np.float32)
        text_np = text_features(dataset, item_vectors)
        text = torch.as_tensor(text_np, device=device)
        graph = hetero_graph(dataset, self.user_items_, self.co_purchase_k).to(device)
        if self.fold is not None:
            return self._fit_fold(dataset, valid, text_np, text, graph, device)
        coo = self.user_items_.tocoo()
        warm_position = np.cumsum(graph.item_degree > 0) - 1  # trainer samples among warm items only
        users = torch.as_tensor(coo.row, dtype=torch.long, device=device)
        items = torch.as_tensor(warm_position[coo.col], dtype=torch.long, device=device)
        base, scale = None, 1.0
        if self.base == "ease":
            base_np = self._fit_base(text_np, graph.item_degree > 0)
            scale = _initial_scale(base_np, coo.row, warm_position[coo.col], self.config)
            base = torch.as_tensor(base_np, device=device)
        self.module_ = HeteroNet(graph, text, self.embedding_dim, self.num_layers, self.conv, self.heads,
                                 self.item_ids, self.dropout, self.config.seed, base=base, base_scale=scale,
                                 user_ids=self.user_ids)
        self._train(users, items, valid)
        self.module_.base = None  # the training users' base matrix is not needed for serving
        return self

    def _train(self, users: torch.Tensor, items: torch.Tensor, valid) -> None:
        """Run the shared trainer on pairs ``(users[k], items[k])`` (items index the
        module's softmax columns), then cache the final embeddings."""
        self.module_.cold_dropout = self.cold_dropout
        validate = None if valid is None else self._validator(valid)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)  # feature dropout draws from the global generator
            n_warm = len(self.module_.warm_items)
            self.history_: TrainHistory = train_bpr(self.module_, users, items, n_warm, self.config, validate)
        self._cache_embeddings()

    def _fit_fold(self, dataset: Dataset, valid, text_np: np.ndarray, text: torch.Tensor, graph, device):
        """Fold-out training: input = the early part, target = the later part's new items;
        serving state (graph, EASE weights) from all of ``dataset``."""
        early, target = fold_matrices(dataset, self.fold, self.fold_fraction, self.kinds)
        train_graph = hetero_graph(dataset, early, self.co_purchase_k).to(device)
        warm = graph.item_degree > 0                 # softmax columns: every item with training data
        columns = np.flatnonzero(warm)
        position = np.cumsum(warm) - 1
        coo = target.tocoo()
        users = torch.as_tensor(coo.row, dtype=torch.long, device=device)
        items = torch.as_tensor(position[coo.col], dtype=torch.long, device=device)
        mask_np = early[:, columns].toarray() > 0    # (U, I_c): items the user already had
        base, scale = None, 1.0
        if self.base == "ease":
            early_weights = impute_cold_columns(ease_item_weights(early, self.base_lambda), text_np,
                                                train_graph.item_degree > 0, self.base_neighbours)
            base_np = np.asarray(early @ early_weights[:, columns], dtype=np.float32)   # (U, I_c)
            if self.candidates:
                mask_np |= ~_top_new(base_np, mask_np, self.candidates)
                inside = ~mask_np[coo.row, position[coo.col]]
                if not inside.any():
                    raise ConfigError(f"candidates={self.candidates}: no target pair is among its user's "
                                      f"{self.candidates} best new items by EASE; raise it")
                coo = sp.coo_matrix((coo.data[inside], (coo.row[inside], coo.col[inside])), shape=coo.shape)
                users = torch.as_tensor(coo.row, dtype=torch.long, device=device)
                items = torch.as_tensor(position[coo.col], dtype=torch.long, device=device)
            scale = _initial_scale(np.where(mask_np, -np.inf, base_np), coo.row, position[coo.col], self.config)
            base = torch.as_tensor(base_np, device=device)
            self._fit_base(text_np, warm)  # serving weights, from all of the training data
        self.module_ = HeteroNet(train_graph, text, self.embedding_dim, self.num_layers, self.conv, self.heads,
                                 self.item_ids, self.dropout, self.config.seed, base=base, base_scale=scale,
                                 user_ids=self.user_ids, columns=torch.as_tensor(columns, device=device),
                                 mask=torch.as_tensor(mask_np, device=device))
        self._serve_graph, self._train_graph = graph, train_graph
        self._train(users, items, valid)
        self.module_.set_graph(graph)
        self._cache_embeddings()
        self.module_.base = self.module_.mask = None
        self._serve_graph = self._train_graph = None
        return self

    def _fit_base(self, text: np.ndarray, warm: np.ndarray) -> np.ndarray:
        """EASE weights with imputed cold columns (kept for serving: rows of warm items,
        ``(I_warm, I)``); returns the training users' base scores ``(U, I_warm)`` float32."""
        weights = impute_cold_columns(ease_item_weights(self.user_items_, self.base_lambda), text, warm,
                                      self.base_neighbours)
        self.base_rows_ = np.flatnonzero(warm)
        self.base_weights_ = np.ascontiguousarray(weights[self.base_rows_])
        return np.asarray(self.user_items_[:, self.base_rows_] @ self.base_weights_[:, self.base_rows_],
                          dtype=np.float32)

    def _validator(self, valid):
        from cartgraph.evaluation import evaluate

        def validate() -> float:
            serve = getattr(self, "_serve_graph", None)
            if serve is not None:  # fold-out training: score as served, from all the training data
                self.module_.set_graph(serve)
            self._cache_embeddings()
            if serve is not None:
                self.module_.set_graph(self._train_graph)
            self.module_.train()
            return evaluate(self, valid, ks=(20,), progress=False)[self.valid_metric]

        return validate

    def _cache_embeddings(self) -> None:
        self.module_.eval()
        with torch.no_grad():
            users, items = self.module_()
        self.user_factors_, self.item_factors_ = users.float().cpu().numpy(), items.float().cpu().numpy()
        if self.base is not None:
            self.base_scale_ = float(self.module_.log_base_scale.detach().exp())
            self.gate_ = float(self.module_.gate.detach())
        self.module_.train()

    # ------------------------------------------------------------------ serving
    def _recommend_batch_size(self) -> int:
        return 1024

    def _score(self, users: np.ndarray) -> np.ndarray:
        scores = self.user_factors_[users] @ self.item_factors_.T
        if self.base is None:
            return scores
        x = self.user_items_[users]
        base = np.asarray(x[:, self.base_rows_] @ self.base_weights_)
        out = self.base_scale_ * base + self.gate_ * scores
        if not self.candidates:
            return out
        seen = x.toarray() > 0
        keep = _top_new(base, seen, self.candidates) | seen
        # the other items rank below every candidate, in EASE's order (float64: the shift
        # must not swallow small EASE differences)
        out, low = out.astype(np.float64), self.base_scale_ * base.astype(np.float64)
        shift = np.max(np.where(keep, out, -np.inf), axis=1, keepdims=True) - np.min(low, axis=1, keepdims=True) + 1.0
        return np.where(keep, out, low - shift)

    def similar_items(self, items, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Items closest by cosine of final item embeddings (the item itself excluded);
        cold-start items included. Shapes: ``items (b,)`` → ``(b, k)``; scalar → ``(k,)``."""
        self._check_fitted()
        return cosine_neighbours(self.item_factors_, items, k)

    # ------------------------------------------------------------------ persistence
    def _settings(self) -> dict:
        return {"embedding_dim": self.embedding_dim, "num_layers": self.num_layers, "conv": self.conv,
                "heads": self.heads, "item_ids": self.item_ids, "co_purchase_k": self.co_purchase_k,
                "cold_dropout": self.cold_dropout, "base": self.base, "base_lambda": self.base_lambda,
                "base_neighbours": self.base_neighbours, "user_ids": self.user_ids, "fold": self.fold,
                "fold_fraction": self.fold_fraction, "candidates": self.candidates,
                "valid_metric": self.valid_metric,
                "dropout": self.dropout, "kinds": self.kinds,
                "config": dataclasses.asdict(self.config)}

    def save(self, path: str | Path) -> None:
        """Write settings, final user/item embeddings and the seen matrix to one file (atomic)."""
        self._check_fitted()
        m = self.user_items_
        state = {"settings": self._settings(), "user_factors": self.user_factors_,
                 "item_factors": self.item_factors_, "seen": (m.indptr, m.indices, m.shape)}
        if self.base is not None:
            state["base"] = {"rows": self.base_rows_, "weights": self.base_weights_, "scale": self.base_scale_,
                             "gate": self.gate_}
        save_state(path, _FORMAT, 1, state)

    @classmethod
    def load(cls, path: str | Path) -> "TextHeteroGNN":
        """Read a file written by :meth:`save` (serving only: ``recommend``, ``similar_items``)."""
        state = load_state(path, _FORMAT, 1)
        model = construct(cls, state["settings"])
        model.user_factors_, model.item_factors_ = state["user_factors"], state["item_factors"]
        indptr, indices, shape = state["seen"]
        model.user_items_ = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=shape)
        if "base" in state:
            b = state["base"]
            model.base_rows_, model.base_weights_ = b["rows"], b["weights"]
            model.base_scale_, model.gate_ = b["scale"], b["gate"]
        return model


def _top_new(base: np.ndarray, had: np.ndarray, c: int) -> np.ndarray:
    """``(U, I)`` bool: each row's ``c`` highest ``base`` scores among items not in ``had``
    (ties: lower index first is not guaranteed; all of a row's new items if fewer)."""
    b = np.where(had, -np.inf, base)
    c = min(c, b.shape[1])
    top = np.argpartition(-b, c - 1, axis=1)[:, :c]
    out = np.zeros(b.shape, dtype=bool)
    np.put_along_axis(out, top, True, axis=1)
    return out & ~had


def _initial_scale(base: np.ndarray, users: np.ndarray, items: np.ndarray, config: TrainConfig,
                   sample: int = 4096) -> float:
    """The base scale ``a`` (of 0.1 … 1000, log grid) whose softmax ``a · base(u, ·) / τ``
    gives the training pairs the lowest cross-entropy (on a seeded sample of them): the
    untrained hybrid starts as EASE at its best softmax sharpness."""
    rng = np.random.default_rng(config.seed)
    pick = rng.choice(len(users), size=min(sample, len(users)), replace=False)
    rows = torch.as_tensor(base[users[pick]], dtype=torch.float64)
    target = torch.as_tensor(items[pick], dtype=torch.long)
    grid = np.geomspace(0.1, 1000.0, 41)
    ce = [float(torch.nn.functional.cross_entropy(rows * (a / config.temperature), target)) for a in grid]
    return float(grid[int(np.argmin(ce))])


def _check_settings(dim: int, layers: int, conv: str, heads: int, dropout: float, epochs: int,
                    batch_size: int, lr: float) -> None:
    if conv not in CONVS:
        raise ConfigError(f"conv must be one of {CONVS}, got {conv!r}")
    if dim < 1 or layers < 0:
        raise ConfigError(f"embedding_dim must be >= 1 and num_layers >= 0, got {dim} and {layers}")
    if heads < 1 or dim % heads:
        raise ConfigError(f"heads must be >= 1 and divide embedding_dim ({dim}), got {heads}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ConfigError(f"epochs and batch_size must be >= 1 and lr > 0, got {epochs}, {batch_size}, {lr}")
