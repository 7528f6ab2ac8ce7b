"""Greedy k-center (Sener & Savarese 2018; Kim et al. 2020, "Confident Coreset for Active Learning in
Medical Image Analysis", Eq. 1-2) that scales to 100,000 x 1,280 on a CPU.

The greedy loop keeps one vector: each pool row's squared distance to its nearest centre (labelled rows and
the picks so far). It is initialised from the labelled set in chunks, and each pick adds one distance
column (`|x|^2 + |u|^2 - 2 x.u`, one matrix-vector product), so memory stays O(N) beyond the features and
no distance is computed twice. Never an N x N or budget x N matrix.

Numerics: float32 throughout. The norm form loses precision when a row is close to the new centre
relative to their norms (cancellation), so rows with `d^2 < 1e-3 (|x|^2 + |u|^2)` are recomputed as a sum
of squared differences: duplicates get exactly 0 and near neighbours their accurate distance. Each row
also remembers which centre gave its minimum. Rounding is bounded by tol = 3 d u (|x|^2 + |c|^2),
u = 2^-24; the rows within 2 tol of the largest minimum are the candidates for the next pick, and with
several, their float64 distances to their own nearest centre decide (O(d) each). Picks therefore follow
exact arithmetic, not the rounding of one mode's matrix products.

The plain loop (`prune=False`) is bandwidth-bound: every pick reads all N x d features. The default,
`prune="auto"` (= `"lazy"` for float32 pools on the CPU of >= 128 features and >= 2^23 values; the plain
loop otherwise, where its pass is cheap), reads far less with the same
picks: a row's stored minimum is an upper bound on its true one, so only the rows near the top are brought
up to date against the centres added since (Minoux 1978's lazy greedy; `kcenter_lazy`), in blocked
matrix products, and every row is brought up to date once at the end. Two exact prunings skip distances
that cannot lower a minimum; a margin covers float32 rounding, so the picks are the plain loop's.

- `prune="pca"`: the pool's
  first 128 principal axes P (fitted on <= 20,000 rows) give, for every row, |x - u|^2 >=
  |P(x - u)|^2 + (|r_x| - |r_u|)^2 with r the residual off the axes. Per pick one N x 128 product bounds
  every row, and only rows whose bound (less 0.2 %) is below their minimum (plus tol) are computed,
  gathered. On pooled Lite0 embeddings that is 0.1-0.4 % of the rows per pick. When more than 30 % remain
  a pick reads all rows instead (isotropic Gaussian data, where no projection separates rows).
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
as Google's `kcenter_greedy` that Sener & Savarese's experiments use); Kim et al. 2020 always starts from a
random 10 % labelled set, so it never meets this case. A budget >= N returns every row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lesionlab.selection.kcenter_bounds import MANY_ROWS, fit_pca
from lesionlab.selection.kcenter_lazy import LazyRunningMin
from lesionlab.selection.kcenter_running_min import RunningMin

# (min distance of each pool row to its nearest centre (N,) float64, 0 for picked rows; mask of rows still
# available (N,) bool) -> scores (N,). The loop picks the highest available score (lowest index on ties).
ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

_BOUND_DIMS = 128  # principal components behind prune="pca" bounds
# prune="auto" is lazy from 128 features and 2^23 values (32 MB of float32) up; below, the plain loop's
# pass over the pool is cheaper than lazy's argpartition and bookkeeping (measured: 200,000 x 16,
# 20,000 x 64 and 3,000 x 1,280 are 1.3-1.5x faster plain; 6,000 x 1,280 even, 10,000 x 1,280 2x lazy).
_LAZY_MIN_DIMS = 128
_LAZY_MIN_VALUES = 2**23


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


def _farthest_from_mean(x: np.ndarray, chunk: int) -> int:
    """The row farthest from the pool mean (float64; lowest index on ties)."""
    chunk = min(chunk, MANY_ROWS)
    mean = np.zeros(x.shape[1])
    for s in range(0, len(x), chunk):
        mean += x[s : s + chunk].sum(0, dtype=np.float64)
    mean /= len(x)
    dist = np.concatenate(
        [((x[s : s + chunk].astype(np.float64) - mean) ** 2).sum(1) for s in range(0, len(x), chunk)]
    )
    return int(np.argmax(dist))


def _pruning(prune: bool | str, shape: tuple[int, int], precision: str) -> str | None:
    if prune == "lazy":  # float32 rows on the CPU; elsewhere k_center_greedy runs the plain loop
        return "lazy"
    if prune == "auto":  # lazy where a pick's pass over N x d costs more than its O(N) bookkeeping
        big = shape[1] >= _LAZY_MIN_DIMS and shape[0] * shape[1] >= _LAZY_MIN_VALUES
        return "lazy" if big else None
    if prune in (True, "clusters"):
        return "clusters"
    if prune == "pca":
        return "pca"
    if prune is False or prune is None:
        return None
    raise ValueError(f"prune must be 'auto', 'lazy', 'pca', 'clusters', True or False, got {prune!r}")


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
    """Greedy k-center over the rows of `features` (N, d), given `labeled` (L, d) centres: each step picks
    the available row with the largest `score(min_distances, available)` (default: the min distance itself,
    Eq. 1) and makes it a centre (Eq. 2). `prune` skips distances that cannot lower a minimum, with the same
    picks: "pca" (per-row bounds from `bound_dims` principal components), True / "clusters" (k-means
    triangle bounds, `n_clusters`), False (the plain loop), or "auto" / "lazy" (rows learn of new centres
    only when they could be the farthest; float32 on the CPU). `precision` and `dims` are approximate
    modes. Returns at most N picks.
    """
    x, lab = _inputs(features, labeled, first)
    n = x.shape[0]
    budget = min(int(budget), n)
    if n == 0 or budget <= 0:
        return KCenterResult(np.empty(0, np.int64), np.empty(0), np.zeros(n), {})
    if dims is not None:
        x, lab = fit_pca(x, lab, dims, seed)
    dev, mode = _device(device), _pruning(prune, x.shape, precision)
    # A `score` reads every row's minimum at every pick, so lazy updates would only add bookkeeping.
    lazy = mode == "lazy" and dev.type == "cpu" and precision == "float32" and score is None
    cls = LazyRunningMin if lazy else RunningMin
    state = cls(x, dev, precision, None if mode == "lazy" else mode, n_clusters, chunk_rows, seed, bound_dims)
    state.add_many(lab)
    picks: list[int] = []
    won: list[float] = []  # what each pick won by: its distance (Eq. 1) or its score
    available = np.ones(n, dtype=bool)
    for step in range(budget):
        if step == 0 and not len(lab):  # value: the radius this first centre leaves, filled in below
            i, value = _first_pick(x, first, rng, seed, chunk_rows), math.nan
        else:
            i, value = _next_pick(state, score, available)
        picks.append(i)
        won.append(value)
        available[i] = False
        state.add(state.row(i), state.mark_picked(i))
        if step == 0 and math.isnan(value):
            rest = state.min_squared()
            won[0] = math.sqrt(max(float(rest.max()), 0.0)) if n > 1 else 0.0
    return _result(picks, won, state)


def _result(picks: list[int], won: list[float], state: RunningMin) -> KCenterResult:
    final = np.sqrt(np.clip(state.min_squared(), 0.0, None))
    stats = dict(state.stats)
    stats["rows_fraction"] = stats["rows_computed"] / max(1, stats["rows_total"])
    return KCenterResult(np.asarray(picks, dtype=np.int64), np.asarray(won, dtype=np.float64), final, stats)


def _first_pick(
    x: np.ndarray, first: str, rng: np.random.Generator | None, seed: int, chunk_rows: int
) -> int:
    """The first centre of an empty start: the row farthest from the mean, or a seeded random row."""
    if first == "farthest_from_mean":
        return _farthest_from_mean(x, chunk_rows)
    return int((rng or np.random.default_rng(seed)).integers(len(x)))


def _inputs(features: Any, labeled: Any, first: str) -> tuple[np.ndarray, np.ndarray]:
    """The pool (N, d) and the labelled centres (L, d) as float32, checked; (0, d) when none."""
    x = _as_float32(features, "features")
    d = x.shape[1]
    lab = (
        np.empty((0, d), dtype=np.float32)
        if labeled is None or np.size(labeled) == 0
        else _as_float32(labeled, "labeled", d)
    )
    if first not in ("farthest_from_mean", "random"):
        raise ValueError(f"first must be 'farthest_from_mean' or 'random', got {first!r}")
    return x, lab


def _next_pick(state: RunningMin, score: ScoreFn | None, available: np.ndarray) -> tuple[int, float]:
    """The next centre and what it won by: the farthest row (Eq. 1), or the best `score` among the rows
    still available."""
    if score is None:
        i, value = state.farthest()
        return i, math.sqrt(max(value, 0.0))
    m = state.min_squared()
    dist = np.sqrt(np.clip(m, 0.0, None))
    s = np.asarray(score(dist, available.copy()), dtype=np.float64)
    if s.shape != (len(available),):
        raise ValueError(f"score must return one value per pool row, got shape {s.shape}")
    s = np.where(available, s, -np.inf)
    i = int(np.argmax(s))
    return i, float(s[i])


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
    mode = _pruning(prune, x.shape, "float32")  # only "clusters" helps here: one pass over all centres
    mode = mode if mode == "clusters" else None
    state = RunningMin(x, _device(device), "float32", mode, None, chunk_rows, 0)
    state.add_many(c)
    return math.sqrt(max(float(state.mind.max()), 0.0))


__all__ = ["KCenterResult", "ScoreFn", "covering_radius", "k_center_greedy"]
