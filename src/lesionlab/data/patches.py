"""ACFT's candidates (Zhou et al. 2021, Sec. 3 and 4.1): m augmented patches per image, fixed and seeded.

Zhou et al. 2021: "Active, Continual Fine Tuning of Convolutional Neural Networks for Reducing
Annotation Efforts" (Medical Image Analysis).

Every image is a candidate C_i; its patches x_i^1..x_i^m inherit its label, and the current model's
predictions over them (`patch_probs`) say how worth labelling the candidate is. The recipe follows the
paper's polyp detection (Sec. 4.1.2): three scales f in {1.0, 1.2, 1.5}, a translation by up to 10 % of
the crop in each direction, and the eight rotations/mirrorings of the dihedral group, 3 x 8 = 24 patches.

A dermoscopy image has no candidate box, so the whole image plays the largest box (f = 1.5): a patch at
scale f is a square-ish crop of f / 1.5 of the image (2/3, 4/5 and all of it), moved by up to 10 % of the
crop (clipped to the image), resized back to the working size, then turned and mirrored. Patch j uses the
scale j % 3 (largest first) and the dihedral element (j // 3) % 8, so any m is allowed and a smaller m
still spans every scale (m = 12: each scale under the four quarter turns); its translation comes from
(seed, j, image key) only, so a patch never depends on batching, order or m, and patch 0 is the image
itself (largest scale, identity turn), like view 0 of `augmented_views`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from lesionlab.data.augment import key_entropy

PAPER_SCALES = (1.0, 1.2, 1.5)  # Sec. 4.1.2: the candidate box enlarged by f
PAPER_SHIFT = 0.1  # Sec. 4.1.2: translated by 10 % of the (resized) box
DIHEDRAL = 8  # "rotated each resulting patch 8 times by mirroring and flipping"
DEFAULT_PATCHES = len(PAPER_SCALES) * DIHEDRAL  # 24, Zhou et al.'s polyp candidates


def patch_plan(
    n_patches: int,
    seed: int,
    key: int | str,
    scales: Sequence[float] = PAPER_SCALES,
    shift: float = PAPER_SHIFT,
) -> list[tuple[float, float, float, int]]:
    """[(crop fraction, dy, dx, dihedral element)] of each patch of one image; dy, dx are fractions of
    the image, already clipped so the crop stays inside it."""
    if n_patches < 1:
        raise ValueError(f"a candidate needs at least one patch, got n_patches={n_patches}")
    if not scales or min(scales) <= 0:
        raise ValueError(f"scales must be positive numbers, got {tuple(scales)}")
    if not 0 <= shift < 1:
        raise ValueError(f"shift must be in [0, 1), got {shift}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    order = sorted(scales, reverse=True)  # patch 0 at the largest scale: the whole image
    largest = order[0]
    entropy = key_entropy(key)
    plan = []
    for j in range(n_patches):
        frac = order[j % len(order)] / largest
        room = (1.0 - frac) / 2  # how far the crop's centre may move and stay inside the image
        if j == 0:
            dy = dx = 0.0
        else:
            dy, dx = np.random.default_rng([seed, j, entropy]).uniform(-shift, shift, 2) * frac
        element = (j // len(order)) % DIHEDRAL
        plan.append((frac, float(np.clip(dy, -room, room)), float(np.clip(dx, -room, room)), element))
    return plan


def _dihedral(img: np.ndarray, element: int) -> np.ndarray:
    """Element 0-7 of the dihedral group on an (H, W, 3) array: k quarter turns, then a mirror if >= 4."""
    out = np.rot90(img, k=element % 4, axes=(0, 1))
    return out[:, ::-1] if element >= 4 else out


def candidate_patches(
    images: np.ndarray,
    n_patches: int = DEFAULT_PATCHES,
    seed: int = 0,
    keys: Sequence[int | str] | None = None,
    scales: Sequence[float] = PAPER_SCALES,
    shift: float = PAPER_SHIFT,
) -> np.ndarray:
    """The patches of every image, shaped (n_patches, N, H, W, 3) uint8 (square images keep their size
    under the quarter turns; a non-square one is refused). `keys` (record ids or content keys) seed each
    image's translations; by default its index in `images`."""
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be an (N, H, W, 3) uint8 array, got {images.shape} {images.dtype}")
    n, h, w = images.shape[:3]
    if h != w:
        raise ValueError(f"candidate patches need square images (quarter turns), got {h}x{w}")
    keys = list(range(n)) if keys is None else list(keys)
    if len(keys) != n:
        raise ValueError(f"got {len(keys)} keys for {n} images")
    out = np.empty((n_patches, *images.shape), dtype=np.uint8)
    chw = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    for i in range(n):
        for j, (frac, dy, dx, element) in enumerate(patch_plan(n_patches, seed, keys[i], scales, shift)):
            if frac >= 1.0:
                crop = images[i]
            else:
                ch, cw = max(1, round(frac * h)), max(1, round(frac * w))
                top = int(np.clip(round((h - ch) / 2 + dy * h), 0, h - ch))
                left = int(np.clip(round((w - cw) / 2 + dx * w), 0, w - cw))
                crop = (
                    F.resized_crop(
                        chw[i],
                        top,
                        left,
                        ch,
                        cw,
                        [h, w],
                        interpolation=InterpolationMode.BILINEAR,
                        antialias=True,
                    )
                    .permute(1, 2, 0)
                    .numpy()
                )
            out[j, i] = _dihedral(crop, element)
    return out
