"""Classification metrics as the ISIC challenges report them, with bootstrap intervals and seed summaries.

Metrics that are undefined for the data at hand (AUC with one class, recall of an absent class) are
nan rather than errors: small active-learning test sets hit these cases, and a run should not die there.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    roc_auc_score,
)

from lesionlab.errors import ConfigError

__all__ = ["binary_metrics", "bootstrap_ci", "compute_metrics", "mean_se", "multiclass_metrics"]


def _labels(y_true: ArrayLike, n_classes: int) -> np.ndarray:
    y = np.asarray(y_true).ravel()
    if y.size == 0:
        raise ValueError("no samples to evaluate")
    if y.dtype == bool:
        y = y.astype(np.int64)
    elif not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.number) or np.any(y != np.round(y)):
            raise ValueError(f"labels must be integer class indices, got dtype {y.dtype}")
        y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes - 1}], got range [{y.min()}, {y.max()}]")
    return y


def _scores(probs: ArrayLike, n: int, ndim: int) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != ndim or len(p) != n:
        want = "(N,)" if ndim == 1 else "(N, C)"
        raise ValueError(f"scores must have shape {want} with N = {n} labels, got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("scores contain nan or inf; check the model outputs")
    return p


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else math.nan


def binary_metrics(y_true: ArrayLike, prob_pos: ArrayLike, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, AUC, AP, sensitivity and specificity; positive means `prob_pos > threshold`.

    The strict inequality at 0.5 follows the ISIC challenge scoring code (isic-challenge-scoring).
    """
    y = _labels(y_true, 2)
    p = _scores(np.ravel(prob_pos), len(y), 1)
    pred = p > threshold
    pos = y == 1
    tp = int(np.sum(pred & pos))
    tn = int(np.sum(~pred & ~pos))
    fp = int(np.sum(pred & ~pos))
    fn = int(np.sum(~pred & pos))
    both = 0 < tp + fn < len(y)
    return {
        "accuracy": (tp + tn) / len(y),
        "auc": float(roc_auc_score(y, p)) if both else math.nan,
        "ap": float(average_precision_score(y, p)) if both else math.nan,
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
    }


def multiclass_metrics(y_true: ArrayLike, probs: ArrayLike, class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy (the ISIC 2018/2019 ranking metric), macro AUC, recalls, confusion.

    Predictions are the argmax. Balanced accuracy and macro one-vs-rest AUC average over the classes
    present in `y_true`, so a class missing from a small test set does not count as zero.
    """
    n_classes = len(class_names)
    y = _labels(y_true, n_classes)
    p = _scores(probs, len(y), 2)
    if p.shape[1] != n_classes:
        raise ValueError(f"scores have {p.shape[1]} columns but there are {n_classes} class names")
    pred = p.argmax(axis=1)
    cm = confusion_matrix(y, pred, labels=np.arange(n_classes))
    support = cm.sum(axis=1)
    recall = [_ratio(cm[c, c], support[c]) for c in range(n_classes)]
    with warnings.catch_warnings():
        # Predicted classes absent from y_true are expected on small sets; the score is still right.
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(balanced_accuracy_score(y, pred))
    present = np.flatnonzero(support)
    aucs = [roc_auc_score(y == c, p[:, c]) for c in present] if len(present) > 1 else []
    return {
        "accuracy": float(np.trace(cm) / len(y)),
        "balanced_accuracy": balanced,
        "macro_auc": float(np.mean(aucs)) if aucs else math.nan,
        "per_class_recall": dict(zip(class_names, recall, strict=True)),
        "confusion_matrix": cm.tolist(),
    }


def compute_metrics(y_true: ArrayLike, probs: ArrayLike, class_names: Sequence[str]) -> dict[str, Any]:
    """Binary metrics (column 1 is positive) for two classes, multiclass metrics otherwise."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(class_names):
        raise ValueError(f"scores must have shape (N, {len(class_names)}), got {p.shape}")
    if len(class_names) < 2:
        raise ValueError(f"need at least two classes, got {list(class_names)}")
    if len(class_names) == 2:
        return binary_metrics(y_true, p[:, 1])
    return multiclass_metrics(y_true, p, class_names)


def with_positive(
    y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str], positive: str | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Labels, probabilities and class names with `positive` as class 1, the class binary metrics describe.

    A model's class order is fixed when it is trained; evaluating it on someone else's data, the person
    asking may mean the other class (`lesionlab evaluate --positive NAME`). Names match ignoring case.
    """
    names = list(class_names)
    if positive is None:
        return y_true, probs, names
    if len(names) != 2:
        raise ConfigError(
            f"--positive applies to two-class models; this one has {len(names)} classes "
            f"({', '.join(names)}): remove --positive"
        )
    match = [i for i, n in enumerate(names) if n.casefold() == str(positive).strip().casefold()]
    if not match:
        raise ConfigError(f"--positive {positive!r} is not one of the model's classes: {', '.join(names)}")
    if match[0] == 1:
        return y_true, probs, names
    return 1 - np.asarray(y_true), np.ascontiguousarray(np.asarray(probs)[:, ::-1]), names[::-1]


def bootstrap_ci(
    y_true: ArrayLike,
    probs: ArrayLike,
    metric: Callable[[np.ndarray, np.ndarray], float],
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    stratified: bool = True,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `metric(y, probs)`.

    Stratified resampling draws each class's count from that class, so every resample has the same class
    mix as the data and AUC stays defined. Resamples where the metric is nan or raises ValueError (e.g.
    one class in an unstratified resample) are dropped; if all are, the interval is (nan, nan).
    """
    y = np.asarray(y_true).ravel()
    p = np.asarray(probs)
    if len(p) != len(y) or len(y) == 0:
        raise ValueError(f"need the same, non-zero number of labels and scores, got {len(y)} and {len(p)}")
    if n_boot < 1 or not 0 < alpha < 1:
        raise ValueError(f"need n_boot >= 1 and 0 < alpha < 1, got n_boot={n_boot}, alpha={alpha}")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratified else [np.arange(len(y))]
    stats = np.full(n_boot, np.nan)
    with warnings.catch_warnings():
        # Undefined resamples are dropped below; one warning per resample would only be noise.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for b in range(n_boot):
            idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
            try:
                stats[b] = metric(y[idx], p[idx])
            except ValueError:
                continue
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def mean_se(values: ArrayLike) -> dict[str, float]:
    """Mean and standard error over seeds/runs, ignoring nan; `n` and `n_nan` say how many of each.

    One value has se 0.0 (nothing to spread); no values give nan for both.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    ok = v[~np.isnan(v)]
    n = int(ok.size)
    if n == 0:
        mean, se = math.nan, math.nan
    elif n == 1:
        mean, se = float(ok[0]), 0.0
    else:
        mean, se = float(ok.mean()), float(ok.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "se": se, "n": n, "n_nan": int(v.size - n)}
