"""The loss registry: per-sample losses and their weighted mean."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lesionlab.training.losses import available_losses, get_loss


def test_weighted_ce_mean_equals_the_hard_label_weighted_loss() -> None:
    torch.manual_seed(0)
    logits, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    weight = torch.tensor([0.5, 2.0, 1.0])
    loss = get_loss("weighted_ce")(logits, F.one_hot(y, 3).float(), weight)
    assert loss.values.shape == (6,)
    torch.testing.assert_close(loss.mean(), F.cross_entropy(logits, y, weight=weight))
    # Per-sample weights: a weight of 0 removes a sample, equal weights change nothing.
    w = torch.tensor([1.0, 1, 1, 1, 1, 0])
    torch.testing.assert_close(loss.mean(w), F.cross_entropy(logits[:5], y[:5], weight=weight))
    torch.testing.assert_close(loss.mean(torch.full((6,), 3.0)), loss.mean())


def test_dice_and_ce_dice_on_known_masks() -> None:
    target = torch.zeros(2, 4, 4)
    target[0, :2] = 1
    perfect = (target * 2 - 1)[:, None] * 50  # one-channel logits, confidently right
    dice = get_loss("dice")(perfect, target, None).values
    assert torch.all(dice < 1e-3)
    wrong = -perfect
    assert get_loss("dice")(wrong, target, None).values[0] > 0.9  # 1 - 1/17 with the +1 smoothing
    ce_dice = get_loss("ce_dice")(wrong, target, None).values
    assert ce_dice.shape == (2,) and torch.all(ce_dice > get_loss("dice")(wrong, target, None).values)


def test_registry_lists_losses_and_refuses_unknown_ones() -> None:
    assert {"weighted_ce", "dice", "ce_dice"} <= set(available_losses())
    with pytest.raises(Exception, match="unknown loss 'focal'"):
        get_loss("focal")
