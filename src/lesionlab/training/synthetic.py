"""Synthetic training samples drawn afresh each epoch: Shi et al. 2019's mosaics (AS) or its mix-up baseline.

`Trainer.fit` calls `epoch_samples` once per epoch with the labelled images it decoded once, and trains
on the result together with the ordinary samples. Every sample carries a soft target, so one loss
(`lesionlab.training.losses.weighted_ce`) serves ordinary images and mosaics (one-hot) and mix-ups
(two-class mixtures).
"""

from __future__ import annotations

import numpy as np

from lesionlab.data.mixup import mixup_pairs
from lesionlab.data.mosaic import make_mosaics, mosaic_count

SYNTHETIC_KINDS = ("none", "mosaic", "mixup")
MOSAIC_MODES = ("different", "replicate")


def epoch_samples(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    kind: str,
    ratio: float,
    rng: np.random.Generator,
    mosaic_mode: str = "different",
    mixup_alpha: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's synthetic samples: images (n, H, W, 3) and soft targets (n, num_classes) float32.

    n = mosaic_count(len(images), ratio). Mosaics are uint8 with the one-hot label of their four
    same-class sources; mix-ups are float32 in [0, 255], pairs from different classes as Shi et al. 2019
    describes, with lam * onehot(a) + (1 - lam) * onehot(b) targets. A labelled set with a single class
    has no cross-class pair, so mix-up then yields no samples rather than failing an active-learning
    round. `kind == "none"` draws nothing from `rng`, so runs without synthetic samples are unchanged.
    """
    labels = np.asarray(labels).astype(np.int64)
    n = 0 if kind == "none" else mosaic_count(len(images), ratio)
    if kind == "mixup" and len(np.unique(labels)) < 2:
        n = 0
    if n == 0:
        return np.zeros((0, *images.shape[1:]), np.uint8), np.zeros((0, num_classes), np.float32)
    if kind == "mosaic":
        mosaics, mosaic_labels, _ = make_mosaics(images, labels, n, rng, mode=mosaic_mode)
        return mosaics, np.eye(num_classes, dtype=np.float32)[mosaic_labels]
    if kind == "mixup":
        return mixup_pairs(images, labels, num_classes, n, rng, alpha=mixup_alpha, cross_class=True)
    raise ValueError(f"synthetic must be one of {', '.join(SYNTHETIC_KINDS)}, got {kind!r}")
