"""Dice and Jaccard per image and mean: hand-computed masks, and MONAI's metrics as the reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lesionlab.tasks import get_task

TASK = get_task("segmentation")


def test_hand_computed_masks() -> None:
    truth = np.zeros((3, 4, 4))
    pred = np.zeros((3, 4, 4))
    # Image 0: truth 4 pixels, prediction 6 pixels, 3 shared -> Dice 2*3/10, Jaccard 3/7.
    truth[0, 0, :4] = 1
    pred[0, 0, 1:4] = 0.9
    pred[0, 1, :3] = 0.7
    # Image 1: perfect. Image 2: both empty (agree perfectly).
    truth[1, 2:, 2:] = 1
    pred[1, 2:, 2:] = 0.6
    per = TASK.per_image(truth, pred)
    np.testing.assert_allclose(per["dice"], [0.6, 1.0, 1.0])
    np.testing.assert_allclose(per["jaccard"], [3 / 7, 1.0, 1.0])
    m = TASK.metrics(truth, pred)
    assert m["dice"] == pytest.approx((0.6 + 2) / 3)
    assert m["jaccard"] == pytest.approx((3 / 7 + 2) / 3)
    # ISIC 2017's score: Jaccard below 0.65 counts as 0.
    assert m["thresholded_jaccard"] == pytest.approx(2 / 3)


def test_threshold_is_strictly_above_one_half() -> None:
    truth = np.ones((1, 2, 2))
    assert TASK.per_image(truth, np.full((1, 2, 2), 0.5))["dice"][0] == 0.0
    assert TASK.per_image(truth, np.full((1, 2, 2), 0.51))["dice"][0] == 1.0


def test_against_monai() -> None:
    from monai.metrics import DiceMetric, MeanIoU

    rng = np.random.default_rng(0)
    truth = (rng.random((6, 16, 16)) < 0.4).astype(float)
    probs = np.clip(truth * 0.7 + rng.random((6, 16, 16)) * 0.6, 0, 1)
    ours = TASK.per_image(truth, probs)
    y = torch.from_numpy(truth)[:, None]
    y_pred = torch.from_numpy((probs > 0.5).astype(float))[:, None]
    dice = DiceMetric(include_background=True, reduction="none")(y_pred, y)[:, 0].numpy()
    iou = MeanIoU(include_background=True, reduction="none")(y_pred, y)[:, 0].numpy()
    np.testing.assert_allclose(ours["dice"], dice, rtol=1e-6)
    np.testing.assert_allclose(ours["jaccard"], iou, rtol=1e-6)


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        TASK.per_image(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))
