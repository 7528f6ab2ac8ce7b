"""Greedy k-center (Sener & Savarese 2018; paper 003 Eq. 1-2) that scales to 100,000 x 1,280 on a CPU.

The greedy loop keeps one vector: each pool row's squared distance to its nearest centre (labelled rows and
the picks so far). It is initialised from the labelled set in chunks, and each pick adds one distance
column (`|x|^2 + |u|^2 - 2 x.u`, one matrix-vector product), so memory stays O(N) beyond the features and
no distance is computed twice. Never an N x N or budget x N matrix.

Numerics: float32 throughout. The norm form loses precision when a row is close to the new centre
relative to their norms (cancellation), so rows with `d^2 < 1e-3 (|x|^2 + |u|^2)` are recomputed as a sum
of squared differences: duplicates get exactly 0 and near neighbours their accurate distance. Each row
also remembers which centre gave its minimum. Rounding is bounded by tol = 3 d eps32 (|x|^2 + |c|^2); the
rows within 2 tol of the largest minimum are the candidates for the next pick, and with several, their
float64 distances to their own nearest centre decide (O(d) each). Picks therefore follow exact arithmetic,
not the rounding of one mode's matrix products.

Past the bandwidth limit (every exact pick reads all N x d features), two exact prunings skip distances
that cannot lower a minimum; a margin covers float32 rounding, so the picks are the plain loop's.

- `prune="pca"` (what `"auto"` uses on pools of >= 20,000 rows with >= 256 float32 features): the pool's
  first 128 principal axes P (fitted on <= 20,000 rows) give, for every row, |x - u|^2 >=
  |P(x - u)|^2 + (|r_x| - |r_u|)^2 with r the residual off the axes. Per pick one N x 128 product bounds
  every row, and only rows whose bound (less 0.2 %) is below their minimum (plus tol) are computed,
  gathered. On pooled Lite0 embeddings that is 0.1-0.4 % of the rows per pick. When more than 30 % remain
  a pick reads all rows instead, and "auto" drops the bound when its first 20 picks average above that
  (isotropic Gaussian data, where no projection separates rows).
- `prune=True` / `"clusters"`: the pool is grouped by a coarse k-means (about sqrt(N) centres, a few Lloyd
  steps on a sample) and copied cluster by cluster. A cluster keeps its radius r_c (float64) and the
  largest running minimum M_c of its members; a new centre u cannot lower any member's minimum when
  |m_c - u| - r_c >= M_c, so the cluster is skipped and the next pick is read from the clusters' maxima.
  The labelled set is pruned the same way per cluster. On 1,280-d Lite0 embeddings k-means clusters are
  too wide for this to skip anything (measured); it helps on well-separated, low-dimensional clusters.

Approximate modes, judged by the covering radius they reach: `precision="float16"` / `"bfloat16"` stores
the centred features at half the size (half the bandwidth), `dims=k` runs the loop on the first k
principal components (fitted on a sample of at most 20,000 rows).

On CPU the matrix products go through NumPy's BLAS (measured 2x faster than torch's sgemv on the
development machine's AMD EPYC for a 100,000 x 1,280 matrix-vector product); on CUDA everything is torch.

Rules: ties go to the lowest pool index. With an empty labelled set the first pick is the row farthest from
the pool mean (`first="farthest_from_mean"`, deterministic) or a uniformly random row (`first="random"`,
as Google's `kcenter_greedy` that Sener & Savarese's experiments use); paper 003 always starts from a
random 10 % labelled set, so it never meets this case. A budget >= N returns every row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

# (min distance of each pool row to its nearest centre (N,) float64, 0 for picked rows; mask of rows still
# available (N,) bool) -> scores (N,). The loop picks the highest available score (lowest index on ties).
ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

_U32 = 2.0**-24  # float32 unit roundoff
_NEAR = 1e-3  # rows with d^2 below this fraction of |x|^2 + |u|^2 are recomputed as sum((x - u)^2)
_PRUNE_AUTO_ROWS = 20_000  # prune="auto" clusters pools at least this large
_MANY_ROWS = 4096  # rows per block against many centres (a block x 256 temporaries stay ~4 MB)
_BOUND_DIMS = 128  # principal components behind prune="pca" bounds
_BOUND_MARGIN = 2e-3  # relative margin on PCA lower bounds (float32 rounding of the projections)
_GATHER_LIMIT = 0.3  # above this fraction of rows to compute, read them all rather than gather them
_MANY_PROBE = 50  # labelled rows through the PCA bound before judging whether it pays for them
_AUTO_PROBE = 20  # prune="auto" drops the PCA bound if the first picks computed > _GATHER_LIMIT of rows
_PCA_SAMPLE = 20_000
_PICKED = -1.0  # running minimum of a picked row: never the maximum, never lowered


@dataclass(frozen=True)
class KCenterResult:
    """Pool rows in pick order, the score that won each pick, and every row's final min distance."""

    indices: np.ndarray  # (k,) int64
    scores: np.ndarray  # (k,) float64: plain k-center: the min distance the pick had (the radius before it)
    min_distances: np.ndarray  # (N,) float64: distance to the nearest labelled or picked row after all picks
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def radius(self) -> float:
        """Covering radius: max over the pool of the distance to the nearest labelled or picked row."""
        return float(self.min_distances.max()) if len(self.min_distances) else 0.0


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _as_float32(x: Any, name: str, dim: int | None = None) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, features), got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} has {arr.shape[1]} features, the pool has {dim}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


