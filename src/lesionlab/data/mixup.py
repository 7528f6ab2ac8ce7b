"""Mix-up (Zhang et al., ICLR 2018): Shi et al. 2019's augmentation baseline, offline and per training batch.

Shi et al. 2019 ("An Active Learning Approach for Reducing Annotation Cost in Skin Lesion Analysis")
describe mix-up as "pixel-wise weighted addition of two images from different classes" and
compares its intra-class mosaics against it; `mixup_pairs` follows that description (cross-class pairs)
to build an offline augmented set, `mixup_batch` is Zhang et al.'s in-loop form (partner = a random
permutation of the batch, so pairs may share a class).

alpha: Shi et al. do not give it. Zhang et al. report alpha in [0.1, 0.4] helps on ImageNet (0.2 is
the common choice for ImageNet-scale ResNets) while larger values underfit there, so the default is 0.2.
lambda ~ Beta(alpha, alpha) then sits mostly near 0 or 1: a mixed image is mostly one of its parts.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import betaincinv

DEFAULT_ALPHA = 0.2


def _check_alpha(alpha: float) -> float:
    if not alpha > 0 or not np.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number > 0, got {alpha}")
    return float(alpha)


def sample_mixup_pairs(
    labels: np.ndarray,
    n_pairs: int,
    rng: np.random.Generator,
    alpha: float = DEFAULT_ALPHA,
    cross_class: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw (first, second, lam) for `n_pairs` mixes; `mixup_pairs` uses exactly these draws.

    The first image is uniform over the set; the second is uniform over the images of other classes
    (`cross_class`) or over all other images. Exposed so callers and tests can see which images mixed.
    """
    labels = np.asarray(labels)
    alpha = _check_alpha(alpha)
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 0:
        raise ValueError(f"n_pairs must be an integer >= 0, got {n_pairs!r}")
    n = len(labels)
    if n_pairs and n < 2:
        raise ValueError("mix-up needs at least two images")
    first = rng.integers(0, n, size=n_pairs) if n_pairs else np.zeros(0, dtype=np.int64)
    if cross_class:
        # Sort by class; the images outside class c are the sorted array minus c's contiguous block.
        order = np.argsort(labels, kind="stable")
        classes, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
        if n_pairs and len(classes) < 2:
            raise ValueError("cross-class mix-up needs images of at least two classes")
        cls = np.searchsorted(classes, labels[first])
        offset = (rng.random(n_pairs) * (n - counts[cls])).astype(np.int64)
        offset = np.where(offset >= starts[cls], offset + counts[cls], offset)
        second = order[offset]
    else:
        # Uniform over the n - 1 other images: shift past `first`.
        second = rng.integers(0, n - 1, size=n_pairs) if n_pairs else np.zeros(0, dtype=np.int64)
        second = np.where(second >= first, second + 1, second)
    lam = rng.beta(alpha, alpha, size=n_pairs)
    return first.astype(np.int64), second.astype(np.int64), lam


def mixup_pairs(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    n_pairs: int,
    rng: np.random.Generator,
    alpha: float = DEFAULT_ALPHA,
    cross_class: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """`n_pairs` mixed images, float32 (n, H, W, 3) in [0, 255], and soft labels (n, num_classes).

    mixed = lam * x_a + (1 - lam) * x_b and soft = lam * onehot(y_a) + (1 - lam) * onehot(y_b), with
    lam ~ Beta(alpha, alpha). Kept float so the convex combination is exact; quantise only if needed.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3), got shape {images.shape}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be one integer per image, got {labels.dtype} {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
    first, second, lam = sample_mixup_pairs(labels, n_pairs, rng, alpha=alpha, cross_class=cross_class)
    weight = lam.astype(np.float32)[:, None, None, None]
    mixed = weight * images[first].astype(np.float32) + (1 - weight) * images[second].astype(np.float32)
    eye = np.eye(num_classes, dtype=np.float32)
    soft = lam.astype(np.float32)[:, None] * eye[labels[first]]
    soft += (1 - lam.astype(np.float32))[:, None] * eye[labels[second]]
    return mixed.astype(np.float32), soft


def mixup_batch(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    alpha: float = DEFAULT_ALPHA,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zhang et al.'s in-loop mix-up: one lam ~ Beta(alpha, alpha) per batch, partner = a permutation.

    Returns float inputs and soft targets (B, num_classes) for a soft-label cross-entropy. lam is drawn
    by inverting the Beta CDF of a uniform from `generator`, because torch's Beta sampler takes no
    generator and reproducibility matters more here than speed (one draw per batch).
    """
    alpha = _check_alpha(alpha)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"y must be (B,) class indices for x of batch {len(x)}, got shape {tuple(y.shape)}")
    device = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(1, generator=generator, dtype=torch.float64, device=device).item()
    lam = float(betaincinv(alpha, alpha, u))
    perm = torch.randperm(len(x), generator=generator, device=device).to(x.device)
    xf = x if x.is_floating_point() else x.float()
    x_mixed = lam * xf + (1 - lam) * xf[perm]
    onehot = torch.nn.functional.one_hot(y.long(), num_classes).to(xf.dtype)
    return x_mixed, lam * onehot + (1 - lam) * onehot[perm]
