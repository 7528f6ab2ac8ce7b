"""The pieces of the k-center's exact pruning: matrix products on the chosen device, a coarse clustering of
the pool with per-cluster radii (triangle-inequality bounds), and PCA lower bounds on distances.

`kcenter.py` keeps the greedy loop and its running minimum; this module holds what only serves to skip
distance computations that cannot change a row's minimum.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

U32 = 2.0**-24  # float32 unit roundoff
MANY_ROWS = 4096  # rows per block against many centres (a block x 256 temporaries stay ~4 MB)
_PCA_SAMPLE = 20_000


class Ops:
    """Matrix products and segment maxima on the chosen device (NumPy BLAS for float32 on CPU)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cpu = device.type == "cpu"

    def mv(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        if self.cpu and x.dtype == torch.float32:
            return torch.from_numpy(x.numpy() @ u.numpy())
        return torch.mv(x, u.to(x.dtype)).float()

    def mm(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """(n, d) x (m, d) -> (n, m) float32."""
        if self.cpu and x.dtype == torch.float32:
            return torch.from_numpy(x.numpy() @ c.numpy().T)
        return (x @ c.to(x.dtype).T).float()

    def segment_max(self, t: torch.Tensor, starts: np.ndarray) -> np.ndarray:
        """Max of `t` over consecutive non-empty segments beginning at `starts` (relative to t)."""
        if self.cpu:
            return np.maximum.reduceat(t.numpy(), starts)
        lengths = torch.as_tensor(np.diff(np.append(starts, len(t))), device=t.device)
        return torch.segment_reduce(t, "max", lengths=lengths).cpu().numpy()


def shared_tensor(x: np.ndarray) -> torch.Tensor:
    """A CPU tensor over `x` without a copy, also when `x` is a read-only memory map (pool evidence on
    disk): k-center only reads it, so torch's warning about non-writable arrays would only be noise."""
    if x.flags.writeable:
        return torch.from_numpy(x)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The given NumPy array is not writable")
        return torch.from_numpy(x)


class Clusters:
    """Coarse k-means of the pool: storage order (sorted by cluster), bounds, centres, radii."""

    def __init__(self, x: np.ndarray, n_clusters: int, seed: int, ops: Ops, sample: int = 0) -> None:
        n = len(x)
        rng = np.random.default_rng(seed)
        k = max(1, min(n, n_clusters))
        sample = min(n, max(sample, 32 * k))
        rows = np.sort(rng.choice(n, size=sample, replace=False))
        pts = torch.from_numpy(x[rows])
        centres = pts[torch.from_numpy(np.sort(rng.choice(sample, size=k, replace=False)))].clone()
        for _ in range(4):  # a few Lloyd steps on the sample; any centres give valid bounds
            assign = self._assign(pts, centres, ops)
            sums = torch.zeros_like(centres).index_add_(0, assign, pts)
            counts = torch.bincount(assign, minlength=k)
            keep = counts > 0
            centres[keep] = sums[keep] / counts[keep, None].float()
        assign = self._assign(shared_tensor(x), centres, ops).numpy()
        used, assign = np.unique(assign, return_inverse=True)  # drop empty clusters
        self.centres = centres.numpy()[used].astype(np.float64)
        self.perm = np.argsort(assign, kind="stable")  # storage position -> original row
        counts = np.bincount(assign, minlength=len(used))
        self.bounds = np.concatenate([[0], np.cumsum(counts)])
        self.starts = self.bounds[:-1]
        self.assign = assign

    @staticmethod
    def _assign(pts: torch.Tensor, centres: torch.Tensor, ops: Ops, chunk: int = 8192) -> torch.Tensor:
        cn = (centres * centres).sum(1)
        out = []
        for s in range(0, len(pts), chunk):
            out.append((cn[None] - 2 * ops.mm(pts[s : s + chunk], centres)).argmin(1))
        return torch.cat(out)

    def radii(self, x: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """Largest exact (float64) distance from each cluster's centre to its members (x in row order)."""
        dist = np.empty(len(x))
        for s in range(0, len(x), chunk):
            diff = x[s : s + chunk].astype(np.float64) - self.centres[self.assign[s : s + chunk]]
            dist[s : s + chunk] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        return np.maximum.reduceat(dist[self.perm], self.starts)

    def labeled_keep(self, radius: np.ndarray, maxsqn: np.ndarray, centres: np.ndarray) -> list[np.ndarray]:
        """Per cluster, the labelled rows that may be some member's nearest: the others are farther than
        the cluster's upper bound on every member's minimum (with the float32 rounding margin)."""
        c64 = centres.astype(np.float64)
        cn = (c64**2).sum(1)
        gram = (self.centres**2).sum(1)[:, None] + cn[None] - 2 * self.centres @ c64.T
        dcl = np.sqrt(np.clip(gram, 0, None))
        upper = (dcl + radius[:, None]).min(1)  # no member's minimum exceeds this
        lower = np.clip(dcl - radius[:, None], 0, None)
        slack = 3 * centres.shape[1] * U32 * (maxsqn[:, None] + cn[None])
        return [np.flatnonzero(row) for row in lower**2 <= upper[:, None] ** 2 + slack]


class PcaBound:
    """|x - u|^2 >= |P(x - u)|^2 + (|r_x| - |r_u|)^2 for an orthonormal projection P and residuals r."""

    def __init__(self, x: np.ndarray, dims: int, seed: int, device: torch.device) -> None:
        self.dims = dims
        self.mean, self.basis = _pca_basis(x, dims, seed)
        proj = _project(x, self.mean, self.basis)
        centred2 = np.concatenate(
            [
                ((x[s : s + MANY_ROWS].astype(np.float64) - self.mean) ** 2).sum(1)
                for s in range(0, len(x), MANY_ROWS)
            ]
        )
        pn = (proj.astype(np.float64) ** 2).sum(1)
        self.proj = torch.from_numpy(proj).to(device)
        self.pn = torch.from_numpy(pn.astype(np.float32)).to(device)
        self.resid = torch.from_numpy(np.sqrt(np.clip(centred2 - pn, 0, None)).astype(np.float32)).to(device)

    def lower_bound2(self, u: torch.Tensor, ops: Ops) -> torch.Tensor:
        """(N,) float32 lower bounds on the squared distance of every row to u."""
        u64 = u.double().cpu().numpy() - self.mean
        pu = (u64.astype(np.float32) @ self.basis).astype(np.float32)
        pu64 = pu.astype(np.float64)
        ru = math.sqrt(max(float(u64 @ u64 - pu64 @ pu64), 0.0))
        put = torch.from_numpy(pu).to(self.proj.device)
        dp2 = (self.pn + float(pu64 @ pu64) - 2 * ops.mv(self.proj, put)).clamp_min_(0.0)
        return dp2 + (self.resid - ru) ** 2


def _pca_basis(x: np.ndarray, dims: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean (float64) and the first `dims` principal axes (d, dims) float32 of a sample of the rows."""
    if not 1 <= dims <= x.shape[1]:
        raise ValueError(f"dims must be in [1, {x.shape[1]}], got {dims}")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(x), size=min(len(x), _PCA_SAMPLE), replace=False))
    mean = np.zeros(x.shape[1])
    for s in range(0, len(rows), 2048):
        mean += x[rows[s : s + 2048]].sum(0, dtype=np.float64)
    mean /= len(rows)
    scatter = np.zeros((x.shape[1], x.shape[1]))
    for s in range(0, len(rows), 2048):  # float64 in blocks: no float64 copy of the sample
        block = x[rows[s : s + 2048]].astype(np.float64) - mean
        scatter += block.T @ block
    _, vecs = np.linalg.eigh(scatter)
    return mean, np.ascontiguousarray(vecs[:, ::-1][:, :dims]).astype(np.float32)


def _project(x: np.ndarray, mean: np.ndarray, basis: np.ndarray) -> np.ndarray:
    mean32 = mean.astype(np.float32)
    out = np.empty((len(x), basis.shape[1]), dtype=np.float32)
    for s in range(0, len(x), MANY_ROWS):  # float32 temporaries of MANY_ROWS x d
        out[s : s + MANY_ROWS] = (x[s : s + MANY_ROWS] - mean32) @ basis
    return out


def fit_pca(x: np.ndarray, labeled: np.ndarray, dims: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Project pool and labelled rows on the pool's first `dims` principal axes (fitted on a sample)."""
    mean, basis = _pca_basis(x, dims, seed)
    return _project(x, mean, basis), _project(labeled, mean, basis)
