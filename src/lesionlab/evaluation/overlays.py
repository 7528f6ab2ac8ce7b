"""Mask overlays for the report's gallery: the selected image with the true lesion outline (green) and the
current model's predicted outline (red), so a reader sees what the model got wrong on the images it chose."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import binary_erosion

from lesionlab.io import atomic_file

TRUE_COLOUR = (0, 200, 0)
PRED_COLOUR = (230, 30, 30)


def outline(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: the mask's pixels that touch the outside (its one-pixel boundary)."""
    mask = np.asarray(mask, dtype=bool)
    return mask & ~binary_erosion(mask, border_value=0)


def mask_overlay(image: np.ndarray, truth: np.ndarray | None, pred: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: `image` with the true outline (green, when known) and the predicted outline (red)
    drawn over it; where both outlines meet, the prediction's colour wins."""
    out = np.array(image, dtype=np.uint8, copy=True)
    if out.ndim != 3 or out.shape[2] != 3 or out.shape[:2] != np.shape(pred):
        raise ValueError(f"image {out.shape} and prediction {np.shape(pred)} must share H x W (image RGB)")
    if truth is not None:
        out[outline(truth)] = TRUE_COLOUR
    out[outline(pred)] = PRED_COLOUR
    return out


def write_overlay(path: Path, image: np.ndarray, truth: np.ndarray | None, pred: np.ndarray) -> Path:
    """Write the overlay as a PNG (atomically) and return its path."""
    with atomic_file(Path(path)) as fh:
        Image.fromarray(mask_overlay(image, truth, pred)).save(fh, format="PNG")
    return Path(path)