class _Ops:
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


class _Clusters:
    """Coarse k-means of the pool: storage order (sorted by cluster), bounds, centres, radii."""

    def __init__(self, x: np.ndarray, n_clusters: int, seed: int, ops: _Ops, sample: int = 0) -> None:
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
        assign = self._assign(torch.from_numpy(x), centres, ops).numpy()
        used, assign = np.unique(assign, return_inverse=True)  # drop empty clusters
        self.centres = centres.numpy()[used].astype(np.float64)
        self.perm = np.argsort(assign, kind="stable")  # storage position -> original row
        counts = np.bincount(assign, minlength=len(used))
        self.bounds = np.concatenate([[0], np.cumsum(counts)])
        self.starts = self.bounds[:-1]
        self.assign = assign

    @staticmethod
    def _assign(pts: torch.Tensor, centres: torch.Tensor, ops: _Ops, chunk: int = 8192) -> torch.Tensor:
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
        slack = 3 * centres.shape[1] * _U32 * (maxsqn[:, None] + cn[None])
        return [np.flatnonzero(row) for row in lower**2 <= upper[:, None] ** 2 + slack]


class _PcaBound:
    """|x - u|^2 >= |P(x - u)|^2 + (|r_x| - |r_u|)^2 for an orthonormal projection P and residuals r."""

    def __init__(self, x: np.ndarray, dims: int, seed: int, device: torch.device) -> None:
        self.dims = dims
        self.mean, self.basis = _pca_basis(x, dims, seed)
        proj = _project(x, self.mean, self.basis)
        centred2 = np.concatenate(
            [
                ((x[s : s + _MANY_ROWS].astype(np.float64) - self.mean) ** 2).sum(1)
                for s in range(0, len(x), _MANY_ROWS)
            ]
        )
        pn = (proj.astype(np.float64) ** 2).sum(1)
        self.proj = torch.from_numpy(proj).to(device)
        self.pn = torch.from_numpy(pn.astype(np.float32)).to(device)
        self.resid = torch.from_numpy(np.sqrt(np.clip(centred2 - pn, 0, None)).astype(np.float32)).to(device)

    def lower_bound2(self, u: torch.Tensor, ops: _Ops) -> torch.Tensor:
        """(N,) float32 lower bounds on the squared distance of every row to u."""
        u64 = u.double().cpu().numpy() - self.mean
        pu = (u64.astype(np.float32) @ self.basis).astype(np.float32)
        pu64 = pu.astype(np.float64)
        ru = math.sqrt(max(float(u64 @ u64 - pu64 @ pu64), 0.0))
        put = torch.from_numpy(pu).to(self.proj.device)
        dp2 = (self.pn + float(pu64 @ pu64) - 2 * ops.mv(self.proj, put)).clamp_min_(0.0)
        return dp2 + (self.resid - ru) ** 2


