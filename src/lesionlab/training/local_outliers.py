"""Local Outlier Probabilities (LoOP, Kriegel, Kröger, Schubert & Zimek, CIKM 2009) and the individual
re-weighting with them of Xue et al. 2019, "Robust Learning at Noisy Labeled Medical Images: Applied to Skin
Lesion Classification" (ISBI 2019: weight = 1 - LoOP, the paper's "pLOF").

For each point o with its k nearest neighbours S(o) (o itself excluded), with lambda = `extent`:

    pdist(o)  = lambda * sqrt(mean_{s in S(o)} d(o, s)^2)
    PLOF(o)   = pdist(o) / mean_{s in S(o)} pdist(s) - 1
    nPLOF     = lambda * sqrt(mean_o PLOF(o)^2)              (over the point's group)
    LoOP(o)   = max(0, erf(PLOF(o) / (nPLOF * sqrt(2))))

computed for all points at once from a k-nearest-neighbour graph, separately within each group (each
labelled class), exactly as PyNomaly's `LocalOutlierProbability(..., cluster_labels=...)` does (a test
checks equality). The graph: candidate neighbours from one float32 matrix product per block of rows,
then exact float64 distances of the k nearest where the float32 error bound makes them certain, of all
candidates where it shows the k nearest among them, of every point otherwise (so the scores do not depend
on the float32 rounding);
`backend="sklearn"` uses scikit-learn's `NearestNeighbors` instead (same result, slower here).

`LoopReweighting` is the epoch callback of `train.loss: ousm_loop`: after `after` epochs (all weights 1
until then) and every `every` epochs from there it embeds the training images (`Trainer.embed`: the pooled
embedding that feeds the classification layer, the paper's "pre-softmax layer feature") and sets each
image's weight to 1 - LoOP within its labelled class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy.special import erf

from lesionlab.training.auxiliary import EpochEnd

_BLOCK = 256  # rows per block of the distance search (256 x 20,000 float32 = 20 MB)
_SHORT = 400  # rows up to this long: NumPy's argpartition beats torch.topk (1 thread)
_FAR = np.float32(1e30)  # |y|^2 of the padding columns (finite: BLAS may multiply it by 0)
_EXTRA = 5  # candidates beyond k kept from the float32 search before the exact float64 re-ranking


def knn_graph(
    x: np.ndarray, k: int, backend: Literal["auto", "sklearn"] = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """(N, k) Euclidean distances (float64, ascending) and indices of each row's k nearest other rows."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, {n - 1}] for {n} points, got {k}")
    if backend == "sklearn":
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(x)
        idx = nn.kneighbors(return_distance=False)  # X=None: a point is not its own neighbour
        return _exact(x, idx)
    m = min(k + _EXTRA, n - 1)
    x32 = (x - x.mean(axis=0)).astype(np.float32)  # centred: smaller norms, tighter float32 error
    cand_d2, candidates = _candidates(x32, m)
    if m == n - 1:  # every other point is a candidate: re-rank them all exactly
        dist, idx = _exact(x, candidates)
        return dist[:, :k], idx[:, :k]
    sq = np.einsum("nd,nd->n", x32, x32).astype(np.float64)
    bound = 2.0 * (x.shape[1] + 3) * 2.0**-24 * (sq + sq.max())  # |fl(|a-b|^2) - |a-b|^2| <= bound
    return _refine(x, cand_d2, candidates, k, bound)


