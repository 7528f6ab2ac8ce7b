"""Learning curves and the numbers that summarise them: ALC, labels needed for a target, labels saved.

A learning curve is a metric (AUC, accuracy, Dice, ...) after each active-learning round, against how
much of the pool has been labelled. Everything here works on plain sequences so results loaded from
disk, from several seeds or from several strategies can be compared without the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.integrate import trapezoid
from scipy.stats import sem


def _curve(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Validate one curve: equal lengths, at least one point, x strictly increasing."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.ndim != 1 or xs.shape != ys.shape:
        raise ValueError(f"a curve needs one metric per x: got shapes {xs.shape} and {ys.shape}")
    if xs.size == 0:
        raise ValueError("a curve needs at least one point")
    if np.any(np.diff(xs) <= 0):
        raise ValueError("x (labels or labelled fraction) must be strictly increasing across rounds")
    return xs, ys


def learning_curve(runs: list[list[tuple[float, float]]]) -> list[dict]:
    """Mean and standard error of the metric across seeds at each x, for plotting with error bands.

    Each run is one seed's [(x, metric), ...] on the same x grid (fraction of the pool or number of
    labels). Returns one dict per x: {"x", "mean", "std", "sem", "n"}; std and sem use ddof=1 and are
    NaN with a single run, because spread across seeds is then unknown rather than zero.
    """
    if not runs:
        raise ValueError("learning_curve needs at least one run")
    arrays = [np.asarray(run, dtype=float).reshape(-1, 2) for run in runs]
    grid = arrays[0][:, 0]
    for i, arr in enumerate(arrays[1:], start=1):
        if arr.shape != arrays[0].shape or not np.allclose(arr[:, 0], grid, rtol=1e-9, atol=0.0):
            raise ValueError(f"run {i} has a different x grid from run 0; align the rounds first")
    metrics = np.stack([arr[:, 1] for arr in arrays])  # (seeds, rounds)
    n = len(arrays)
    if n > 1:
        std, err = metrics.std(axis=0, ddof=1), sem(metrics, axis=0, ddof=1)
    else:
        std = err = np.full(len(grid), np.nan)
    return [
        {"x": float(x), "mean": float(m), "std": float(s), "sem": float(e), "n": n}
        for x, m, s, e in zip(grid, metrics.mean(axis=0), std, err, strict=True)
    ]


def alc(x: Sequence[float], y: Sequence[float]) -> float:
    """Area under the learning curve (ALC), normalised so a constant curve scores its constant.

    Trapezoid area of the metric over x divided by the span of x, i.e. the curve's average height.
    Dividing by the span makes the value the same whether x is the labelled fraction or the number of
    labels, and keeps it in [0, 1] for metrics in [0, 1]. A single point returns its metric.
    Zhou et al. 2021 ("Active, Continual Fine Tuning of Convolutional Neural Networks for Reducing
    Annotation Efforts") compare strategies by ALC; Guyon et al. (2011), whom they cite, additionally
    log-scale x and rescale against a random predictor; we keep the linear average so curves from
    different pool sizes stay comparable.
    """
    xs, ys = _curve(x, y)
    if xs.size == 1:
        return float(ys[0])
    # scipy's trapezoid rather than np.trapezoid: the latter needs numpy >= 2.0, we support 1.24.
    return float(trapezoid(ys, xs) / (xs[-1] - xs[0]))


def labels_to_target(n_labeled: Sequence[float], metric: Sequence[float], target: float) -> float | None:
    """Labels needed for the curve to first reach `target`, interpolating linearly between rounds.

    Returns None if the curve never reaches it; later dips below the target do not matter.
    """
    xs, ys = _curve(n_labeled, metric)
    reached = np.flatnonzero(ys >= target)  # NaN metrics compare False: never count as reached
    if reached.size == 0:
        return None
    i = int(reached[0])
    if i == 0:
        return float(xs[0])
    # ys[i - 1] < target <= ys[i], so the slope is positive and the result lies in (xs[i-1], xs[i]].
    frac = (target - ys[i - 1]) / (ys[i] - ys[i - 1])
    return float(xs[i - 1] + frac * (xs[i] - xs[i - 1]))


def annotation_saving(
    n_labeled: Sequence[float],
    metric_strategy: Sequence[float],
    metric_random: Sequence[float],
    target: float | None = None,
    n_labeled_random: Sequence[float] | None = None,
) -> float | None:
    """Fraction of labels a strategy saves versus random sampling to reach the same metric.

    Definition: saving = 1 - L_strategy / L_random, where L_* = labels_to_target(curve, target) and
    `target` defaults to the best metric random sampling reaches. 0.4 means the strategy needed 40 %
    fewer labels; negative values mean it needed more. `n_labeled_random` gives random's own x grid
    when it differs (defaults to `n_labeled`). Returns None when the saving is undefined: either curve
    never reaches the target, or random reaches it with zero labels while the strategy does not.
    """
    x_random = n_labeled if n_labeled_random is None else n_labeled_random
    if target is None:
        _, ys = _curve(x_random, metric_random)
        if np.all(np.isnan(ys)):
            return None
        target = float(np.nanmax(ys))
    labels_random = labels_to_target(x_random, metric_random, target)
    labels_strategy = labels_to_target(n_labeled, metric_strategy, target)
    if labels_random is None or labels_strategy is None:
        return None
    if labels_strategy == labels_random:
        return 0.0
    if labels_random <= 0:
        return None
    return 1.0 - labels_strategy / labels_random
