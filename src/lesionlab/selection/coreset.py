"""Core-set (Sener & Savarese 2018) and the confident coreset of Kim et al. 2020, "Confident Coreset for
Active Learning in Medical Image Analysis", with its aggregation ablations.

All read the pooled embeddings of the unlabelled pool (`embeddings`, N x D) and of the labelled set
(`labeled_embeddings`, L x D); the confident variants also the loss predictor's output
(`predicted_loss`, N). Distances are Euclidean (Kim et al., Sec. 3.2) and every greedy loop is the one in
`selection.kcenter`: a running minimum of each row's distance to its nearest centre. The strategies'
`prune` option picks how that loop runs, never which rows it picks: `"auto"` (the default) uses lazy
updates (rows learn of new centres only when they could be the farthest) on float32 CPU pools of at least
128 features and 2^23 values, and the plain loop on smaller pools, where its pass is cheap; `False` always
the plain loop; `True` k-means triangle bounds. `confident_coreset` (0 < alpha < 1) and
`confident_coreset_sum` always run the plain loop, since their score reads every row's minimum at every
pick; the rank and sequential variants run plain k-center, so `"auto"` applies. `precision` and `dims`
are the approximate modes.

- `coreset`: greedy k-center, Eq. 1-2: repeatedly pick the row farthest from its nearest labelled or
  already picked row. Scores: that distance at pick time (non-increasing).
- `confident_coreset` (Algorithm 1, Eq. 5): the same greedy loop, but the row picked maximises
  N(min distance)^alpha * N(predicted loss)^(1 - alpha), N = min-max normalisation. Reading: N runs over
  the rows the argmax runs over, [n] \\ S, at every pick, so the distances (which shrink as picks are
  added) are re-normalised each step, and so is the predicted loss over the rows still available. A
  constant vector normalises to 1 (the criterion carries no information; the other one decides).
  alpha = 0.25 for classification, 0.5 for segmentation (Sec. 3.2). alpha = 1 runs `coreset` and
  alpha = 0 `learning_loss` (top predicted loss): the same picks, by construction.
- `confident_coreset_sum` (Eq. 6): N(min distance) + N(predicted loss) in the same loop.
- `confident_coreset_rank` (rank fusion, "late fusion" of Sec. 4.2): each row's rank under core-set (the
  greedy order of a budget-sized run, then the rest by their remaining min distance, largest first) and
  under predicted loss (largest first) are averaged; the rows with the best mean rank are picked.
- `confident_coreset_sequential` (Sec. 4.2): the first half of the budget (rounded up) by predicted loss,
  "firstly ... from uncertainty-based approach", then the rest by k-center with the labelled set and
  those picks as centres.

The confident variants' Selection scores are the order of choice (0, -1, -2, ...): their per-pick score
is re-normalised every step, so its values are not comparable across picks.
"""

from __future__ import annotations

import math

import numpy as np

from lesionlab.selection.base import Evidence, Selection, Strategy, check_budget, register_strategy, top_k
from lesionlab.selection.kcenter import ScoreFn, k_center_greedy

# Kim et al. 2020, Sec. 3.2: "alpha is empirically set to 0.25 in classification, and set to 0.5 in
# segmentation".
ALPHA_CLASSIFICATION = 0.25
ALPHA_SEGMENTATION = 0.5
# Sec. 4.2's sweep of alpha.
ALPHA_SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0)


def _embeddings(evidence: Evidence) -> tuple[np.ndarray, np.ndarray]:
    pool = np.asarray(evidence.require("embeddings"), dtype=np.float32)
    labeled = np.asarray(evidence.require("labeled_embeddings"), dtype=np.float32)
    if pool.ndim != 2:
        raise ValueError(f"evidence embeddings must be (N, D), got shape {pool.shape}")
    if labeled.size == 0:
        labeled = np.empty((0, pool.shape[1]), dtype=np.float32)
    if labeled.ndim != 2 or labeled.shape[1] != pool.shape[1]:
        raise ValueError(
            f"evidence labeled_embeddings must be (L, {pool.shape[1]}) like the pool's, got {labeled.shape}"
        )
    if not (np.all(np.isfinite(pool)) and np.all(np.isfinite(labeled))):
        raise ValueError("evidence embeddings and labeled_embeddings must be finite")
    return pool, labeled


def _predicted_loss(evidence: Evidence) -> np.ndarray:
    loss = np.asarray(evidence.require("predicted_loss"), dtype=np.float64)
    if loss.shape != (len(evidence.ids),) or not np.all(np.isfinite(loss)):
        raise ValueError(
            f"evidence predicted_loss must be {len(evidence.ids)} finite values, got {loss.shape}"
        )
    return loss


