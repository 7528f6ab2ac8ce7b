"""Mix-up: cross-class pairs, Beta-distributed lambda, convex pixel and label combinations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lesionlab.data.mixup import mixup_batch, mixup_pairs, sample_mixup_pairs

LABELS = np.array([0] * 6 + [1] * 3 + [2] * 5 + [3] * 2)
C = 4


def _images(n: int = len(LABELS), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 8, 8, 3), dtype=np.uint8)


def test_shapes_dtypes_and_soft_labels_sum_to_one() -> None:
    mixed, soft = mixup_pairs(_images(), LABELS, C, 50, np.random.default_rng(0))
    assert mixed.shape == (50, 8, 8, 3) and mixed.dtype == np.float32
    assert soft.shape == (50, C)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-6)
    assert mixed.min() >= 0 and mixed.max() <= 255


def test_pairs_from_different_classes() -> None:
    first, second, lam = sample_mixup_pairs(LABELS, 500, np.random.default_rng(1))
    assert np.all(LABELS[first] != LABELS[second])
    assert np.all((lam >= 0) & (lam <= 1))
    # Every image of the other classes can be drawn as a partner.
    assert set(second[LABELS[first] == 0].tolist()) == set(np.flatnonzero(LABELS != 0).tolist())


def test_pixels_and_labels_are_the_convex_combination() -> None:
    images = _images()
    first, second, lam = sample_mixup_pairs(LABELS, 40, np.random.default_rng(2))
    mixed, soft = mixup_pairs(images, LABELS, C, 40, np.random.default_rng(2))
    w = lam[:, None, None, None]
    np.testing.assert_allclose(mixed, w * images[first] + (1 - w) * images[second], rtol=1e-5, atol=1e-3)
    eye = np.eye(C)
    np.testing.assert_allclose(
        soft, lam[:, None] * eye[LABELS[first]] + (1 - lam[:, None]) * eye[LABELS[second]], atol=1e-6
    )
    # Cross-class pairs put exactly lam on the first class.
    np.testing.assert_allclose(soft[np.arange(40), LABELS[first]], lam, atol=1e-6)


def test_same_class_pairs_allowed_without_cross_class() -> None:
    first, second, _ = sample_mixup_pairs(LABELS, 500, np.random.default_rng(3), cross_class=False)
    assert np.all(first != second)
    assert np.any(LABELS[first] == LABELS[second])


def test_lambda_follows_beta() -> None:
    _, _, lam = sample_mixup_pairs(LABELS, 4000, np.random.default_rng(4), alpha=0.2)
    assert abs(lam.mean() - 0.5) < 0.03
    assert abs(lam.var() - 1 / (4 * (2 * 0.2 + 1))) < 0.02  # Beta(a, a) variance


def test_deterministic_under_seed() -> None:
    a = mixup_pairs(_images(), LABELS, C, 10, np.random.default_rng(5))
    b = mixup_pairs(_images(), LABELS, C, 10, np.random.default_rng(5))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="two classes"):
        mixup_pairs(_images(4), np.zeros(4, int), C, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="alpha"):
        mixup_pairs(_images(), LABELS, C, 2, np.random.default_rng(0), alpha=0.0)
    with pytest.raises(ValueError, match="labels"):
        mixup_pairs(_images(), LABELS, 3, 2, np.random.default_rng(0))


def test_zero_pairs() -> None:
    mixed, soft = mixup_pairs(_images(), LABELS, C, 0, np.random.default_rng(0))
    assert mixed.shape == (0, 8, 8, 3) and soft.shape == (0, C)


# --- batch version -----------------------------------------------------------------------------------


def test_mixup_batch_convex_and_deterministic() -> None:
    # One class per row, so each soft label names the row's partner and the batch's lambda.
    b = 8
    x = torch.from_numpy(_images(b)).permute(0, 3, 1, 2)
    y = torch.arange(b)
    xm, ys = mixup_batch(x, y, b, alpha=1.0, generator=torch.Generator().manual_seed(0))
    xm2, ys2 = mixup_batch(x, y, b, alpha=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(xm, xm2) and torch.equal(ys, ys2)
    assert xm.dtype == torch.float32 and ys.shape == (b, b)
    torch.testing.assert_close(ys.sum(dim=1), torch.ones(b))
    lam = ys.diagonal()
    moved = lam < 1 - 1e-6  # rows whose partner is another row
    assert moved.any()
    lam_value = lam[moved][0].item()
    assert 0.0 <= lam_value < 1.0
    torch.testing.assert_close(lam[moved], torch.full((int(moved.sum()),), lam_value))
    partner = torch.where(moved, (ys - torch.diag(lam)).argmax(dim=1), y)
    assert sorted(partner.tolist()) == list(range(b))  # a permutation of the batch
    expected = lam_value * x.float() + (1 - lam_value) * x.float()[partner]
    torch.testing.assert_close(xm, expected, rtol=1e-5, atol=1e-3)


def test_mixup_batch_rejects_bad_targets() -> None:
    with pytest.raises(ValueError, match="y must be"):
        mixup_batch(torch.zeros(4, 3), torch.zeros(3, dtype=torch.long), 2)
