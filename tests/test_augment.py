"""Augmentation: recipes run on uint8 tensors; fixed views are reproducible whatever the batching."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from lesionlab.data.augment import augmented_views, light_augmentation, paper000_augmentation


def _images(n: int = 6, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    imgs[:, 8:24, 8:24] = 255  # a bright square so geometric changes show
    return imgs


def test_views_shape_and_view_zero_is_input() -> None:
    imgs = _images()
    views = augmented_views(imgs, 4, seed=3)
    assert views.shape == (4, *imgs.shape) and views.dtype == np.uint8
    assert np.array_equal(views[0], imgs)
    for v in range(1, 4):
        assert not np.array_equal(views[v], imgs)
    assert not np.array_equal(views[1], views[2])


def test_views_deterministic_and_seed_dependent() -> None:
    imgs = _images()
    a = augmented_views(imgs, 3, seed=11)
    assert np.array_equal(a, augmented_views(imgs, 3, seed=11))
    assert not np.array_equal(a[1:], augmented_views(imgs, 3, seed=12)[1:])


def test_views_independent_of_batch_split_and_order() -> None:
    imgs = _images(7)
    full = augmented_views(imgs, 3, seed=5)
    parts = [
        augmented_views(imgs[s], 3, seed=5, keys=range(s.start, s.stop)) for s in (slice(0, 3), slice(3, 7))
    ]
    assert np.array_equal(np.concatenate(parts, axis=1), full)
    order = np.random.default_rng(1).permutation(7)
    shuffled = augmented_views(imgs[order], 3, seed=5, keys=order.tolist())
    assert np.array_equal(shuffled, full[:, order])


def test_views_string_keys() -> None:
    imgs = _images(3)
    ids = ["ISIC_0000001", "ISIC_0000002", "ISIC_0000003"]
    a = augmented_views(imgs, 2, seed=0, keys=ids)
    b = augmented_views(imgs[::-1], 2, seed=0, keys=ids[::-1])
    assert np.array_equal(a, b[:, ::-1])


def test_views_edge_cases() -> None:
    imgs = _images(2)
    assert np.array_equal(augmented_views(imgs, 1, seed=0)[0], imgs)
    assert augmented_views(imgs[:0], 3, seed=0).shape == (3, 0, 32, 32, 3)
    with pytest.raises(ValueError, match="uint8"):
        augmented_views(imgs.astype(np.float32), 2, seed=0)
    with pytest.raises(ValueError, match="keys"):
        augmented_views(imgs, 2, seed=0, keys=[0])


@pytest.mark.parametrize("make", [paper000_augmentation, light_augmentation])
def test_recipes_on_single_and_batched_uint8(make: Callable[[], v2.Compose]) -> None:
    torch.manual_seed(0)
    t = make()
    single = torch.from_numpy(_images(1)[0]).permute(2, 0, 1)
    batch = torch.from_numpy(_images(4)).permute(0, 3, 1, 2)
    out1, out4 = t(single), t(batch)
    assert out1.shape == single.shape and out1.dtype == torch.uint8
    assert out4.shape == batch.shape and out4.dtype == torch.uint8


def test_light_augmentation_only_permutes_pixels() -> None:
    torch.manual_seed(1)
    img = torch.from_numpy(_images(1)[0]).permute(2, 0, 1)
    t = light_augmentation()
    for _ in range(8):
        out = t(img)
        assert torch.equal(out.flatten(1).sort(dim=1).values, img.flatten(1).sort(dim=1).values)