def minmax(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Min-max normalise `values` over the rows in `mask` (others are returned as 0); constant -> 1."""
    out = np.zeros(len(values))
    if not mask.any():
        return out
    v = values[mask]
    lo, hi = v.min(), v.max()
    out[mask] = (v - lo) / (hi - lo) if hi > lo else 1.0
    return out


def product_score(loss: np.ndarray, alpha: float) -> ScoreFn:
    """Eq. 5: N(min distance)^alpha * N(predicted loss)^(1 - alpha), normalised over available rows."""

    def score(dist: np.ndarray, available: np.ndarray) -> np.ndarray:
        return minmax(dist, available) ** alpha * minmax(loss, available) ** (1.0 - alpha)

    return score


def sum_score(loss: np.ndarray) -> ScoreFn:
    """Eq. 6: N(min distance) + N(predicted loss), normalised over available rows."""

    def score(dist: np.ndarray, available: np.ndarray) -> np.ndarray:
        return minmax(dist, available) + minmax(loss, available)

    return score


def _order_scores(n: int) -> np.ndarray:
    return -np.arange(n, dtype=float)


class _KCenterStrategy(Strategy):
    """Shared options: how the greedy loop runs (never which rows it picks, except the approximate modes)."""

    def __init__(
        self, prune: bool | str = "auto", precision: str = "float32", dims: int | None = None
    ) -> None:
        if prune not in (True, False, "auto"):
            raise ValueError(f"prune must be true, false or 'auto', got {prune!r}")
        self.prune = prune
        self.precision = precision
        self.dims = dims

    def _greedy(self, pool, budget, labeled, rng, score=None):
        return k_center_greedy(
            pool,
            budget,
            labeled,
            score=score,
            rng=rng,
            prune=self.prune,
            precision=self.precision,
            dims=self.dims,
        )


@register_strategy("coreset")
class Coreset(_KCenterStrategy):
    """Greedy k-center on pooled embeddings (Sener & Savarese; Kim et al. 2020 Eq. 1-2)."""

    requires = frozenset({"embeddings", "labeled_embeddings"})

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        pool, labeled = _embeddings(evidence)
        result = self._greedy(pool, budget, labeled, rng)
        return Selection(ids=evidence.ids[result.indices], scores=result.scores)


class _Confident(_KCenterStrategy):
    requires = frozenset({"embeddings", "labeled_embeddings", "predicted_loss"})


@register_strategy("confident_coreset")
class ConfidentCoreset(_Confident):
    """Algorithm 1: greedy k-center on N(min distance)^alpha * N(predicted loss)^(1 - alpha)."""

    documented_params = tuple({"alpha": a} for a in ALPHA_SWEEP)

    def __init__(self, alpha: float = ALPHA_CLASSIFICATION, **options) -> None:
        super().__init__(**options)
        if isinstance(alpha, bool) or not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
            raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
        self.alpha = float(alpha)

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        pool, labeled = _embeddings(evidence)
        loss = _predicted_loss(evidence)
        # The sweep's ends are the two criteria alone. Running them through their own strategies' code makes
        # the picks identical by construction (coreset's loop refines float32 near-ties in float64, the
        # scored loop cannot), so alpha = 0 and 1 reproduce learning_loss and coreset exactly.
        if self.alpha == 1.0:
            indices = self._greedy(pool, budget, labeled, rng).indices
        elif self.alpha == 0.0:
            ids = top_k(evidence, loss, budget, rng).ids
            return Selection(ids=ids, scores=_order_scores(len(ids)))
        else:
            indices = self._greedy(pool, budget, labeled, rng, product_score(loss, self.alpha)).indices
        return Selection(ids=evidence.ids[indices], scores=_order_scores(len(indices)))


@register_strategy("confident_coreset_sum")
class ConfidentCoresetSum(_Confident):
    """Eq. 6: greedy k-center on N(min distance) + N(predicted loss)."""

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        pool, labeled = _embeddings(evidence)
        result = self._greedy(pool, budget, labeled, rng, sum_score(_predicted_loss(evidence)))
        return Selection(ids=evidence.ids[result.indices], scores=_order_scores(len(result.indices)))


def _ranks(order: np.ndarray) -> np.ndarray:
    """Rank of each row (0 = first) given the rows in order."""
    ranks = np.empty(len(order))
    ranks[order] = np.arange(len(order))
    return ranks


@register_strategy("confident_coreset_rank")
class ConfidentCoresetRank(_Confident):
    """Rank fusion: mean of each row's core-set rank and predicted-loss rank; best mean rank first."""

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        pool, labeled = _embeddings(evidence)
        loss = _predicted_loss(evidence)
        n = len(pool)
        greedy = self._greedy(pool, min(budget, n), labeled, rng)
        rest = np.setdiff1d(np.arange(n), greedy.indices)
        rest = rest[np.argsort(-greedy.min_distances[rest], kind="stable")]
        coreset_rank = _ranks(np.concatenate([greedy.indices, rest]))
        loss_rank = _ranks(np.argsort(-loss, kind="stable"))
        return top_k(evidence, -(coreset_rank + loss_rank) / 2.0, budget, rng)


@register_strategy("confident_coreset_sequential")
class ConfidentCoresetSequential(_Confident):
    """Half the budget (rounded up) by top predicted loss first, then the rest by k-center."""

    def select(self, evidence: Evidence, budget: int, rng: np.random.Generator) -> Selection:
        budget = check_budget(budget)
        pool, labeled = _embeddings(evidence)
        loss = _predicted_loss(evidence)
        n = len(pool)
        first = top_k(evidence, loss, min(math.ceil(budget / 2), n), rng)
        # The loss picks follow top_k's order (random tie-breaks): map ids back to rows in that order.
        row_of = {i: r for r, i in enumerate(evidence.ids.tolist())}
        by_loss = np.array([row_of[i] for i in first.ids.tolist()], dtype=np.int64)
        rest_rows = np.setdiff1d(np.arange(n), by_loss)
        second = min(budget, n) - len(by_loss)
        picked = by_loss
        if second > 0:
            centres = np.concatenate([labeled, pool[by_loss]])
            greedy = self._greedy(pool[rest_rows], second, centres, rng)
            picked = np.concatenate([by_loss, rest_rows[greedy.indices]])
        return Selection(ids=evidence.ids[picked], scores=_order_scores(len(picked)))
