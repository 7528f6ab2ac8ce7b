"""Models Genesis' four image deformations (Zhou et al., MICCAI 2019), in 2D, as Zhao et al. 2022 use them
("Self-supervised Assisted Active Learning for Skin Lesion Segmentation").

Ported from the reference implementation (MrGiovanni/ModelsGenesis, `utils.py`), with its default rates:
local pixel shuffling 0.5, non-linear intensity 0.9, painting 0.9 of which out-painting 0.8 and in-painting
0.2. Every function takes a 2D float image in [0, 1] (one channel: Zhao et al.'s grayscale, min-max input)
and a NumPy generator, returns a new array of the same shape, and never changes its input. The network
learns to undo them: the target is always the original image (Eq. 1, an L2 loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import comb

BEZIER_STEPS = 100_000  # points on the curve, as the reference implementation


def _check(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"Models Genesis transforms take a 2D image, got shape {x.shape}")
    return x


def bezier_curve(points: np.ndarray, n_steps: int = BEZIER_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """x and y of the Bezier curve through control points (k, 2), from the last point to the first."""
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    t = np.linspace(0.0, 1.0, n_steps)
    basis = np.array([comb(n - 1, i) * t ** (n - 1 - i) * (1 - t) ** i for i in range(n)])
    return points[:, 0] @ basis, points[:, 1] @ basis


def nonlinear_intensity(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A monotonic intensity remapping by a cubic Bezier curve from (0, 0) to (1, 1) with two random
    control points; half the time the curve is inverted (decreasing). Values stay in [0, 1]; the image's
    structure (which pixels are brighter than which) is kept or exactly reversed.

    The reference's inverted branch sorts the curve's x but not its y, which is monotone only when the
    curve's y is; sorting y in reverse makes the inversion exact for every draw of the control points."""
    x = _check(x)
    points = np.array([[0.0, 0.0], rng.random(2), rng.random(2), [1.0, 1.0]])
    xs, ys = bezier_curve(points)
    xs, ys = np.sort(xs), np.sort(ys)
    if rng.random() < 0.5:
        ys = ys[::-1]  # decreasing mapping: bright becomes dark
    return np.interp(x, xs, ys).astype(x.dtype)


def local_pixel_shuffle(x: np.ndarray, rng: np.random.Generator, n_blocks: int | None = None) -> np.ndarray:
    """Shuffle the pixels inside many small random windows (each at most a tenth of the image's side):
    local texture is destroyed, the global shape and every pixel value are kept (only positions move,
    within each window). `n_blocks` defaults to one window per 10 x 10 pixels of the image."""
    x = _check(x)
    out = x.copy()
    h, w = x.shape
    n_blocks = n_blocks if n_blocks is not None else max(1, h * w // 100)
    for _ in range(n_blocks):
        bh, bw = rng.integers(1, max(h // 10, 1) + 1), rng.integers(1, max(w // 10, 1) + 1)
        r, c = rng.integers(0, h - bh + 1), rng.integers(0, w - bw + 1)
        window = x[r : r + bh, c : c + bw].reshape(-1).copy()  # read the original, as the reference does
        rng.shuffle(window)
        out[r : r + bh, c : c + bw] = window.reshape(bh, bw)
    return out


def inner_cutout(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """In-painting: up to five boxes (each side 1/6 to 1/3 of the image) replaced by uniform noise; the
    rest of the image is untouched."""
    x = _check(x)
    out = x.copy()
    h, w = x.shape
    count = 5
    while count > 0 and rng.random() < 0.95:
        bh = rng.integers(h // 6, h // 3 + 1)
        bw = rng.integers(w // 6, w // 3 + 1)
        r, c = rng.integers(3, max(h - bh - 3, 4)), rng.integers(3, max(w - bw - 3, 4))
        out[r : r + bh, c : c + bw] = rng.random((bh, bw))[: h - r, : w - c]
        count -= 1
    return out


def outer_cutout(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Out-painting: the image is replaced by uniform noise except inside one to five boxes (the first
    with sides 3/7 to 4/7 of the image, later ones with probability 0.95 each), which keep the original."""
    x = _check(x)
    h, w = x.shape
    out = rng.random(x.shape).astype(x.dtype)
    count = 5
    first = True
    while count > 0 and (first or rng.random() < 0.95):
        bh = rng.integers(max(3 * h // 7, 1), max(4 * h // 7, 1) + 1)
        bw = rng.integers(max(3 * w // 7, 1), max(4 * w // 7, 1) + 1)
        r, c = rng.integers(3, max(h - bh - 3, 4)), rng.integers(3, max(w - bw - 3, 4))
        out[r : r + bh, c : c + bw] = x[r : r + bh, c : c + bw]
        count -= 1
        first = False
    return out


@dataclass(frozen=True)
class GenesisRates:
    """Probabilities of each deformation (the reference implementation's defaults)."""

    local: float = 0.5
    nonlinear: float = 0.9
    paint: float = 0.9
    inpaint: float = 0.2  # of the painted images; the rest are out-painted


def genesis_pair(
    x: np.ndarray, rng: np.random.Generator, rates: GenesisRates = GenesisRates()
) -> tuple[np.ndarray, np.ndarray]:
    """(deformed input, target): local shuffling, then the intensity curve, then in- or out-painting, each
    with its rate; the target is the untouched image."""
    x = _check(x)
    y = x
    if rng.random() < rates.local:
        x = local_pixel_shuffle(x, rng)
    if rng.random() < rates.nonlinear:
        x = nonlinear_intensity(x, rng)
    if rng.random() < rates.paint:
        x = inner_cutout(x, rng) if rng.random() < rates.inpaint else outer_cutout(x, rng)
    return x.copy(), y.copy()
