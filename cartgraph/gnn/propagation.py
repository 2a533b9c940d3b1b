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


def _csr_sorted(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A CSR tensor from triplets already sorted by row (no sort, no coalesce)."""
    crow = torch.zeros(shape[0] + 1, dtype=torch.long, device=rows.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=shape[0]), 0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, cols, values, shape, check_invariants=False)


class EdgeGraph:
    """Fixed bipartite edges ``rows[k] — cols[k]`` that yield normalised sparse matrices,
    optionally with a random subset of edges dropped (edge-dropout augmentation).

    Entries are sorted by row once, here; every matrix built later keeps that order,
    so a new augmented graph each epoch costs a mask and a cumulative sum, not a sort.
    """

    def __init__(self, rows: torch.Tensor, cols: torch.Tensor, n_rows: int, n_cols: int) -> None:
        self.n_rows, self.n_cols, self.n_edges = n_rows, n_cols, len(rows)
        edge = torch.arange(len(rows), device=rows.device)
        src = torch.cat([rows, cols + n_rows])
        dst = torch.cat([cols + n_rows, rows])
        order = torch.argsort(src * (n_rows + n_cols) + dst)
        self.sym = (src[order], dst[order], torch.cat([edge, edge])[order])
        order_r = torch.argsort(rows * n_cols + cols)
        order_c = torch.argsort(cols * n_rows + rows)
        self.by_row = (rows[order_r], cols[order_r], edge[order_r])
        self.by_col = (cols[order_c], rows[order_c], edge[order_c])

    def keep_mask(self, dropout: float, generator: torch.Generator | None) -> torch.Tensor | None:
        """A random mask over edges keeping each with probability ``1 - dropout`` (None: keep all)."""
        if generator is None or dropout <= 0:
            return None
        return torch.rand(self.n_edges, generator=generator, device=self.sym[0].device) >= dropout

    def adjacency(self, keep: torch.Tensor | None = None) -> torch.Tensor:
        """``D^{-1/2} A D^{-1/2}`` over both sides, shape ``(R + C, R + C)``, symmetric CSR."""
        src, dst, edge = self.sym
        if keep is not None:
            m = keep[edge]
            src, dst = src[m], dst[m]
        n = self.n_rows + self.n_cols
        inv = torch.bincount(src, minlength=n).float().clamp(min=1).pow(-0.5)
        return _csr_sorted(src, dst, inv[src] * inv[dst], (n, n))

    def row_mean(self, keep: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Row-normalised ``M`` (``M @ X`` = mean of each row's columns), shape ``(R, C)``, and ``Mᵀ``."""
        (r, c, e), (c2, r2, e2) = self.by_row, self.by_col
        if keep is not None:
            m, m2 = keep[e], keep[e2]
            r, c, c2, r2 = r[m], c[m], c2[m2], r2[m2]
        count = torch.bincount(r, minlength=self.n_rows).float().clamp(min=1)
        return (_csr_sorted(r, c, 1.0 / count[r], (self.n_rows, self.n_cols)),
                _csr_sorted(c2, r2, 1.0 / count[r2], (self.n_cols, self.n_rows)))
