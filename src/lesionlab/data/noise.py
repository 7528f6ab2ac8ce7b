"""Simulated label noise (Xue et al. 2019), always recording which labels were flipped.

Xue et al. 2019: "Robust Learning at Noisy Labeled Medical Images: Applied to Skin Lesion
Classification" (ISBI).

Three kinds, all seeded and exact in their counts, each returning a `NoisyLabels`:

- `ranked_noise`: the paper's clinically plausible noise (Sec. 3.1). A classifier is trained on a random
  part of the images, scores the rest, and in each class the `rate` share with the highest loss on their
  (clean) label is flipped. The classifier is a parameter, a `Scorer`: a callable that trains on some
  indices and returns probabilities for others, so tests use `logistic_scorer` (scikit-learn on given
  features) and benchmarks the real network.
- `symmetric_noise`: exactly round(rate n_c) labels of each class c flip, chosen uniformly at random,
  each to a uniformly drawn other class.
- `transition_noise`: a class-conditional transition matrix T (T[i, j] = P(given j | true i)); exactly
  round(T[i, j] n_i) images of class i get label j (largest remainders make each row add up to n_i).

How the paper's gamma relates to the class sizes (our reading): "the top gamma percent high loss samples
in each class (2,733 benign and 894 malignant)" quotes the sizes of the whole training set, and the noise
is then defined as y' = y with probability 1 - gamma. So gamma is a share of each *whole* class,
round(gamma n_c) images of class c, taken from the scored part only (the classifier's own training images
cannot be scored out of sample, so they always keep their label). At gamma = 0.4 that is 358 of the 894
melanomas, all from the ~645 scored ones. `relative_to="scored"` takes gamma of each class's scored part
instead (the other reading). In the binary task a flipped label is the other class; with more classes it
is the scoring classifier's most probable wrong class (the mistake a reader would plausibly make).

Pure numpy and scikit-learn: no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

# Scorer(train_idx, score_idx) -> (len(score_idx), C) probabilities of a model fitted on train_idx only.
Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
Seed = int | np.random.Generator

# The paper trains its noise classifier on 1,000 of its 3,582 training images.
PAPER_TRAIN_FRACTION = 1000 / 3582


@dataclass(frozen=True)
class NoisyLabels:
    """Noisy labels with their ground truth.

    `labels` are the new labels, `clean` the originals, `flipped` the mask of changed labels,
    `transition` the realised (C, C) matrix: row i = the share of true class i given each label.
    `ids` (when given) names the rows, `loss` holds the scorer's per-image loss for ranked noise
    (NaN where not scored) and `scored` which images were scored.
    """

    labels: np.ndarray
    clean: np.ndarray
    flipped: np.ndarray
    transition: np.ndarray
    kind: str
    ids: np.ndarray | None = None
    loss: np.ndarray | None = None
    scored: np.ndarray | None = None

    @property
    def flipped_index(self) -> np.ndarray:
        """Positions of the flipped labels, ascending."""
        return np.flatnonzero(self.flipped)

    @property
    def flipped_ids(self) -> list:
        """Ids of the flipped images (positions when no ids were given)."""
        index = self.flipped_index
        return list(index) if self.ids is None else [self.ids[i] for i in index]

    @property
    def rate(self) -> float:
        """Share of all labels that were flipped."""
        return float(self.flipped.mean()) if len(self.flipped) else 0.0

    def class_rates(self) -> np.ndarray:
        """(C,) share of each true class that was flipped (1 - the transition's diagonal)."""
        return 1.0 - np.diag(self.transition)


def realised_transition(clean: np.ndarray, noisy: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) row i: the share of true class i given each label (a row of zeros for an absent class)."""
    counts = np.zeros((num_classes, num_classes))
    np.add.at(counts, (clean, noisy), 1)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def _round_half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def _check_labels(labels: Sequence[int] | np.ndarray, num_classes: int | None) -> tuple[np.ndarray, int]:
    y = np.asarray(labels)
    if y.ndim != 1 or (len(y) and not np.issubdtype(y.dtype, np.integer)):
        raise ValueError("labels must be a 1-d array of integer class indices")
    y = y.astype(np.int64)
    c = int(num_classes if num_classes is not None else (y.max() + 1 if len(y) else 0))
    if len(y) and (y.min() < 0 or y.max() >= c):
        raise ValueError(f"labels must lie in [0, {c - 1}]")
    if c < 2:
        raise ValueError("label noise needs at least two classes")
    return y, c


def _result(clean, noisy, c, kind, ids, **extra) -> NoisyLabels:
    ids_arr = None if ids is None else np.asarray(ids)
    if ids_arr is not None and len(ids_arr) != len(clean):
        raise ValueError(f"{len(ids_arr)} ids for {len(clean)} labels")
    return NoisyLabels(
        labels=noisy,
        clean=clean,
        flipped=noisy != clean,
        transition=realised_transition(clean, noisy, c),
        kind=kind,
        ids=ids_arr,
        **extra,
    )


def _rate(rate: float) -> float:
    if not 0.0 <= rate <= 1.0 or not np.isfinite(rate):
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    return float(rate)


def symmetric_noise(
    labels: Sequence[int] | np.ndarray,
    rate: float,
    num_classes: int | None = None,
    seed: Seed = 0,
    ids: Sequence | None = None,
) -> NoisyLabels:
    """Uniform symmetric noise: exactly round(rate n_c) labels of each class c (rounded half up) flip,
    chosen uniformly at random, each to a uniformly drawn other class."""
    y, c = _check_labels(labels, num_classes)
    rate = _rate(rate)
    rng = np.random.default_rng(seed)
    noisy = y.copy()
    for k in range(c):
        members = np.flatnonzero(y == k)
        n_flip = _round_half_up(rate * len(members))
        chosen = rng.choice(members, size=n_flip, replace=False) if n_flip else members[:0]
        shift = rng.integers(1, c, size=n_flip)  # 1..C-1 steps away: never the true class
        noisy[chosen] = (k + shift) % c
    return _result(y, noisy, c, "symmetric", ids)


def _apportion(row: np.ndarray, n: int) -> np.ndarray:
    """Integer counts summing to n, as close to row * n as largest remainders allow (ties: lower index)."""
    exact = row * n
    counts = np.floor(exact).astype(int)
    short = n - counts.sum()
    if short > 0:
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[:short]] += 1
    return counts


def check_transition(matrix: np.ndarray | Sequence, num_classes: int | None = None) -> np.ndarray:
    """A (C, C) row-stochastic float matrix (rows >= 0 summing to 1 within 1e-6), or ValueError."""
    t = np.asarray(matrix, dtype=float)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] < 2:
        raise ValueError(f"a transition matrix must be square (C, C) with C >= 2, got shape {t.shape}")
    if num_classes is not None and t.shape[0] != num_classes:
        raise ValueError(
            f"the transition matrix is {t.shape[0]}x{t.shape[0]} but there are {num_classes} classes"
        )
    if not np.all(np.isfinite(t)) or (t < 0).any() or not np.allclose(t.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("a transition matrix must hold finite numbers >= 0 with every row summing to 1")
    return t


def transition_noise(
    labels: Sequence[int] | np.ndarray,
    matrix: np.ndarray | Sequence,
    seed: Seed = 0,
    ids: Sequence | None = None,
) -> NoisyLabels:
    """Class-conditional noise: exactly round(T[i, j] n_i) images of class i (largest remainders) are
    given label j, chosen uniformly at random; the realised transition is then T up to that rounding."""
    t = check_transition(matrix)
    y, c = _check_labels(labels, t.shape[0])
    rng = np.random.default_rng(seed)
    noisy = y.copy()
    for k in range(c):
        members = rng.permutation(np.flatnonzero(y == k))
        counts = _apportion(t[k], len(members))
        noisy[members] = np.repeat(np.arange(c), counts)
    return _result(y, noisy, c, "transition", ids)


def uniform_transition(num_classes: int, rate: float) -> np.ndarray:
    """(C, C): keep a label with probability 1 - rate, else any other class with rate / (C - 1)."""
    rate = _rate(rate)
    t = np.full((num_classes, num_classes), rate / (num_classes - 1))
    np.fill_diagonal(t, 1.0 - rate)
    return t


def ranked_noise(
    labels: Sequence[int] | np.ndarray,
    rate: float,
    scorer: Scorer,
    num_classes: int | None = None,
    train_size: float = PAPER_TRAIN_FRACTION,
    seed: Seed = 0,
    ids: Sequence | None = None,
    relative_to: Literal["class", "scored"] = "class",
) -> NoisyLabels:
    """Xue et al.'s clinically plausible noise: flip, in each class, the highest-loss images of a held-out
    classifier.

    A random `train_size` of the images (a fraction if < 1, else a count; the paper's 1,000 of 3,582 by
    default) trains `scorer`, which returns probabilities for the rest. Each scored image's loss is
    -log p(clean label). In class c the round(rate n_c) scored images with the highest loss flip (n_c = the
    whole class with `relative_to="class"`, the paper's reading; its scored part with `"scored"`), to the
    other class, or with C > 2 to the scorer's most probable wrong class. Ties in the loss: lower index
    first. ValueError when a class has fewer scored images than it must flip.
    """
    y, c = _check_labels(labels, num_classes)
    rate = _rate(rate)
    n = len(y)
    n_train = _round_half_up(train_size * n) if train_size < 1 else int(train_size)
    if not 0 < n_train < n:
        raise ValueError(f"train_size must leave images on both sides, got {train_size} of {n} images")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    train_idx, score_idx = np.sort(order[:n_train]), np.sort(order[n_train:])
    probs = np.asarray(scorer(train_idx, score_idx), dtype=float)
    if probs.shape != (len(score_idx), c):
        raise ValueError(f"the scorer returned shape {probs.shape}, expected {(len(score_idx), c)}")
    loss = np.full(n, np.nan)
    loss[score_idx] = -np.log(np.clip(probs[np.arange(len(score_idx)), y[score_idx]], 1e-12, None))
    scored = np.zeros(n, dtype=bool)
    scored[score_idx] = True
    wrong = probs.copy()
    wrong[np.arange(len(score_idx)), y[score_idx]] = -np.inf
    target = np.full(n, -1)
    target[score_idx] = wrong.argmax(axis=1)
    noisy = y.copy()
    for k in range(c):
        candidates = np.flatnonzero(scored & (y == k))
        base = np.count_nonzero(y == k) if relative_to == "class" else len(candidates)
        n_flip = _round_half_up(rate * base)
        if n_flip > len(candidates):
            raise ValueError(
                f"class {k}: {n_flip} labels must flip but only {len(candidates)} images of it were scored; "
                "lower the rate or train_size"
            )
        # Highest loss first; the stable sort of the negated loss breaks ties by position.
        chosen = candidates[np.argsort(-loss[candidates], kind="stable")[:n_flip]]
        noisy[chosen] = target[chosen]
    return _result(y, noisy, c, "ranked", ids, loss=loss, scored=scored)


def logistic_scorer(features: np.ndarray, labels: Sequence[int] | np.ndarray, **options) -> Scorer:
    """A cheap `Scorer`: scikit-learn logistic regression on fixed features (tests, or frozen embeddings).

    Classes missing from the training part get probability 0. `options` go to LogisticRegression.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(features, dtype=float)
    y = np.asarray(labels).astype(np.int64)
    num_classes = int(y.max()) + 1

    def score(train_idx: np.ndarray, score_idx: np.ndarray) -> np.ndarray:
        model = LogisticRegression(max_iter=1000, **options).fit(x[train_idx], y[train_idx])
        out = np.zeros((len(score_idx), num_classes))
        out[:, model.classes_] = model.predict_proba(x[score_idx])
        return out

    return score


def relabel(records: Sequence, noisy: NoisyLabels) -> list:
    """Copies of `records` (in the order the labels were given) carrying the noisy labels."""
    if len(records) != len(noisy.labels):
        raise ValueError(f"{len(records)} records for {len(noisy.labels)} labels")
    return [replace(r, label=int(label)) for r, label in zip(records, noisy.labels, strict=True)]


def estimate_transition(probs: np.ndarray, quantile: float = 0.97) -> np.ndarray:
    """Patrini et al.'s estimate of T from a model trained on the noisy labels: row i is the predicted
    distribution of class i's anchor, the image whose p(i | x) is the highest below the `quantile` of
    p(i | .) over the images (their 97th percentile, numpy's "higher" method, filters outliers;
    `quantile=1` takes the plain maximum). Rows are normalised to sum to 1.

    Unlike their code, which zeroes the filtered probabilities in place and so reads later rows off an
    altered matrix, every row here is read off the unaltered probabilities.
    """
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2 or p.shape[1] < 2 or len(p) == 0:
        raise ValueError(f"probs must be (N, C) with N >= 1 and C >= 2, got shape {p.shape}")
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    c = p.shape[1]
    t = np.empty((c, c))
    for i in range(c):
        column = p[:, i]
        if quantile < 1:
            threshold = np.percentile(column, 100 * quantile, method="higher")
            below = np.where(column < threshold, column, -np.inf)
            anchor = int(np.argmax(below)) if np.isfinite(below).any() else int(np.argmax(column))
        else:
            anchor = int(np.argmax(column))
        t[i] = p[anchor]
    return t / t.sum(axis=1, keepdims=True)
