"""`audit_labels`: rank labelled images by how likely their label is wrong, from out-of-sample evidence.

The signals of `audit.evidence` are turned into ranks (each in (0, 1], so no signal dominates by its
scale) and combined as a weighted mean. The default weights were chosen on simulated noisy sets of a
task that is never reported (ISIC 2017 seborrheic keratosis, `benchmarks/label_audit.py`, part `tune`);
the reported melanoma sets did not take part in the choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import rankdata

from lesionlab.audit import signals as ev
from lesionlab.audit.metrics import precision_recall_at_k

SIGNALS = ("self_confidence", "view_disagreement", "loop", "neighbours")
NO_SUGGESTION = -1  # `AuditResult.suggested` where the model's most probable class is the given one
# Chosen on the tuning sets (see the module docstring and docs/audit.md): mean precision at k 0.668 there,
# against 0.593 for cleanlab; LoOP alone is near chance on model-ranked noise and got no weight.
DEFAULT_WEIGHTS: dict[str, float] = {
    "self_confidence": 0.2,
    "view_disagreement": 0.0,
    "loop": 0.0,
    "neighbours": 0.8,
}


@dataclass
class AuditResult:
    """Every labelled image with its suspicion `score` (higher = more likely wrong) and the evidence.

    Rows are in the order the images were given; `order` ranks them, most suspect first. `probs` are
    the out-of-sample class probabilities (mean over views), `suggested` the most probable class other
    than the given one where the model prefers it, else `NO_SUGGESTION` (-1): never the given label,
    which as a "suggestion" would tell the reviewer nothing (`rows` leave it empty).
    """

    ids: list[str]
    classes: list[str]
    given: np.ndarray
    suggested: np.ndarray
    score: np.ndarray
    probs: np.ndarray
    signals: dict[str, np.ndarray]
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def order(self) -> np.ndarray:
        """Row indices, most suspect first (ties: the order given)."""
        return np.argsort(-self.score, kind="stable")

    def ranked_ids(self) -> list[str]:
        return [self.ids[i] for i in self.order]

    def suggested_name(self, i: int) -> str:
        """Row `i`'s suggested class, or "" when the model prefers the given label (nothing to suggest)."""
        s = int(self.suggested[i])
        return "" if s == NO_SUGGESTION else self.classes[s]

    def reason(self, i: int) -> str:
        """Why row `i` is suspect, in words a reviewer can check."""
        p, s = self.probs[i], self.signals
        top = int(np.argmax(p))
        parts = [f"out-of-sample p({self.classes[self.given[i]]}) = {p[self.given[i]]:.2f}"]
        if top != self.given[i]:
            parts.append(f"the model says {self.classes[top]} ({p[top]:.2f})")
        if "view_disagreement" in s:
            parts.append(f"{s['view_disagreement'][i]:.0%} of augmented views disagree")
        if "loop" in s:
            parts.append(f"LoOP {s['loop'][i]:.2f} among its labelled class")
        if "neighbours" in s:
            parts.append(f"{s['neighbours'][i]:.0%} of its nearest images labelled otherwise")
        return "; ".join(parts)

    def rows(self, top: int | None = None) -> list[dict]:
        """One dict per image, most suspect first: rank, id, given, suggested, score, signals, why."""
        out = []
        for rank, i in enumerate(self.order[:top], start=1):
            out.append(
                {
                    "rank": rank,
                    "image_id": self.ids[i],
                    "given_label": self.classes[self.given[i]],
                    "suggested_label": self.suggested_name(i),
                    "score": float(self.score[i]),
                    **{name: float(v[i]) for name, v in self.signals.items()},
                    "why": self.reason(i),
                }
            )
        return out

    def precision_recall_at_k(self, flipped_ids: Iterable[str], k: int | None = None) -> dict[str, float]:
        """Precision and recall of the ranking at `k` (default: the number of flips)."""
        return precision_recall_at_k(self.ranked_ids(), flipped_ids, k)


