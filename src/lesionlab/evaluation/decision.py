"""Post-hoc decision rules: turn class probabilities into decisions without retraining.

A classifier trained on skewed classes (HAM10000 is 72 % nevi) carries the training prior in its
probabilities. Logit adjustment (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021)
divides it out to a chosen degree: p_c / pi_c**tau, renormalised, i.e. softmax(log p - tau log pi).
tau = 0 is the plain argmax; tau = 1 aims at balanced error. Choose tau on a validation split:
`score_rules` scores a grid of rules (views averaged x tau) and `choose_rule` picks one for a stated
objective, e.g. the highest accuracy with balanced accuracy above a floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import accuracy_score, balanced_accuracy_score


def prior_adjusted(probs: ArrayLike, class_counts: ArrayLike, tau: float) -> np.ndarray:
    """Probabilities (N, C) with the training prior divided out to the power `tau`, rows summing to 1.

    `class_counts` are the training images per class; a class without images counts as one, so it is
    favoured most but never divides by zero.
    """
    p = np.asarray(probs, dtype=np.float64)
    counts = np.asarray(class_counts, dtype=np.float64)
    if p.ndim != 2 or counts.shape != (p.shape[1],):
        raise ValueError(f"probs must be (N, C) and class_counts (C,), got {p.shape} and {counts.shape}")
    if not np.isfinite(tau) or tau < 0:
        raise ValueError(f"tau must be a finite number >= 0, got {tau}")
    if (counts < 0).any():
        raise ValueError("class_counts must be non-negative")
    prior = np.maximum(counts, 1.0) / np.maximum(counts, 1.0).sum()
    logits = np.log(np.clip(p, 1e-12, None)) - tau * np.log(prior)
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


OBJECTIVES = ("accuracy", "balanced_accuracy", "mean")


@dataclass(frozen=True)
class RuleScore:
    """One decision rule (views averaged, logit-adjustment tau) and how it decides on labelled images."""

    tta_views: int
    tau: float
    accuracy: float
    balanced_accuracy: float


def score_rules(
    view_probs: ArrayLike,
    labels: ArrayLike,
    class_counts: ArrayLike,
    views: Sequence[int] = (1, 4, 8),
    taus: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
) -> list[RuleScore]:
    """Accuracy and balanced accuracy of every (views, tau) rule, fewest views and smallest tau first.

    `view_probs` is (V, N, C), as `trainer.runtime.view_probs` returns it: the first k views averaged are the
    k-view rule, so one pass over the images scores every view count.
    """
    per_view = np.asarray(view_probs, dtype=np.float64)
    y = np.asarray(labels)
    if per_view.ndim != 3 or per_view.shape[1] != len(y):
        raise ValueError(f"view_probs must be (V, N, C) with N = {len(y)} labels, got {per_view.shape}")
    if not views or min(views) < 1 or max(views) > per_view.shape[0]:
        raise ValueError(f"views must lie in 1 ... {per_view.shape[0]} (the views given), got {list(views)}")
    rows = []
    for k in sorted(set(views)):
        mean = per_view[:k].mean(axis=0)
        for tau in sorted(set(taus)):
            pred = prior_adjusted(mean, class_counts, tau).argmax(axis=1)
            rows.append(
                RuleScore(
                    tta_views=k,
                    tau=float(tau),
                    accuracy=float(accuracy_score(y, pred)),
                    balanced_accuracy=float(balanced_accuracy_score(y, pred)),
                )
            )
    return rows


def rule_objective(row: RuleScore, objective: str) -> float:
    """The number `choose_rule` maximises: accuracy, balanced accuracy, or the mean of the two."""
    if objective == "accuracy":
        return row.accuracy
    if objective == "balanced_accuracy":
        return row.balanced_accuracy
    if objective == "mean":
        return 0.5 * (row.accuracy + row.balanced_accuracy)
    raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")


def choose_rule(
    rows: Sequence[RuleScore], objective: str = "accuracy", min_balanced_accuracy: float = 0.0
) -> RuleScore:
    """The rule that maximises `objective` among those with balanced accuracy >= the floor.

    Score rules on a validation split, never on the test split. A target such as "accuracy >= 0.80
    with balanced accuracy >= 0.60" reads as objective `accuracy`, floor 0.60. If no rule reaches the
    floor, the one with the highest balanced accuracy is returned: the floor matters more than the
    objective. Ties keep the earliest row (with `score_rules`: fewer views, smaller tau).
    """
    if not rows:
        raise ValueError("no rules to choose from")
    rule_objective(rows[0], objective)  # validates the name before anything else
    eligible = [r for r in rows if r.balanced_accuracy >= min_balanced_accuracy]
    if not eligible:
        return max(rows, key=lambda r: r.balanced_accuracy)
    return max(eligible, key=lambda r: rule_objective(r, objective))
