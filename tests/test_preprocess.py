"""Preprocessing: colour constancy, grayscale stretch, and readable errors for bad image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.data.preprocess import gray_world, grayscale_minmax, load_image, load_mask
from lesionlab.errors import DataError


def _cast_image(seed: int = 0) -> np.ndarray:
    """A mid-grey textured image with a reddish cast, far from the clipping limits."""
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 140, size=(32, 40, 1)).astype(np.float64)
    return np.clip(base * np.array([1.4, 1.0, 0.7]), 0, 255).astype(np.uint8)


def _save(path: Path, arr: np.ndarray, **kw: object) -> Path:
    Image.fromarray(arr).save(path, **kw)
    return path


def test_gray_world_equalises_channel_means() -> None:
    img = _cast_image()
    means_before = img.reshape(-1, 3).mean(axis=0)
    out = gray_world(img)
    means = out.reshape(-1, 3).mean(axis=0)
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert np.ptp(means_before) > 30
    assert np.ptp(means) < 1.0
    assert np.allclose(means, means_before.mean(), atol=1.0)


def test_gray_world_clips_and_keeps_zero_channel() -> None:
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 255
    img[0, 0, 1] = 10
    out = gray_world(img)
    assert out.dtype == np.uint8
    assert np.all(out[..., 2] == 0)
    assert out[..., 1].max() == 255


def test_gray_world_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match="HxWx3"):
        gray_world(np.zeros((4, 4), np.uint8))


@pytest.mark.parametrize("shape", [(8, 9), (8, 9, 1), (8, 9, 3)])
def test_grayscale_minmax_spans_full_range(shape: tuple[int, ...]) -> None:
    img = np.random.default_rng(1).integers(50, 120, size=shape).astype(np.uint8)
    out = grayscale_minmax(img)
    assert out.shape == (8, 9) and out.dtype == np.uint8
    assert out.min() == 0 and out.max() == 255


def test_grayscale_minmax_is_monotone_in_luma() -> None:
    img = np.array([[[10, 10, 10], [20, 20, 20], [40, 40, 40]]], np.uint8)
    assert grayscale_minmax(img).tolist() == [[0, 85, 255]]


def test_grayscale_minmax_constant_is_zero() -> None:
    out = grayscale_minmax(np.full((5, 5, 3), 77, np.uint8))
    assert out.shape == (5, 5) and not out.any()


def test_load_image_resizes_and_preprocesses(tmp_path: Path) -> None:
    path = _save(tmp_path / "a.png", _cast_image())
    raw = load_image(path, None)
    assert raw.shape == (32, 40, 3) and raw.dtype == np.uint8
    assert np.array_equal(raw, _cast_image())
    small = load_image(path, 16)
    assert small.shape == (16, 16, 3) and small.dtype == np.uint8
    gw = load_image(path, 16, "gray_world")
    assert np.ptp(gw.reshape(-1, 3).mean(axis=0)) < 1.0
    gray = load_image(path, 16, "grayscale_minmax")
    assert gray.shape == (16, 16, 3)
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 0], gray[..., 2])
    assert gray.min() == 0 and gray.max() == 255


def test_load_image_converts_grayscale_and_rgba(tmp_path: Path) -> None:
    gray = _save(tmp_path / "g.png", np.full((6, 6), 90, np.uint8))
    rgba = _save(tmp_path / "r.png", np.full((6, 6, 4), 90, np.uint8))
    assert load_image(gray, None).shape == (6, 6, 3)
    assert load_image(rgba, 4).shape == (4, 4, 3)


def test_load_image_truncated_jpeg_names_path(tmp_path: Path) -> None:
    path = _save(tmp_path / "lesion.jpg", _cast_image(), quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"lesion\.jpg cannot be read as an image: .*replace or remove it"):
        load_image(path, 16)


def test_load_image_missing_and_garbage(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.jpg cannot be read as an image: file not found"):
        load_image(tmp_path / "nope.jpg", 16)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(DataError, match=r"junk\.png cannot be read"):
        load_image(junk, None)


def test_load_image_unknown_preprocessing_lists_choices(tmp_path: Path) -> None:
    path = _save(tmp_path / "a.png", _cast_image())
    with pytest.raises(ValueError, match="gray_world"):
        load_image(path, 16, "clahe")


def test_load_mask_binary_and_nearest(tmp_path: Path) -> None:
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 255
    path = _save(tmp_path / "m.png", mask)
    out = load_mask(path, 10)
    assert out.dtype == bool and out.shape == (10, 10)
    assert out.sum() == 25
    ones = _save(tmp_path / "m01.png", (mask > 0).astype(np.uint8))
    assert np.array_equal(load_mask(ones, None), mask > 0)
    with pytest.raises(DataError, match=r"missing\.png cannot be read as a mask"):
        load_mask(tmp_path / "missing.png", 10)