def _refine(
    x: np.ndarray, cand_d2: np.ndarray, candidates: np.ndarray, k: int, bound: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact float64 k nearest from the float32 candidates, so the scores do not depend on float32 rounding.

    Only the set of the k nearest matters to LoOP, and only its exact distances. Where the float32 gap
    between the k-th and (k+1)-th candidate exceeds twice the error bound, the k nearest are certain and
    only they are measured in float64; where the m-th candidate is that far beyond the k-th, the k
    nearest are among the candidates, which are re-ranked exactly; other rows (near ties, duplicates)
    are measured against every point.
    """
    n, m = candidates.shape
    certain = cand_d2[:, k] - cand_d2[:, k - 1] > 2.0 * bound
    covered = cand_d2[:, m - 1] - cand_d2[:, k - 1] > 2.0 * bound
    dist, order = np.empty((n, k)), np.empty((n, k), dtype=np.int64)
    rows = np.flatnonzero(certain)
    dist[rows], order[rows] = _exact(x, candidates[rows, :k], rows)
    rows = np.flatnonzero(~certain & covered)
    d, o = _exact(x, candidates[rows], rows)
    dist[rows], order[rows] = d[:, :k], o[:, :k]
    rows = np.flatnonzero(~covered)
    others = np.arange(n - 1)
    for start in range(0, len(rows), 64):  # every other point, 64 rows at a time
        part = rows[start : start + 64]
        d, o = _exact(x, others[None, :] + (others[None, :] >= part[:, None]), part)
        dist[part], order[part] = d[:, :k], o[:, :k]
    return dist, order


def _candidates(x32: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 squared distances (N, m, ascending) and indices of each row's m nearest other rows.

    One matrix product per block of rows ranks the row's columns by |y|^2 - 2 x.y (the row's own |x|^2
    does not change its order; |y|^2 rides in the product as an extra column). A top-m over all N columns
    costs more than the product at d = 64, so the columns are split into G groups of g (column c in group
    c mod G): a row's m nearest lie in the m groups with the smallest minima (a group holding one of them
    has a minimum no larger than it, and fewer than m groups can have a smaller one), so only G minima
    and m * g values are ranked.
    """
    n, d = x32.shape
    sq = np.einsum("nd,nd->n", x32, x32)
    g = max(1, int(np.sqrt(n / m)))  # about minimises G + m * g; G = ceil(n / g) >= m
    groups = -(-n // g)
    cols_t = np.zeros((d + 1, groups * g), dtype=np.float32)  # [-2 y, |y|^2] per column
    cols_t[:d, :n] = -2.0 * x32.T
    cols_t[d, :n] = sq
    cols_t[d, n:] = _FAR  # padding columns: never a neighbour
    rows = np.ones((n, d + 1), dtype=np.float32)
    rows[:, :d] = x32
    buf = np.empty((min(_BLOCK, n), groups * g), dtype=np.float32)
    members = (np.arange(g) * groups)[None, None, :]
    out_d = np.empty((n, m), dtype=np.float32)
    out_i = np.empty((n, m), dtype=np.int64)
    for start in range(0, n, _BLOCK):
        b = min(_BLOCK, n - start)
        key = np.matmul(rows[start : start + b], cols_t, out=buf[:b])
        key[np.arange(b), np.arange(start, start + b)] = np.inf
        best = _smallest(key.reshape(b, g, groups).min(axis=1), m)
        cols = (best[:, :, None] + members).reshape(b, m * g)
        vals = np.take_along_axis(key, cols, 1)
        pick = _smallest(vals, m)
        vals, cols = np.take_along_axis(vals, pick, 1), np.take_along_axis(cols, pick, 1)
        order = np.argsort(vals, axis=1)
        out_d[start : start + b] = np.take_along_axis(vals, order, 1) + sq[start : start + b, None]
        out_i[start : start + b] = np.take_along_axis(cols, order, 1)
    return out_d, out_i


def _smallest(a: np.ndarray, m: int) -> np.ndarray:
    """Column indices of each row's m smallest values, in any order: NumPy's partition on short rows,
    torch's top-k on long ones (each the faster where measured, at 1 thread)."""
    if a.shape[1] <= _SHORT:
        return np.argpartition(a, m - 1, axis=1)[:, :m]
    return torch.topk(torch.from_numpy(a), m, dim=1, largest=False, sorted=False).indices.numpy()


def _exact(x: np.ndarray, idx: np.ndarray, of: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact float64 distances from rows `of` of x (default all) to their candidate rows `idx`,
    re-sorted ascending (ties: lower index)."""
    of = np.arange(len(x)) if of is None else of
    dist = np.empty(idx.shape)
    step = max(16, 2**15 // max(1, idx.shape[1] * x.shape[1]))  # ~256 KB of differences: in cache
    for start in range(0, len(of), step):
        rows = slice(start, start + step)
        diff = x[of[rows], None, :] - x[idx[rows]]
        dist[rows] = np.sqrt(np.einsum("nkd,nkd->nk", diff, diff))
    order = np.lexsort((idx, dist), axis=1)
    return np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)


def loop_from_graph(dist: np.ndarray, idx: np.ndarray, extent: float = 3.0) -> np.ndarray:
    """LoOP (N,) of one group from its k-nearest-neighbour graph (distances, neighbour indices)."""
    pdist = extent * np.sqrt((dist**2).mean(axis=1))
    expected = pdist[idx].mean(axis=1)
    expected[expected == 0.0] = 1e-8  # as PyNomaly: duplicates give a zero neighbourhood distance
    plof = pdist / expected - 1.0
    nplof = extent * np.sqrt((plof**2).mean())
    if nplof == 0.0:
        return np.zeros(len(dist))
    return np.maximum(0.0, erf(plof / (nplof * np.sqrt(2.0))))


def local_outlier_probabilities(
    x: np.ndarray,
    groups: np.ndarray | None = None,
    n_neighbors: int = 10,
    extent: float = 3.0,
    backend: Literal["auto", "sklearn"] = "auto",
) -> np.ndarray:
    """LoOP in [0, 1) of every row of `x` (N, D), within each group (e.g. each labelled class).

    A group with no more than `n_neighbors` members uses k = its size - 1 (PyNomaly refuses such a
    group); a group of one point gets 0. `extent` is LoOP's lambda (PyNomaly's default 3).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be (N, D), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x holds NaN or infinite values")
    if n_neighbors < 1 or extent <= 0:
        raise ValueError("n_neighbors must be >= 1 and extent > 0")
    g = np.zeros(len(x), dtype=np.int64) if groups is None else np.asarray(groups)
    if g.shape != (len(x),):
        raise ValueError(f"groups must have one entry per row ({len(x)}), got shape {g.shape}")
    out = np.zeros(len(x))
    for group in np.unique(g):
        members = np.flatnonzero(g == group)
        if len(members) < 2:
            continue
        dist, idx = knn_graph(x[members], min(n_neighbors, len(members) - 1), backend)
        out[members] = loop_from_graph(dist, idx, extent)
    return out


@dataclass
class LoopReweighting:
    """Epoch callback: weight = 1 - LoOP of each training image's embedding within its labelled class.

    Acts at the end of epoch `after` and every `every` epochs after it, so with the paper's 5 and 5 the
    weights are 1 for epochs 1-5, computed after epochs 5, 10, 15, ... and used from the next epoch on.
    Adds `loop_mean_weight` and `loop_min_weight` to that epoch's history row.
    """

    after: int = 5
    every: int = 5
    n_neighbors: int = 10
    extent: float = 3.0

    def due(self, epoch: int) -> bool:
        return epoch >= self.after and (epoch - self.after) % self.every == 0

    def weights(self, embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
        w = 1.0 - local_outlier_probabilities(embeddings, labels, self.n_neighbors, self.extent)
        return w if w.sum() > 0 else np.ones_like(w)  # every image an outlier: keep them all

    def __call__(self, event: EpochEnd) -> None:
        if not self.due(event.epoch):
            return
        labels = np.array([r.label for r in event.train])
        w = self.weights(event.trainer.embed(event.train), labels)
        event.sample_weights = w.astype(np.float32)
        event.row["loop_mean_weight"] = float(w.mean())
        event.row["loop_min_weight"] = float(w.min())