def combine(signals: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Weighted mean of the signals' ranks scaled to (0, 1] (ties share their mean rank)."""
    used = {k: w for k, w in weights.items() if w > 0}
    unknown = set(used) - set(signals)
    if unknown:
        raise ValueError(f"weights name signals that were not computed: {sorted(unknown)}")
    if not used:
        raise ValueError("at least one signal needs a positive weight")
    total = sum(used.values())
    n = len(next(iter(signals.values())))
    return sum(w * rankdata(signals[k]) / n for k, w in used.items()) / total


def suggested_labels(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The most probable class other than the given one where the model prefers it, else NO_SUGGESTION."""
    other = probs.copy()
    other[np.arange(len(labels)), labels] = -np.inf
    best_other = other.argmax(axis=1)
    prefers = probs[np.arange(len(labels)), best_other] > probs[np.arange(len(labels)), labels]
    return np.where(prefers, best_other, NO_SUGGESTION)


def audit_signals(
    features: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    folds: int = 5,
    seed: int = 0,
    n_neighbors: int = 10,
    probs: np.ndarray | None = None,
    knn: int = 30,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Out-of-sample probabilities (V, N, C) and every signal (N,) of `audit.evidence`.

    `probs` (V, N, C) or (N, C) replaces the cross-validated logistic regression, e.g. k-fold
    probabilities of a network; they must be out of sample. `n_neighbors` is LoOP's k; the neighbour
    vote takes k = sqrt(N), at most `knn` (30 from N = 900 on).
    """
    x = features if np.ndim(features) == 3 else np.asarray(features)[None]
    y = ev.check_labels(labels, x.shape[1], num_classes)
    if probs is None:
        p = ev.cv_probabilities(x, y, num_classes, folds=folds, seed=seed)
    else:
        p = np.asarray(probs, dtype=float)
        p = p[None] if p.ndim == 2 else p
        if p.shape[1:] != (len(y), num_classes):
            raise ValueError(f"probs must be (V, {len(y)}, {num_classes}), got shape {p.shape}")
    k = min(n_neighbors, len(y) - 1)
    signals = {
        "self_confidence": ev.self_confidence(p, y),
        "view_disagreement": ev.view_disagreement(p, y),
        "loop": ev.loop_in_class(x, y, n_neighbors=k),
        # k = sqrt(N) up to `knn` (a vote of 30 among 28 images would be the class frequency)
        "neighbours": ev.neighbour_disagreement(x, y, n_neighbors=min(knn, max(3, int(np.sqrt(len(y)))))),
    }
    return p, signals


def audit_labels(
    features: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    classes: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    *,
    weights: Mapping[str, float] | None = None,
    folds: int = 5,
    seed: int = 0,
    n_neighbors: int = 10,
    probs: np.ndarray | None = None,
) -> AuditResult:
    """Rank labelled images by how likely their label is wrong.

    `features` are (N, D) or (V, N, D) image features from a model that did not learn these labels (see
    `audit.features.backbone_features`), `labels` the given class indices, `classes` their names (default
    "0", "1", ...), `ids` the image ids (default positions). `weights` maps signal names (`SIGNALS`) to
    their weight in the combined score (default `DEFAULT_WEIGHTS`).
    """
    y = np.asarray(labels)
    num_classes = len(classes) if classes is not None else int(y.max()) + 1
    names = list(classes) if classes is not None else [str(c) for c in range(num_classes)]
    row_ids = [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(y))]
    if len(row_ids) != len(y):
        raise ValueError(f"{len(row_ids)} ids for {len(y)} labels")
    p, signals = audit_signals(features, y, num_classes, folds, seed, n_neighbors, probs)
    w = dict(DEFAULT_WEIGHTS if weights is None else weights)
    mean_p = p.mean(axis=0)
    y = y.astype(np.int64)
    return AuditResult(
        ids=row_ids,
        classes=names,
        given=y,
        suggested=suggested_labels(mean_p, y),
        score=combine(signals, w),
        probs=mean_p,
        signals=signals,
        weights=w,
    )
