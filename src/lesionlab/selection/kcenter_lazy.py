"""Lazy running minimum for the greedy k-center: the exact farthest row without a pass over the pool per pick.

A row's stored minimum over the centres it has seen is an upper bound on its minimum over all centres
(a minimum over more centres can only be lower). So the farthest row can be found as in Minoux's lazy
greedy (Minoux 1978, "Accelerated greedy algorithms for maximizing submodular set functions"): bring the
rows with the largest stored minima up to date against the centres added since they were last updated,
and stop once every row within the rounding band (2 tol) of the largest minimum is up to date; rows outside
it cannot win, whatever the new centres do to them. The candidates are then decided exactly as in
`RunningMin.farthest` (float64 on near-ties, lowest row on exact ties), so the picks are the plain loop's.

Updates are (rows x centres) matrix products in blocks (compute-bound), instead of one bandwidth-bound
matrix-vector product over all N x d features per pick; when the band keeps widening (more than a quarter
of the pool is stale near the top) every stale row is brought up to date, which is the plain loop's work
done in blocks. `min_squared` brings every row up to date first.
"""

from __future__ import annotations

import numpy as np
import torch

from lesionlab.selection.kcenter_bounds import MANY_ROWS
from lesionlab.selection.kcenter_running_min import NEAR, PICKED, RunningMin

_FIRST_TOP = 64  # rows brought up to date in a pick's first round (doubled each further round)
_CENTRE_BLOCK = 256  # centres per matrix product


class LazyRunningMin(RunningMin):
    """`RunningMin` whose rows learn of new centres only when they could be the farthest (CPU, float32)."""

    def __init__(self, x: np.ndarray, *args, **kwargs) -> None:
        super().__init__(x, *args, **kwargs)
        self.seen = np.zeros(self.n, dtype=np.int64)  # centres each row's minimum already accounts for
        self.stats["lazy"] = 1
        self.c32 = np.empty((0, self.d), dtype=np.float32)
        self.cn32 = torch.empty(0)

    def _keep_centres(self, rows: np.ndarray) -> None:
        start = self.n_centres
        super()._keep_centres(rows)
        if len(self.c32) < self.n_centres:
            grown = np.empty((max(self.n_centres, 2 * len(self.c32), 64), self.d), dtype=np.float32)
            grown[:start] = self.c32[:start]
            self.c32 = grown
            cn = torch.empty(len(grown))
            cn[:start] = self.cn32[:start]
            self.cn32 = cn
        self.c32[start : self.n_centres] = rows
        block = torch.from_numpy(self.c32[start : self.n_centres])
        self.cn32[start : self.n_centres] = (block * block).sum(1)

    def add_many(self, centres: np.ndarray, block: int = 256) -> None:
        """Labelled centres lower every row at once (one blocked pass, as in `RunningMin`)."""
        self._refresh_all()
        super().add_many(centres, block)
        self.seen[:] = self.n_centres

    def add(self, u: torch.Tensor, cid: int = -1) -> None:
        """A pick is already kept as a centre (`mark_picked`); rows learn of it when they need to."""
        self.stats["rows_total"] += self.n

    def _refresh(self, rows: np.ndarray) -> None:
        """Lower the minima of `rows` (sorted pool indices) with the centres they have not seen."""
        k = self.n_centres
        for s in range(0, len(rows), MANY_ROWS):
            r = rows[s : s + MANY_ROWS]
            lo = int(self.seen[r].min())
            x = torch.from_numpy(self.source[r])
            sqn = self.sqn[torch.from_numpy(r)]
            mind = self.mind[torch.from_numpy(r)]
            near_id = self.nearest[torch.from_numpy(r)]
            seen = torch.from_numpy(self.seen[r] - lo)
            for a in range(lo, k, _CENTRE_BLOCK):
                b = min(k, a + _CENTRE_BLOCK)
                c, cn = torch.from_numpy(self.c32[a:b]), self.cn32[a:b]
                d2 = sqn[:, None] + cn[None] - 2 * self.ops.mm(x, c)
                near = torch.nonzero(d2 < NEAR * (sqn[:, None] + cn[None]))
                if len(near):
                    diff = x[near[:, 0]] - c[near[:, 1]]
                    d2[near[:, 0], near[:, 1]] = (diff * diff).sum(1)
                d2.clamp_min_(0.0)
                # Centres a row has already seen keep the minimum it has (same rounding as before).
                d2[torch.arange(a - lo, b - lo)[None] < seen[:, None]] = float("inf")
                best, arg = d2.min(1)
                closer = best < mind
                mind[closer] = best[closer]
                near_id[closer] = a + arg[closer]
                self.stats["rows_computed"] += len(r) * (b - a)
            self.mind[torch.from_numpy(r)] = mind
            self.nearest[torch.from_numpy(r)] = near_id
            self.seen[r] = k

    def _refresh_all(self) -> None:
        stale = np.flatnonzero(self.seen < self.n_centres)
        if len(stale):
            self._refresh(stale)

    def farthest(self) -> tuple[int, float]:
        """The farthest row, bringing up to date only the rows that could be it (see the module doc)."""
        k = self.n_centres
        m = self.mind.numpy()
        top = _FIRST_TOP
        self.stats.setdefault("rows_computed_picking", 0)
        before = self.stats["rows_computed"]
        while True:
            best = float(m.max())
            band = np.flatnonzero((m >= best - 2 * self.tol) & (m > PICKED))
            if not (self.seen[band] < k).any():
                self.stats["rows_computed_picking"] += self.stats["rows_computed"] - before
                return self._decide(band, best)
            if top >= self.n // 4:
                self._refresh_all()
                continue
            head = np.argpartition(m, self.n - top)[self.n - top :]
            rows = np.union1d(head, band)
            self._refresh(rows[(self.seen[rows] < k) & (m[rows] > PICKED)])
            top *= 2

    def min_squared(self) -> np.ndarray:
        self._refresh_all()
        return super().min_squared()