class _RunningMin:
    """The running minimum squared distance of every pool row to the centres added so far."""

    def __init__(
        self,
        x: np.ndarray,
        device: torch.device,
        precision: str,
        prune: bool,
        n_clusters: int | None,
        chunk_rows: int,
        seed: int,
        bound_dims: int = 0,
        auto: bool = False,
    ) -> None:
        """`prune`: "clusters" (k-means triangle bounds), "pca" (per-row bounds from the first
        `bound_dims` principal components; with `auto`, dropped when they stop paying) or None."""
        self.ops = _Ops(device)
        self.n, self.d = x.shape
        self.chunk = chunk_rows
        self.stats = {"rows_computed": 0, "rows_total": 0, "clusters": 0, "bound_dims": 0}
        self.clusters = None
        self.bound = None
        self.auto = auto
        self._fractions: list[float] = []
        stored = x
        if prune == "clusters":
            k = n_clusters or max(1, round(math.sqrt(self.n)))
            self.clusters = _Clusters(x, k, seed, self.ops)
            self.radius = self.clusters.radii(x)
            stored = x[self.clusters.perm]  # one copy, cluster by cluster
            self.stats["clusters"] = len(self.clusters.starts)
        elif prune == "pca":
            self.bound = _PcaBound(x, min(bound_dims, self.d), seed, device)
            self.stats["bound_dims"] = self.bound.dims
        elif prune is not None:
            raise ValueError(f"unknown pruning {prune!r}")
        dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
        if precision not in dtypes:
            raise ValueError(f"precision must be one of {sorted(dtypes)}, got {precision!r}")
        self.dtype = dtypes[precision]
        # Reduced precision stores the centred features (smaller norms, smaller rounding of the dot).
        self.offset = None if precision == "float32" else x.mean(0, dtype=np.float64).astype(np.float32)
        self.x = self._store(stored)
        self.sqn = torch.cat(
            [(c.float() * c.float()).sum(1) for c in torch.split(self.x, chunk_rows)]
            or [torch.empty(0, device=device)]
        )
        self.mind = torch.full((self.n,), math.inf, dtype=torch.float32, device=device)
        # For exact decisions between near-equal float32 minima (see `farthest`).
        self.verify = precision == "float32"
        self.source = x
        self.centres64 = np.empty((0, self.d))
        self.n_centres = 0
        self.nearest = torch.full((self.n,), -1, dtype=torch.int64, device=device)  # centre id per row
        self.stats["verified"] = 0
        self.max_sqn = float(self.sqn.max()) if self.n else 0.0
        self.tol = 3 * self.d * _U32 * 2 * self.max_sqn
        if self.clusters is not None:
            self.pos = np.empty(self.n, dtype=np.int64)
            self.pos[self.clusters.perm] = np.arange(self.n)
            self.maxsqn = self.ops.segment_max(self.sqn, self.clusters.starts).astype(np.float64)
            # Largest running minimum per cluster.
            self.cmax = np.full(len(self.clusters.starts), np.inf, dtype=np.float32)
            if self.offset is not None:
                self.clusters.centres = self.clusters.centres - self.offset.astype(np.float64)

    def _store(self, stored: np.ndarray) -> torch.Tensor:
        if self.offset is None and self.ops.cpu:
            return torch.from_numpy(stored)
        out = torch.empty((self.n, self.d), dtype=self.dtype, device=self.ops.device)
        for s in range(0, self.n, _MANY_ROWS):
            block = stored[s : s + _MANY_ROWS]
            if self.offset is not None:
                block = block - self.offset
            out[s : s + _MANY_ROWS] = torch.from_numpy(np.ascontiguousarray(block)).to(out.device, self.dtype)
        return out

    def vector(self, v: np.ndarray) -> torch.Tensor:
        """A point in storage coordinates (centred, rounded like the stored rows), as float32."""
        v = np.asarray(v, dtype=np.float32)
        if self.offset is not None:
            v = v - self.offset
        return torch.from_numpy(np.ascontiguousarray(v)).to(self.ops.device).to(self.dtype).float()

    def row(self, original: int) -> torch.Tensor:
        return self.x[self.storage(original)].float()

    def storage(self, original: int) -> int:
        return int(self.pos[original]) if self.clusters is not None else int(original)

    # ------------------------------------------------------------------ distances
    def _dist2(self, s: int, e: int, u: torch.Tensor, un: torch.Tensor) -> torch.Tensor:
        rows = self.x[s:e]
        sqn = self.sqn[s:e]
        d2 = sqn + un - 2 * self.ops.mv(rows, u)
        near = torch.nonzero(d2 < _NEAR * (sqn + un)).flatten()
        if len(near):
            diff = rows[near].float() - u
            d2[near] = (diff * diff).sum(1)
        self.stats["rows_computed"] += e - s
        return d2.clamp_min_(0.0)

    def _lower(self, s: int, e: int, u: torch.Tensor, un: torch.Tensor, cid: int) -> None:
        for a in range(s, e, self.chunk):
            b = min(e, a + self.chunk)
            d2 = self._dist2(a, b, u, un)
            closer = d2 < self.mind[a:b]
            self.mind[a:b][closer] = d2[closer]
            self.nearest[a:b][closer] = cid

    def add(self, u: torch.Tensor, cid: int = -1) -> None:
        """Lower the running minimum with one new centre u (float32, storage coordinates), id `cid`."""
        un = (u * u).sum()
        self.stats["rows_total"] += self.n
        if self.bound is not None:
            fraction = self._add_bounded(u, un, cid)
            if self.auto:
                self._fractions.append(fraction)
                if len(self._fractions) == _AUTO_PROBE and np.mean(self._fractions) > _GATHER_LIMIT:
                    self.bound = None  # the bound does not separate this data: plain loop from here on
                    self.stats["bound_dropped"] = 1
            return
        if self.clusters is None:
            self._lower(0, self.n, u, un, cid)
            return
        u64 = u.double().cpu().numpy()
        lb = np.sqrt(((self.clusters.centres - u64) ** 2).sum(1)) - self.radius
        slack = 3 * self.d * _U32 * (self.maxsqn + float(un))
        skip = (lb > 0) & (lb * lb >= self.cmax.astype(np.float64) + slack)
        todo = np.flatnonzero(~skip)
        if not len(todo):
            return
        # Runs of consecutive clusters to visit: one product per run.
        breaks = np.flatnonzero(np.diff(todo) > 1) + 1
        for run in np.split(todo, breaks):
            s, e = int(self.clusters.bounds[run[0]]), int(self.clusters.bounds[run[-1] + 1])
            self._lower(s, e, u, un, cid)
            self.cmax[run] = self.ops.segment_max(self.mind[s:e], self.clusters.starts[run] - s)

    def _add_bounded(self, u: torch.Tensor, un: torch.Tensor, cid: int) -> float:
        """Compute distances only for rows whose PCA lower bound could lower their minimum; returns the
        fraction of rows that needed it."""
        lb2 = self.bound.lower_bound2(u, self.ops)
        # The bound is exact up to float32 rounding of the projections: a 0.2 % margin, plus `tol` for
        # the rounding of the distance the plain loop would have computed.
        maybe = (lb2 * (1 - _BOUND_MARGIN) < self.mind + self.tol) & (self.mind > _PICKED)
        rows = torch.nonzero(maybe).flatten()
        fraction = len(rows) / max(1, self.n)
        if fraction > _GATHER_LIMIT:  # gathering scattered rows costs more than reading them all
            self._lower(0, self.n, u, un, cid)
        elif len(rows):
            block = torch.from_numpy(self.source[rows.numpy()]) if self.ops.cpu else self.x[rows]
            sqn = self.sqn[rows]
            d2 = sqn + un - 2 * self.ops.mv(block, u)
            near = torch.nonzero(d2 < _NEAR * (sqn + un)).flatten()
            if len(near):
                diff = block[near].float() - u
                d2[near] = (diff * diff).sum(1)
            d2.clamp_min_(0.0)
            closer = d2 < self.mind[rows]
            self.mind[rows[closer]] = d2[closer]
            self.nearest[rows[closer]] = cid
            self.stats["rows_computed"] += len(rows)
        return fraction

    def add_many(self, centres: np.ndarray, block: int = 256) -> None:
        """Lower the running minimum with many centres (the labelled set), in chunks."""
        if not len(centres):
            return
        first_id = self.n_centres
        self._keep_centres(centres)
        c_all = self.vector(centres)
        cn_all = (c_all * c_all).sum(1)
        self.tol = 3 * self.d * _U32 * (self.max_sqn + max(self.max_sqn, float(cn_all.max())))
        rows = min(self.chunk, _MANY_ROWS)
        done = 0
        if self.bound is not None:
            # One centre at a time through the bound while it pays (once the first centres have set the
            # minima, most rows are skipped); the rest in blocks when it does not.
            recent: list[float] = []
            while done < len(centres) and not (
                done >= _MANY_PROBE and np.mean(recent[-_AUTO_PROBE:]) > _GATHER_LIMIT
            ):
                recent.append(self._add_bounded(c_all[done], cn_all[done], first_id + done))
                self.stats["rows_total"] += self.n
                done += 1
            c_all, cn_all = c_all[done:], cn_all[done:]
            first_id += done
            if not len(c_all):
                return
        if self.clusters is None:
            for a in range(0, self.n, rows):
                b = min(self.n, a + rows)
                self._lower_many(a, b, c_all, cn_all, block, first_id + torch.arange(len(c_all)))
            self.stats["rows_total"] += self.n * len(c_all)
            return
        # Per cluster, skip labelled rows that cannot be any member's nearest.
        keeps = self.clusters.labeled_keep(self.radius, self.maxsqn, c_all.double().cpu().numpy())
        for c, keep in enumerate(keeps):
            s, e = int(self.clusters.bounds[c]), int(self.clusters.bounds[c + 1])
            idx = torch.from_numpy(keep).to(c_all.device)
            if len(keep) == len(c_all):
                c_keep, cn_keep = c_all, cn_all
            else:
                c_keep, cn_keep = c_all[idx], cn_all[idx]
            for a in range(s, e, rows):
                self._lower_many(a, min(e, a + rows), c_keep, cn_keep, block, first_id + idx)
            self.stats["rows_total"] += (e - s) * len(c_all)
        self.cmax = self.ops.segment_max(self.mind, self.clusters.starts)

    def _lower_many(
        self, a: int, b: int, c: torch.Tensor, cn: torch.Tensor, block: int, ids: torch.Tensor
    ) -> None:
        rows = self.x[a:b]
        sqn = self.sqn[a:b]
        for j in range(0, len(c), block):
            cj, cnj = c[j : j + block], cn[j : j + block]
            d2 = sqn[:, None] + cnj[None] - 2 * self.ops.mm(rows, cj)
            near = torch.nonzero(d2 < _NEAR * (sqn[:, None] + cnj[None]))
            if len(near):
                diff = rows[near[:, 0]].float() - cj[near[:, 1]]
                d2[near[:, 0], near[:, 1]] = (diff * diff).sum(1)
            best, arg = d2.clamp_min_(0.0).min(1)
            closer = best < self.mind[a:b]
            self.mind[a:b][closer] = best[closer]
            self.nearest[a:b][closer] = ids[j : j + block].to(arg.device)[arg[closer]]
            self.stats["rows_computed"] += (b - a) * len(cj)

    def mark_picked(self, original: int) -> int:
        """Make row `original` a centre (never picked again); returns its centre id."""
        self._keep_centres(self.source[original : original + 1])
        p = self.storage(original)
        self.mind[p] = _PICKED
        if self.clusters is not None:
            c = int(np.searchsorted(self.clusters.bounds, p, side="right") - 1)
            s, e = int(self.clusters.bounds[c]), int(self.clusters.bounds[c + 1])
            self.cmax[c] = float(self.mind[s:e].max())
        return self.n_centres - 1

    # ------------------------------------------------------------------ reading
    def farthest(self) -> tuple[int, float]:
        """(original row, squared min distance) of the largest running minimum; lowest row on ties.

        Float32 distances carry rounding of up to `tol` (a worst-case bound, 3 d eps32 (|x|^2 + |c|^2)),
        so every row within 2 tol of the largest float32 value is a candidate; with more than one, their
        distances to the centre their float32 minimum came from are recomputed in float64 and decide. So
        the pick does not depend on how a mode's matrix products happened to round.
        """
        if self.clusters is None:
            best = float(self.mind.max())
            near = (self.mind >= best - 2 * self.tol) & (self.mind > _PICKED)
            rows = torch.nonzero(near).flatten().cpu().numpy()
        else:
            best = float(self.cmax.max())
            found = []
            for c in np.flatnonzero(self.cmax >= best - 2 * self.tol):
                s, e = int(self.clusters.bounds[c]), int(self.clusters.bounds[c + 1])
                m = self.mind[s:e]
                hits = torch.nonzero((m >= best - 2 * self.tol) & (m > _PICKED)).flatten().cpu().numpy()
                found.append(self.clusters.perm[s + hits])
            rows = np.sort(np.concatenate(found))
        if len(rows) == 1 or not self.verify:
            return int(rows[0]) if self.verify else self._first_max(rows, best), best
        exact = np.array([self._exact_min(int(i)) for i in rows])
        i = int(np.argmax(exact))
        self.stats["verified"] += len(rows)
        return int(rows[i]), float(exact[i])

    def _first_max(self, rows: np.ndarray, best: float) -> int:
        values = self.mind[torch.as_tensor(self.pos[rows] if self.clusters is not None else rows)]
        return int(rows[int(torch.nonzero(values == best).flatten()[0])])

    def _exact_min(self, i: int) -> float:
        """Squared distance of pool row i to its nearest centre, in float64 from the float32 features.

        The nearest centre is the one the float32 minimum came from; another centre could be nearer only
        by less than the rounding `tol`, a second-order effect on an already near-tied decision.
        """
        c = int(self.nearest[self.storage(i)])
        if c < 0:
            return math.inf
        return float(((self.centres64[c] - self.source[i].astype(np.float64)) ** 2).sum())

    def _keep_centres(self, rows: np.ndarray) -> None:
        """Append centres (float64 copies, for `_exact_min`), growing the buffer by doubling."""
        need = self.n_centres + len(rows)
        if need > len(self.centres64):
            grown = np.empty((max(need, 2 * len(self.centres64), 64), self.d))
            grown[: self.n_centres] = self.centres64[: self.n_centres]
            self.centres64 = grown
        self.centres64[self.n_centres : need] = rows
        self.n_centres = need

    def min_squared(self) -> np.ndarray:
        """(N,) running minimum in original row order (picked rows: -1), float64."""
        m = self.mind.double().cpu().numpy()
        return m[self.pos] if self.clusters is not None else m


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
    for s in range(0, len(x), _MANY_ROWS):  # float32 temporaries of _MANY_ROWS x d
        out[s : s + _MANY_ROWS] = (x[s : s + _MANY_ROWS] - mean32) @ basis
    return out


