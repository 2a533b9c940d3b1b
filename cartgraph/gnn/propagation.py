"""Sparse propagation over the user–item graph, made fast.

LightGCN's propagation is ``E <- Â E`` with the symmetric normalised bipartite
adjacency ``Â = D^{-1/2} A D^{-1/2}``. Storing ``Â`` once as a CSR tensor and
multiplying it with the dense embedding matrix avoids PyG's per-edge message tensors
(``(n_edges, dim)`` per layer). Because ``Â`` is symmetric, the backward pass of
``Â @ X`` is again ``Â @ grad``: :class:`SymmetricSpMM` uses that instead of autograd's
generic sparse transpose, which is several times slower on CPU.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["normalized_adjacency", "SymmetricSpMM", "propagate"]


def normalized_adjacency(interactions: sp.csr_matrix, device: torch.device | str = "cpu") -> torch.Tensor:
    """``Â`` of the bipartite graph as a torch CSR tensor, shape ``(U + I, U + I)`` float32.

    Args:
        interactions: binary user × item matrix, shape ``(U, I)``.

    Rows ``0..U-1`` are users, ``U..U+I-1`` items. Isolated nodes keep zero rows.
    """
    r = sp.csr_matrix(interactions, dtype=np.float32)
    r.data[:] = 1.0
    n_users, n_items = r.shape
    adj = sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float32)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(deg)
    inv_sqrt[deg > 0] = deg[deg > 0] ** -0.5
    norm = sp.diags(inv_sqrt) @ adj @ sp.diags(inv_sqrt)
    norm = norm.tocsr()
    norm.sort_indices()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(norm.indptr.astype(np.int64)),
            torch.from_numpy(norm.indices.astype(np.int64)),
            torch.from_numpy(norm.data.astype(np.float32)),
            size=norm.shape,
            device=device,
            check_invariants=False,
        )


class SymmetricSpMM(torch.autograd.Function):
    """``Â @ X`` for a *symmetric* sparse ``Â``; gradient ``Â @ grad`` (no transpose)."""

    @staticmethod
    def forward(ctx, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.adj = adj
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return None, torch.sparse.mm(ctx.adj, grad)


def propagate(adj: torch.Tensor, x: torch.Tensor, num_layers: int) -> torch.Tensor:
    """Mean of ``x, Âx, Â²x, ..., Â^L x`` (LightGCN's layer combination, α = 1/(L+1)).

    Shapes: ``adj (N, N)`` sparse, ``x (N, d)`` → ``(N, d)``.
    """
    out = x
    layer = x
    for _ in range(num_layers):
        layer = SymmetricSpMM.apply(adj, layer)
        out = out + layer
    return out / (num_layers + 1)


class SpMM(torch.autograd.Function):
    """``A @ X`` for a sparse ``A`` whose transpose ``A_t`` is given (precomputed once)."""

    @staticmethod
    def forward(ctx, adj: torch.Tensor, adj_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.adj_t = adj_t
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return None, None, torch.sparse.mm(ctx.adj_t, grad)


def csr(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A torch CSR tensor from COO triplets (duplicates summed)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        coo = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, shape, check_invariants=False).coalesce()
        return coo.to_sparse_csr()


def bipartite_adjacency(rows: torch.Tensor, cols: torch.Tensor, n_rows: int, n_cols: int) -> torch.Tensor:
    """``D^{-1/2} A D^{-1/2}`` of the bipartite graph with edges ``rows[k] — cols[k]``, as CSR.

    Node order: the ``n_rows`` row-side nodes, then the ``n_cols`` column-side nodes.
    Shape ``(n_rows + n_cols, n_rows + n_cols)``; symmetric.
    """
    src = torch.cat([rows, cols + n_rows])
    dst = torch.cat([cols + n_rows, rows])
    deg = torch.bincount(src, minlength=n_rows + n_cols).float()
    inv = deg.clamp(min=1).pow(-0.5)
    return csr(src, dst, inv[src] * inv[dst], (n_rows + n_cols, n_rows + n_cols))


def mean_aggregation(rows: torch.Tensor, cols: torch.Tensor, n_rows: int, n_cols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-normalised membership matrix ``M`` (``M @ X`` = mean of each row's members) and ``Mᵀ``."""
    count = torch.bincount(rows, minlength=n_rows).float().clamp(min=1)
    values = 1.0 / count[rows]
    return csr(rows, cols, values, (n_rows, n_cols)), csr(cols, rows, values, (n_cols, n_rows))
