"""Decode images and masks to fixed-size arrays, with the colour preprocessing the papers use.

Preprocessing runs after the resize: the statistics it uses (channel means, min and max) barely change
with resolution, and working on the small image is what keeps decoding cheap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from lesionlab.errors import DataError

PREPROCESSING = ("none", "gray_world", "grayscale_minmax")

# ITU-R 601-2 luma, the weights PIL's "L" conversion uses, kept in float to avoid quantising twice.
_LUMA = np.array([0.299, 0.587, 0.114])


def gray_world(img: np.ndarray) -> np.ndarray:
    """Gray-world colour constancy (Shi et al. 2019): evens out illumination colour across devices.

    Each channel is scaled so its mean equals the mean of the three channel means. A channel that is
    entirely zero cannot be scaled and stays zero.
    """
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"gray_world expects an HxWx3 uint8 array, got shape {img.shape} {img.dtype}")
    x = img.astype(np.float64)
    means = x.reshape(-1, 3).mean(axis=0)
    scale = np.divide(means.mean(), means, out=np.ones(3), where=means > 0)
    return np.clip(np.rint(x * scale), 0, 255).astype(np.uint8)


def grayscale_minmax(img: np.ndarray) -> np.ndarray:
    """Grayscale stretched to the full [0, 255] range (Zhao et al. 2022): removes colour and exposure cues.

    Takes HxWx3 RGB, HxWx1 or HxW; returns HxW uint8. A constant image has no range and becomes zeros.
    """
    if img.ndim == 3 and img.shape[2] == 3:
        gray = img.astype(np.float64) @ _LUMA
    elif img.ndim == 3 and img.shape[2] == 1:
        gray = img[..., 0].astype(np.float64)
    elif img.ndim == 2:
        gray = img.astype(np.float64)
    else:
        raise ValueError(f"grayscale_minmax expects HxW, HxWx1 or HxWx3, got shape {img.shape}")
    lo, hi = gray.min(initial=np.inf), gray.max(initial=-np.inf)
    if not hi > lo:
        return np.zeros(gray.shape, dtype=np.uint8)
    return np.rint((gray - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def check_preprocessing(preprocessing: str) -> None:
    """Fail early, before any file is opened, on a preprocessing name that does not exist."""
    if preprocessing not in PREPROCESSING:
        raise ValueError(f"unknown preprocessing {preprocessing!r}; choose one of {', '.join(PREPROCESSING)}")


def _check_size(size: int | None) -> None:
    if size is not None and (not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size <= 0):
        raise ValueError(f"size must be a positive integer or None, got {size!r}")


def _unreadable(path: Path, reason: object, what: str = "an image") -> DataError:
    """The one message for a file that cannot be decoded, so users see the same advice everywhere."""
    return DataError(f"{path} cannot be read as {what}: {reason}; replace or remove it")


def _open_converted(path: Path, mode: str, what: str) -> Image.Image:
    """Decode fully inside the try, so truncated files fail here rather than later in numpy."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert(mode)
    except FileNotFoundError:
        raise _unreadable(path, "file not found", what) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise _unreadable(path, e, what) from e


def load_image(path: Path, size: int | None, preprocessing: str = "none") -> np.ndarray:
    """Read an image as HxWx3 uint8 RGB, optionally resized to size x size and preprocessed.

    Grayscale preprocessing still returns three identical channels so ImageNet backbones accept it.
    The raw pixel grid is used (EXIF orientation is not applied), matching how masks are stored.
    """
    check_preprocessing(preprocessing)
    _check_size(size)
    path = Path(path)
    im = _open_converted(path, "RGB", "an image")
    if size is not None and im.size != (size, size):
        # PIL widens the bilinear kernel when shrinking, so this is antialiased.
        im = im.resize((int(size), int(size)), Image.Resampling.BILINEAR)
    arr = np.array(im, dtype=np.uint8)
    if preprocessing == "gray_world":
        return gray_world(arr)
    if preprocessing == "grayscale_minmax":
        return np.repeat(grayscale_minmax(arr)[..., None], 3, axis=2)
    return arr


def load_mask(path: Path, size: int | None) -> np.ndarray:
    """Read a segmentation mask as bool HxW, resized with nearest neighbour so it stays binary.

    Masks stored as 0/255 are thresholded at 128 (robust to JPEG ringing); masks stored as 0/1 at 0.
    """
    _check_size(size)
    path = Path(path)
    im = _open_converted(path, "L", "a mask")
    if size is not None and im.size != (size, size):
        im = im.resize((int(size), int(size)), Image.Resampling.NEAREST)
    arr = np.array(im, dtype=np.uint8)
    return arr >= 128 if arr.max(initial=0) > 1 else arr > 0
