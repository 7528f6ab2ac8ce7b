"""Aggregative supervision: 2x2 same-class mosaics resized back to the input size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lesionlab.data.mosaic import make_mosaics, mosaic_count

SIZE = 16


def _constant_images(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """One distinct constant colour per image, so every mosaic quadrant identifies its source."""
    rng = np.random.default_rng(seed)
    colours = rng.choice(256**3, size=len(labels), replace=False)
    rgb = np.stack([(colours >> s) & 255 for s in (16, 8, 0)], axis=1).astype(np.uint8)
    return np.broadcast_to(rgb[:, None, None, :], (len(labels), SIZE, SIZE, 3)).copy()


def _textured_images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, SIZE, SIZE, 3), dtype=np.uint8)


def _quadrants(mosaic: np.ndarray) -> list[np.ndarray]:
    h, w = mosaic.shape[0] // 2, mosaic.shape[1] // 2
    return [mosaic[:h, :w], mosaic[:h, w:], mosaic[h:, :w], mosaic[h:, w:]]


LABELS = np.array([0] * 10 + [1] * 6 + [2] * 4)


def test_shape_dtype_and_labels() -> None:
    images = _constant_images(LABELS)
    mosaics, labels, sources = make_mosaics(images, LABELS, 30, np.random.default_rng(0))
    assert mosaics.shape == (30, SIZE, SIZE, 3) and mosaics.dtype == np.uint8
    assert labels.shape == (30,) and sources.shape == (30, 4)
    assert np.all(LABELS[sources] == labels[:, None])


def test_different_mode_uses_four_distinct_sources() -> None:
    images = _constant_images(LABELS)
    _, _, sources = make_mosaics(images, LABELS, 50, np.random.default_rng(1), mode="different")
    assert all(len(set(row.tolist())) == 4 for row in sources)


def test_replicate_mode_repeats_one_source() -> None:
    images = _constant_images(LABELS)
    mosaics, _, sources = make_mosaics(images, LABELS, 20, np.random.default_rng(2), mode="replicate")
    assert np.all(sources == sources[:, :1])
    # A constant image replicated four times is itself.
    np.testing.assert_array_equal(mosaics, images[sources[:, 0]])


def test_quadrants_are_the_constant_sources() -> None:
    images = _constant_images(LABELS)
    mosaics, _, sources = make_mosaics(images, LABELS, 25, np.random.default_rng(3))
    for mosaic, row in zip(mosaics, sources, strict=True):
        for quadrant, source in zip(_quadrants(mosaic), row, strict=True):
            assert np.abs(quadrant.astype(int) - images[source, 0, 0].astype(int)).max() <= 1


def test_quadrants_equal_downsized_sources() -> None:
    labels = np.array([0] * 5 + [1] * 5)
    images = _textured_images(len(labels))
    mosaics, _, sources = make_mosaics(images, labels, 10, np.random.default_rng(4))
    small = torch.nn.functional.interpolate(
        torch.from_numpy(images).permute(0, 3, 1, 2).float(), size=(SIZE // 2, SIZE // 2), mode="area"
    )
    small = small.round().permute(0, 2, 3, 1).numpy().astype(int)
    for mosaic, row in zip(mosaics, sources, strict=True):
        for quadrant, source in zip(_quadrants(mosaic), row, strict=True):
            assert np.abs(quadrant.astype(int) - small[source]).max() <= 1


def test_small_class_falls_back_to_replacement() -> None:
    labels = np.array([0] * 8 + [1] * 2)
    images = _constant_images(labels)
    _, out, sources = make_mosaics(images, labels, 40, np.random.default_rng(5), class_balance="uniform")
    rare = sources[out == 1]
    assert len(rare) > 0 and np.all(np.isin(rare, [8, 9]))


def test_proportional_class_balance() -> None:
    labels = np.array([0] * 80 + [1] * 20)
    images = _textured_images(len(labels))
    _, out, _ = make_mosaics(images, labels, 2000, np.random.default_rng(6))
    assert 0.76 < np.mean(out == 0) < 0.84
    _, out, _ = make_mosaics(images, labels, 2000, np.random.default_rng(6), class_balance="uniform")
    assert 0.46 < np.mean(out == 0) < 0.54


def test_many_classes_and_string_labels() -> None:
    labels = np.array([f"c{i % 7}" for i in range(35)])
    images = _constant_images(labels)
    mosaics, out, sources = make_mosaics(images, labels, 21, np.random.default_rng(7))
    assert mosaics.shape[0] == 21 and out.dtype == labels.dtype
    assert np.all(labels[sources] == out[:, None])


def test_odd_sizes_and_non_square() -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(8, 15, 9, 3), dtype=np.uint8)
    mosaics, _, _ = make_mosaics(images, np.zeros(8, int), 3, np.random.default_rng(0))
    assert mosaics.shape == (3, 15, 9, 3)


def test_deterministic_and_zero_mosaics() -> None:
    images = _constant_images(LABELS)
    first = make_mosaics(images, LABELS, 5, np.random.default_rng(8))
    second = make_mosaics(images, LABELS, 5, np.random.default_rng(8))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    mosaics, labels, sources = make_mosaics(images, LABELS, 0, np.random.default_rng(0))
    assert mosaics.shape == (0, SIZE, SIZE, 3) and labels.shape == (0,) and sources.shape == (0, 4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "shuffle"}, "mode"),
        ({"class_balance": "inverse"}, "class_balance"),
        ({"n_mosaics": -1}, "n_mosaics"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    args = {
        "images": _constant_images(LABELS),
        "labels": LABELS,
        "n_mosaics": 2,
        "rng": np.random.default_rng(0),
    }
    with pytest.raises(ValueError, match=match):
        make_mosaics(**{**args, **kwargs})


def test_rejects_non_uint8_and_mismatched_labels() -> None:
    with pytest.raises(ValueError, match="uint8"):
        make_mosaics(np.zeros((4, 8, 8, 3)), np.zeros(4, int), 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="label"):
        make_mosaics(np.zeros((4, 8, 8, 3), np.uint8), np.zeros(3, int), 1, np.random.default_rng(0))


def test_mosaic_count() -> None:
    assert mosaic_count(100, 0.5) == 50
    assert mosaic_count(7, 0.5) == 4
    assert mosaic_count(10, 0.0) == 0
    with pytest.raises(ValueError):
        mosaic_count(10, -1.0)
