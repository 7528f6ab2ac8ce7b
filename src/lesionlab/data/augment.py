"""Augmentation recipes, and fixed augmented views for caching frozen-trunk activations.

Shi et al. 2019's recipe ("An Active Learning Approach for Reducing Annotation Cost in Skin Lesion
Analysis"): rotation up to 90 degrees, shear up to 20 degrees, scale 0.8-1.2, random horizontal
and vertical flips. Lesions have no canonical orientation, so large rotations and flips are label-safe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

ROTATION_DEG = 90.0
SHEAR_DEG = 20.0
SCALE_RANGE = (0.8, 1.2)
_INTERPOLATION = v2.InterpolationMode.BILINEAR


def paper000_augmentation() -> v2.Compose:
    """Shi et al. 2019's random affine + flips, for uint8 tensors shaped CxHxW or BxCxHxW.

    A batched tensor gets one set of random parameters for the whole batch (torchvision's behaviour);
    apply it per image (e.g. in a Dataset) for per-image randomness. Corners exposed by the rotation are
    filled with black, as dermoscopy vignetting already is.
    """
    return v2.Compose(
        [
            v2.RandomAffine(
                degrees=ROTATION_DEG, scale=SCALE_RANGE, shear=SHEAR_DEG, interpolation=_INTERPOLATION
            ),
            v2.RandomHorizontalFlip(),
            v2.RandomVerticalFlip(),
        ]
    )


def light_augmentation() -> v2.Compose:
    """Flips and quarter turns only: the dihedral group, which resamples no pixels (square images)."""
    return v2.Compose(
        [
            v2.RandomChoice([v2.RandomRotation((a, a)) for a in (0.0, 90.0, 180.0, 270.0)]),
            v2.RandomHorizontalFlip(),
            v2.RandomVerticalFlip(),
        ]
    )


def key_entropy(key: int | str) -> int:
    """A non-negative integer per image key, so string ids (e.g. record ids) can seed views too."""
    if isinstance(key, str):
        return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")
    key = int(key)
    if key < 0:
        raise ValueError(f"image keys must be non-negative integers or strings, got {key}")
    return key


def augmented_views(
    images: np.ndarray, n_views: int, seed: int, keys: Sequence[int | str] | None = None
) -> np.ndarray:
    """Fixed views by Shi et al. 2019's recipe, (n_views, N, H, W, 3) uint8; view 0 is the image itself.

    The parameters of view v of an image come only from (seed, v, key), where `key` defaults to the
    image's index in `images`. Pass the images' global indices or record ids as `keys` when working in
    batches, and the views are the same whatever the batch size or order.
    """
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be an (N, H, W, 3) uint8 array, got {images.shape} {images.dtype}")
    if n_views < 1:
        raise ValueError(f"n_views must be at least 1, got {n_views}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    n = len(images)
    if keys is None:
        entropy = list(range(n))
    else:
        if len(keys) != n:
            raise ValueError(f"got {len(keys)} keys for {n} images")
        entropy = [key_entropy(k) for k in keys]

    out = np.empty((n_views, *images.shape), dtype=np.uint8)
    out[0] = images
    chw = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    for v in range(1, n_views):
        for i in range(n):
            rng = np.random.default_rng([seed, v, entropy[i]])
            angle, shear, scale = rng.uniform(
                [-ROTATION_DEG, -SHEAR_DEG, SCALE_RANGE[0]], [ROTATION_DEG, SHEAR_DEG, SCALE_RANGE[1]]
            )
            hflip, vflip = rng.random(2) < 0.5
            img = F.affine(
                chw[i],
                angle=float(angle),
                translate=[0.0, 0.0],
                scale=float(scale),
                shear=[float(shear), 0.0],
                interpolation=_INTERPOLATION,
                fill=[0.0],
            ).permute(1, 2, 0)
            # Flips are exact, so numpy slicing replaces two more torch kernels per image.
            out[v, i] = img.numpy()[:: -1 if vflip else 1, :: -1 if hflip else 1]
    return out