def _pca(x: np.ndarray, labeled: np.ndarray, dims: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Project pool and labelled rows on the pool's first `dims` principal axes (fitted on a sample)."""
    mean, basis = _pca_basis(x, dims, seed)
    return _project(x, mean, basis), _project(labeled, mean, basis)


def _farthest_from_mean(x: np.ndarray, chunk: int) -> int:
    """The row farthest from the pool mean (float64; lowest index on ties)."""
    chunk = min(chunk, _MANY_ROWS)
    mean = np.zeros(x.shape[1])
    for s in range(0, len(x), chunk):
        mean += x[s : s + chunk].sum(0, dtype=np.float64)
    mean /= len(x)
    dist = np.concatenate(
        [((x[s : s + chunk].astype(np.float64) - mean) ** 2).sum(1) for s in range(0, len(x), chunk)]
    )
    return int(np.argmax(dist))


def _pruning(prune: bool | str, shape: tuple[int, int], precision: str) -> str | None:
    if prune == "auto":
        big = shape[0] >= _PRUNE_AUTO_ROWS and shape[1] >= 2 * _BOUND_DIMS and precision == "float32"
        return "pca" if big else None
    if prune in (True, "clusters"):
        return "clusters"
    if prune == "pca":
        return "pca"
    if prune is False or prune is None:
        return None
    raise ValueError(f"prune must be 'auto', 'pca', 'clusters', True or False, got {prune!r}")


def k_center_greedy(
    features: Any,
    budget: int,
    labeled: Any = None,
    *,
    score: ScoreFn | None = None,
    first: str = "farthest_from_mean",
    rng: np.random.Generator | None = None,
    prune: bool | str = "auto",
    n_clusters: int | None = None,
    bound_dims: int = _BOUND_DIMS,
    precision: str = "float32",
    dims: int | None = None,
    device: str | torch.device | None = None,
    chunk_rows: int = 16384,
    seed: int = 0,
) -> KCenterResult:
    """Greedy k-center over the rows of `features` (N, d), given `labeled` (L, d) centres.

    Each step picks the available row with the largest `score(min_distances, available)` (default: the
    min distance itself, Eq. 1) and makes it a centre (Eq. 2). `prune` skips distances that cannot lower
    a minimum, with the same picks: "pca" (per-row bounds from `bound_dims` principal components),
    True / "clusters" (k-means triangle bounds, `n_clusters`), False, or "auto" ("pca" for pools of
    >= 20,000 rows and >= 256 float32 features, dropped if the first picks show it does not pay).
    `precision` and `dims` are approximate modes. Returns at most N picks.
    """
    x = _as_float32(features, "features")
    n, d = x.shape
    lab = (
        np.empty((0, d), dtype=np.float32)
        if labeled is None or np.size(labeled) == 0
        else _as_float32(labeled, "labeled", d)
    )
    budget = min(int(budget), n)
    if first not in ("farthest_from_mean", "random"):
        raise ValueError(f"first must be 'farthest_from_mean' or 'random', got {first!r}")
    if n == 0 or budget <= 0:
        return KCenterResult(np.empty(0, np.int64), np.empty(0), np.zeros(n), {})
    if dims is not None:
        x, lab = _pca(x, lab, dims, seed)
    state = _RunningMin(
        x,
        _device(device),
        precision,
        _pruning(prune, x.shape, precision),
        n_clusters,
        chunk_rows,
        seed,
        bound_dims,
        prune == "auto",
    )
    state.add_many(lab)
    picks: list[int] = []
    won: list[float] = []
    available = np.ones(n, dtype=bool)
    for step in range(budget):
        if step == 0 and not len(lab):
            i = (
                _farthest_from_mean(x, chunk_rows)
                if first == "farthest_from_mean"
                else int((rng or np.random.default_rng(seed)).integers(n))
            )
            value = math.nan  # filled in below: the radius this first centre leaves
        elif score is None:
            i, value = state.farthest()
            value = math.sqrt(max(value, 0.0))
        else:
            m = state.min_squared()
            dist = np.sqrt(np.clip(m, 0.0, None))
            s = np.asarray(score(dist, available.copy()), dtype=np.float64)
            if s.shape != (n,):
                raise ValueError(f"score must return one value per pool row, got shape {s.shape}")
            s = np.where(available, s, -np.inf)
            i = int(np.argmax(s))
            value = float(s[i])
        picks.append(i)
        won.append(value)
        available[i] = False
        state.add(state.row(i), state.mark_picked(i))
        if step == 0 and math.isnan(value):
            rest = state.min_squared()
            won[0] = math.sqrt(max(float(rest.max()), 0.0)) if n > 1 else 0.0
    final = np.sqrt(np.clip(state.min_squared(), 0.0, None))
    stats = dict(state.stats)
    stats["rows_fraction"] = stats["rows_computed"] / max(1, stats["rows_total"])
    return KCenterResult(np.asarray(picks, dtype=np.int64), np.asarray(won, dtype=np.float64), final, stats)


def covering_radius(
    features: Any,
    centres: Any,
    *,
    prune: bool | str = "auto",
    device: str | torch.device | None = None,
    chunk_rows: int = 16384,
) -> float:
    """Max over the rows of `features` of the Euclidean distance to the nearest row of `centres`."""
    x = _as_float32(features, "features")
    c = _as_float32(centres, "centres", x.shape[1])
    if not len(x):
        return 0.0
    if not len(c):
        return math.inf
    mode = None if prune == "auto" else _pruning(prune, x.shape, "float32")  # only "clusters" helps here
    state = _RunningMin(x, _device(device), "float32", None if mode == "pca" else mode, None, chunk_rows, 0)
    state.add_many(c)
    return math.sqrt(max(float(state.mind.max()), 0.0))


__all__ = ["KCenterResult", "ScoreFn", "covering_radius", "k_center_greedy"]
