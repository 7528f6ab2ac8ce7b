"""Out-of-sample evidence that a given label is wrong, each as a suspicion in [0, 1] (higher = more suspect).

Every signal is computed from fixed features (V views x N images x D) and the given labels only:

- `cv_probabilities`: k-fold probabilities of a logistic regression; an image is scored by a model that
  never saw its label (confident learning's input, Northcutt et al. 2021). All views of the training
  folds train it (augmentation for free); each held-out view is scored separately.
- `self_confidence`: 1 - p(given label), averaged over the views.
- `view_disagreement`: the share of views whose most probable class is not the given label (how stable
  the verdict is under augmentation).
- `loop_in_class`: LoOP (the pLOF of Xue et al. 2019, "Robust Learning at Noisy Labeled Medical Images:
  Applied to Skin Lesion Classification") of the image among the images given the same label: a label
  that put an image among strangers makes it an outlier there.
- `neighbour_disagreement`: the share of the k nearest other images (cosine, in all classes) whose given
  label differs: a k-nearest-neighbour classifier, out of sample by construction (k = 30).
"""

from __future__ import annotations

import numpy as np

from lesionlab.training.local_outliers import local_outlier_probabilities


def _views(features: np.ndarray) -> np.ndarray:
    x = np.asarray(features, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"features must be (N, D) or (V, N, D), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("features hold NaN or infinite values")
    return x


def check_labels(labels: np.ndarray, n: int, num_classes: int) -> np.ndarray:
    """Integer labels in [0, num_classes), one per image, with at least two images of two classes."""
    y = np.asarray(labels)
    if y.shape != (n,) or (n and not np.issubdtype(y.dtype, np.integer)):
        raise ValueError(f"labels must be {n} integer class indices, got shape {y.shape} ({y.dtype})")
    if n and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes - 1}]")
    counts = np.bincount(y, minlength=num_classes)
    if (counts >= 2).sum() < 2:
        raise ValueError("an audit needs at least two images in each of at least two classes")
    return y.astype(np.int64)


def cv_probabilities(
    features: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    folds: int = 5,
    seed: int = 0,
    c: float = 0.01,
) -> np.ndarray:
    """(V, N, C) out-of-sample class probabilities from `folds`-fold cross-validation.

    Folds are stratified by the given label (fewer folds when a class is smaller than `folds`); the model
    is a standardised L2 logistic regression with inverse strength `c` (0.01: strong, so it does not fit
    the noise; chosen among 0.003-1 on the tuning sets of `benchmarks/label_audit.py`). A class absent
    from a training fold gets probability 0 there.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = _views(features)
    v, n, _ = x.shape
    y = check_labels(labels, n, num_classes)
    present = np.bincount(y, minlength=num_classes)
    k = int(max(2, min(folds, present[present > 0].min())))
    out = np.zeros((v, n, num_classes))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for train, held in splitter.split(np.zeros(n), y):
        if len(np.unique(y[train])) < 2:  # a fold with one class predicts it everywhere
            out[:, held, y[train][0]] = 1.0
            continue
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
        model.fit(x[:, train].reshape(-1, x.shape[2]), np.tile(y[train], v))
        classes = model.classes_
        for view in range(v):
            out[view][np.ix_(held, classes)] = model.predict_proba(x[view, held])
    return out


def self_confidence(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N,) 1 - p(given label), averaged over the views of `probs` (V, N, C)."""
    p = np.asarray(probs).mean(axis=0)
    return 1.0 - p[np.arange(len(labels)), labels]


def view_disagreement(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N,) share of views whose most probable class is not the given label."""
    return (np.asarray(probs).argmax(axis=2) != np.asarray(labels)[None]).mean(axis=0)


def loop_in_class(
    features: np.ndarray, labels: np.ndarray, n_neighbors: int = 10, extent: float = 3.0
) -> np.ndarray:
    """(N,) LoOP of each image (mean embedding over its views) among the images with the same label."""
    x = _views(features).mean(axis=0)
    return local_outlier_probabilities(x, np.asarray(labels), n_neighbors=n_neighbors, extent=extent)


def neighbour_disagreement(features: np.ndarray, labels: np.ndarray, n_neighbors: int = 30) -> np.ndarray:
    """(N,) share of the `n_neighbors` nearest other images (cosine, mean embedding over the views) whose
    given label differs: a k-nearest-neighbour classifier's out-of-sample 1 - p(given label)."""
    from sklearn.neighbors import NearestNeighbors

    x = _views(features).mean(axis=0)
    x = x - x.mean(axis=0)
    x /= np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)
    y = np.asarray(labels)
    k = min(n_neighbors, len(x) - 1)
    idx = NearestNeighbors(n_neighbors=k).fit(x).kneighbors(return_distance=False)  # self excluded
    return (y[idx] != y[:, None]).mean(axis=1)
