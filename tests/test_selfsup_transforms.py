"""Models Genesis' four deformations: shapes, value ranges, what each changes and what each keeps."""

from __future__ import annotations

import numpy as np
import pytest

from lesionlab.selfsup.transforms import (
    GenesisRates,
    bezier_curve,
    genesis_pair,
    inner_cutout,
    local_pixel_shuffle,
    nonlinear_intensity,
    outer_cutout,
)


def image(seed: int = 0, size: int = 48) -> np.ndarray:
    """A smooth gradient plus noise: every pixel distinct, values in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    return np.clip(0.5 * xx + 0.3 * yy + 0.05 * rng.random((size, size)), 0, 1).astype(np.float32)


def test_bezier_curve_runs_from_the_last_control_point_to_the_first() -> None:
    xs, ys = bezier_curve(np.array([[0, 0], [0.2, 0.8], [0.6, 0.1], [1, 1]]), n_steps=11)
    assert (xs[0], ys[0]) == pytest.approx((1, 1)) and (xs[-1], ys[-1]) == pytest.approx((0, 0))
    # A straight control polygon gives a straight line.
    xs, ys = bezier_curve(np.array([[0, 0], [1 / 3, 1 / 3], [2 / 3, 2 / 3], [1, 1]]), n_steps=50)
    np.testing.assert_allclose(xs, ys, atol=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_nonlinear_intensity_is_a_monotonic_remap_in_range(seed: int) -> None:
    x = image(seed)
    before = x.copy()
    y = nonlinear_intensity(x, np.random.default_rng(seed))
    np.testing.assert_array_equal(x, before)  # input untouched
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0 and y.max() <= 1
    # Monotonic: the order of pixel values is kept, or exactly reversed.
    order = np.argsort(x.ravel(), kind="stable")
    diffs = np.diff(y.ravel()[order])
    assert (diffs >= -1e-6).all() or (diffs <= 1e-6).all()
    assert not np.allclose(y, x, atol=1e-3)  # it did change the intensities


def test_nonlinear_intensity_inverts_about_half_the_time() -> None:
    x = image()
    flips = 0
    for seed in range(40):
        y = nonlinear_intensity(x, np.random.default_rng(seed))
        flips += np.corrcoef(x.ravel(), y.ravel())[0, 1] < 0
    assert 10 <= flips <= 30


def test_local_pixel_shuffle_keeps_values_and_moves_them_locally() -> None:
    x = image(1)
    y = local_pixel_shuffle(x, np.random.default_rng(1))
    assert y.shape == x.shape
    assert not np.array_equal(x, y)
    # Each window is shuffled from the original, so the image's mean and its coarse layout stay: the
    # 8 x 8 block means of a 48 px image barely move (windows are at most 4 px wide).
    blocks = lambda a: a.reshape(6, 8, 6, 8).mean(axis=(1, 3))  # noqa: E731
    assert np.abs(blocks(x) - blocks(y)).max() < 0.08
    assert set(np.unique(y)) <= set(np.unique(x))  # no new values


def test_local_pixel_shuffle_window_counts() -> None:
    x = image(2)
    one = local_pixel_shuffle(x, np.random.default_rng(0), n_blocks=1)
    assert (one != x).sum() <= (48 // 10) ** 2


def test_inner_cutout_replaces_boxes_and_keeps_the_rest() -> None:
    x = image(3)
    changed = []
    for seed in range(10):
        y = inner_cutout(x, np.random.default_rng(seed))
        assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
        diff = y != x
        changed.append(diff.mean())
        # Border rows (the reference starts boxes 3 pixels in) are never painted.
        assert not diff[:3].any() and not diff[:, :3].any()
    assert 0 < np.median(changed) < 0.8  # some boxes, not the whole image


def test_outer_cutout_keeps_an_inner_box_and_noises_the_outside() -> None:
    x = image(4)
    for seed in range(10):
        y = outer_cutout(x, np.random.default_rng(seed))
        assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
        kept = y == x
        # At least the first box (sides >= 3/7 of the image) keeps the original ...
        assert kept.mean() >= (3 / 7) ** 2 * 0.9
        # ... and the image border (outside every box) is noise.
        assert not kept[:3].any()


def test_genesis_pair_target_is_the_original() -> None:
    x = image(5)
    deformed, target = genesis_pair(x, np.random.default_rng(0))
    np.testing.assert_array_equal(target, x)
    assert deformed.shape == x.shape
    # With every rate at 0, nothing is deformed; with every rate at 1, something always is.
    none = GenesisRates(local=0, nonlinear=0, paint=0)
    np.testing.assert_array_equal(genesis_pair(x, np.random.default_rng(0), none)[0], x)
    every = GenesisRates(local=1, nonlinear=1, paint=1)
    for seed in range(5):
        assert not np.array_equal(genesis_pair(x, np.random.default_rng(seed), every)[0], x)


def test_transforms_reject_non_2d_input() -> None:
    with pytest.raises(ValueError, match="2D"):
        local_pixel_shuffle(np.zeros((4, 4, 3)), np.random.default_rng(0))
