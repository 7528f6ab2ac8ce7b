"""Aggregative supervision (Shi et al. 2019, section 2.2): 2x2 mosaics of same-class images.

Shi et al. 2019: "An Active Learning Approach for Reducing Annotation Cost in Skin Lesion Analysis" (MLMI).

Stitching four images of one class and shrinking the grid back to the input size gives new training
images whose label is unambiguous (all four parts share it) while their content mixes intra-class
variation, which is the point: skin lesions vary more within a class than between classes, so mixing
across classes (mix-up) blurs exactly the cues the model must learn, and mixing within a class does not.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

MosaicMode = Literal["different", "replicate"]
ClassBalance = Literal["proportional", "uniform"]

# Grids are resized in chunks so many mosaics of large images never sit in memory as float32 at once.
_CHUNK = 64


def mosaic_count(n_images: int, ratio: float) -> int:
    """Number of mosaics for a "ratio of mosaics to ordinary images", rounded half up."""
    if n_images < 0 or ratio < 0 or not math.isfinite(ratio):
        raise ValueError(f"need n_images >= 0 and a finite ratio >= 0, got {n_images}, {ratio}")
    return math.floor(n_images * ratio + 0.5 + 1e-9)


def _pick_sources(
    labels: np.ndarray,
    n_mosaics: int,
    rng: np.random.Generator,
    mode: MosaicMode,
    class_balance: ClassBalance,
) -> np.ndarray:
    """(n_mosaics, 4) indices into `labels`, each row from a single class."""
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    weights = counts / counts.sum() if class_balance == "proportional" else None
    chosen = rng.choice(len(classes), size=n_mosaics, p=weights)
    members = [np.flatnonzero(inverse == c) for c in range(len(classes))]
    sources = np.empty((n_mosaics, 4), dtype=np.int64)
    for row, c in enumerate(chosen):
        pool = members[c]
        if mode == "replicate":
            sources[row] = rng.choice(pool)
        else:
            sources[row] = rng.choice(pool, size=4, replace=len(pool) < 4)
    return sources


def make_mosaics(
    images: np.ndarray,
    labels: np.ndarray,
    n_mosaics: int,
    rng: np.random.Generator,
    mode: MosaicMode = "different",
    class_balance: ClassBalance = "proportional",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Build `n_mosaics` 2x2 same-class mosaics at the input size: (mosaics uint8, labels, sources).

    Each mosaic first draws a class, in proportion to its frequency among `labels` ("proportional", so
    the augmented set keeps the labelled class balance) or uniformly over the classes present ("uniform",
    oversampling rare classes). "different" stitches four distinct images of that class, as Shi et al.
    do; a class with fewer than four images falls back to sampling with replacement, so some of its
    mosaics repeat an image rather than the class being skipped. "replicate" stitches one image four
    times (Shi et al.'s ablation). sources[i] holds the indices of the top-left, top-right, bottom-left and
    bottom-right images. The 2H x 2W grid is shrunk by exactly 2 with area interpolation, i.e. an
    antialiasing 2x2 box filter; for even H and W no pixel mixes two quadrants, so each quadrant equals
    its source downsized by area averaging. Works for any number of classes and any label dtype.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    if labels.shape != (len(images),):
        raise ValueError(f"need one label per image: labels {labels.shape} for {len(images)} images")
    if isinstance(n_mosaics, bool) or not isinstance(n_mosaics, (int, np.integer)) or n_mosaics < 0:
        raise ValueError(f"n_mosaics must be an integer >= 0, got {n_mosaics!r}")
    if mode not in ("different", "replicate"):
        raise ValueError(f"mode must be 'different' or 'replicate', got {mode!r}")
    if class_balance not in ("proportional", "uniform"):
        raise ValueError(f"class_balance must be 'proportional' or 'uniform', got {class_balance!r}")
    height, width = images.shape[1:3]
    if n_mosaics == 0:
        return (np.zeros((0, height, width, 3), np.uint8), labels[:0], np.zeros((0, 4), np.int64))
    if len(images) == 0:
        raise ValueError("cannot build mosaics from an empty image set")

    sources = _pick_sources(labels, int(n_mosaics), rng, mode, class_balance)
    mosaics = np.empty((len(sources), height, width, 3), dtype=np.uint8)
    for start in range(0, len(sources), _CHUNK):
        block = sources[start : start + _CHUNK]
        parts = images[block]  # (b, 4, H, W, 3)
        top = np.concatenate([parts[:, 0], parts[:, 1]], axis=2)
        bottom = np.concatenate([parts[:, 2], parts[:, 3]], axis=2)
        grid = torch.from_numpy(np.concatenate([top, bottom], axis=1)).permute(0, 3, 1, 2).float()
        small = torch.nn.functional.interpolate(grid, size=(height, width), mode="area")
        mosaics[start : start + len(block)] = small.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return mosaics, labels[sources[:, 0]], sources
