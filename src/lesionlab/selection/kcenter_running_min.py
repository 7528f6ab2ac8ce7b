"""The running minimum behind the greedy k-center: one float32 distance per pool row to its nearest centre,
lowered with one distance column per pick, with the exact prunings of `kcenter_bounds` skipping rows whose
minimum cannot change, and float64 decisions where float32 rounding could change a pick.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lesionlab.selection.kcenter_bounds import MANY_ROWS, U32, Clusters, Ops, PcaBound, shared_tensor

NEAR = 1e-3  # rows with d^2 below this fraction of |x|^2 + |u|^2 are recomputed as sum((x - u)^2)
_BOUND_MARGIN = 2e-3  # relative margin on PCA lower bounds (float32 rounding of the projections)
_GATHER_LIMIT = 0.3  # above this fraction of rows to compute, read them all rather than gather them
_MANY_PROBE = 50  # labelled rows through the PCA bound before judging whether it pays for them
_AUTO_PROBE = 20  # labelled rows: the PCA bound is dropped if these last ones computed > _GATHER_LIMIT
PICKED = -1.0  # running minimum of a picked row: never the maximum, never lowered


class RunningMin:
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
    ) -> None:
        """`prune`: "clusters" (k-means triangle bounds), "pca" (per-row bounds from the first
        `bound_dims` principal components) or None (also "lazy": `kcenter_lazy.LazyRunningMin`)."""
        self.ops = Ops(device)
        self.n, self.d = x.shape
        self.chunk = chunk_rows
        self.stats = {"rows_computed": 0, "rows_total": 0, "clusters": 0, "bound_dims": 0}
        self.clusters = None
        self.bound = None
        stored = self._prune_with(x, prune, n_clusters, seed, bound_dims, device)
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
        self.tol = 3 * self.d * U32 * 2 * self.max_sqn
        if self.clusters is not None:
            self.pos = np.empty(self.n, dtype=np.int64)
            self.pos[self.clusters.perm] = np.arange(self.n)
            self.maxsqn = self.ops.segment_max(self.sqn, self.clusters.starts).astype(np.float64)
            # Largest running minimum per cluster.
            self.cmax = np.full(len(self.clusters.starts), np.inf, dtype=np.float32)
            if self.offset is not None:
                self.clusters.centres = self.clusters.centres - self.offset.astype(np.float64)

    def _prune_with(
        self,
        x: np.ndarray,
        prune: str | None,
        n_clusters: int | None,
        seed: int,
        bound_dims: int,
        device: torch.device,
    ) -> np.ndarray:
        """Set up the pruning bounds; the rows as they will be stored (cluster by cluster for "clusters")."""
        if prune == "clusters":
            k = n_clusters or max(1, round(math.sqrt(self.n)))
            self.clusters = Clusters(x, k, seed, self.ops)
            self.radius = self.clusters.radii(x)
            self.stats["clusters"] = len(self.clusters.starts)
            return x[self.clusters.perm]  # one copy, cluster by cluster
        if prune == "pca":
            self.bound = PcaBound(x, min(bound_dims, self.d), seed, device)
            self.stats["bound_dims"] = self.bound.dims
        elif prune not in (None, "lazy"):  # "lazy": kcenter_lazy.LazyRunningMin, no bounds to set up
            raise ValueError(f"unknown pruning {prune!r}")
        return x

    def _store(self, stored: np.ndarray) -> torch.Tensor:
        if self.offset is None and self.ops.cpu:
            return shared_tensor(stored)
        out = torch.empty((self.n, self.d), dtype=self.dtype, device=self.ops.device)
        for s in range(0, self.n, MANY_ROWS):
            block = stored[s : s + MANY_ROWS]
            if self.offset is not None:
                block = block - self.offset
            out[s : s + MANY_ROWS] = torch.from_numpy(np.ascontiguousarray(block)).to(out.device, self.dtype)
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
        near = torch.nonzero(d2 < NEAR * (sqn + un)).flatten()
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
            self._add_bounded(u, un, cid)
            return
        if self.clusters is None:
            self._lower(0, self.n, u, un, cid)
            return
        u64 = u.double().cpu().numpy()
        lb = np.sqrt(((self.clusters.centres - u64) ** 2).sum(1)) - self.radius
        slack = 3 * self.d * U32 * (self.maxsqn + float(un))
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
        maybe = (lb2 * (1 - _BOUND_MARGIN) < self.mind + self.tol) & (self.mind > PICKED)
        rows = torch.nonzero(maybe).flatten()
        fraction = len(rows) / max(1, self.n)
        if fraction > _GATHER_LIMIT:  # gathering scattered rows costs more than reading them all
            self._lower(0, self.n, u, un, cid)
        elif len(rows):
            block = torch.from_numpy(self.source[rows.numpy()]) if self.ops.cpu else self.x[rows]
            sqn = self.sqn[rows]
            d2 = sqn + un - 2 * self.ops.mv(block, u)
            near = torch.nonzero(d2 < NEAR * (sqn + un)).flatten()
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
        self.tol = 3 * self.d * U32 * (self.max_sqn + max(self.max_sqn, float(cn_all.max())))
        rows = min(self.chunk, MANY_ROWS)
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
            near = torch.nonzero(d2 < NEAR * (sqn[:, None] + cnj[None]))
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
        self.mind[p] = PICKED
        if self.clusters is not None:
            c = int(np.searchsorted(self.clusters.bounds, p, side="right") - 1)
            s, e = int(self.clusters.bounds[c]), int(self.clusters.bounds[c + 1])
            self.cmax[c] = float(self.mind[s:e].max())
        return self.n_centres - 1

    # ------------------------------------------------------------------ reading
    def farthest(self) -> tuple[int, float]:
        """(original row, squared min distance) of the largest running minimum; lowest row on ties.

        Float32 distances carry rounding of up to `tol` (a worst-case bound, 3 d u (|x|^2 + |c|^2) with
        u = 2^-24), so every row within 2 tol of the largest float32 value is a candidate; with more than
        one, their distances to the centre their float32 minimum came from are recomputed in float64 and
        decide. So the pick does not depend on how a mode's matrix products happened to round.
        """
        if self.clusters is None:
            best = float(self.mind.max())
            near = (self.mind >= best - 2 * self.tol) & (self.mind > PICKED)
            rows = torch.nonzero(near).flatten().cpu().numpy()
        else:
            best = float(self.cmax.max())
            found = []
            for c in np.flatnonzero(self.cmax >= best - 2 * self.tol):
                s, e = int(self.clusters.bounds[c]), int(self.clusters.bounds[c + 1])
                m = self.mind[s:e]
                hits = torch.nonzero((m >= best - 2 * self.tol) & (m > PICKED)).flatten().cpu().numpy()
                found.append(self.clusters.perm[s + hits])
            rows = np.sort(np.concatenate(found))
        return self._decide(rows, best)

    def _decide(self, rows: np.ndarray, best: float) -> tuple[int, float]:
        """Among the candidate rows (sorted) within 2 tol of the largest float32 minimum `best`, the
        farthest in float64 (lowest row on exact ties); one candidate wins outright."""
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
