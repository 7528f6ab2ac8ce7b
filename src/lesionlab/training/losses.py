"""The loss registry: every training loss by the name configs use (`train.loss`).

A loss returns a `SampleLoss`, one value per sample plus what each sample counts for in the mean, so
the trainer can apply per-sample weights (noisy-label re-weighting), drop samples (OUSM) and hand the
per-sample values to an auxiliary head (the loss predictor) without knowing which loss it runs.
A new loss is one function and one `@register_loss` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lesionlab.errors import ConfigError


@dataclass
class SampleLoss:
    """values[i]: the loss of sample i; mass[i]: its share of the normaliser (None = 1 for every sample).

    The batch loss is sum_i w_i values_i / sum_i w_i mass_i; with w = 1 and mass = target . class
    weights this is exactly the hard-label weighted cross-entropy (see `weighted_ce`).
    """

    values: torch.Tensor
    mass: torch.Tensor | None = None

    def mean(self, weights: torch.Tensor | None = None) -> torch.Tensor:
        if weights is None:
            return self.values.sum() / self.mass.sum() if self.mass is not None else self.values.mean()
        mass = self.mass if self.mass is not None else torch.ones_like(self.values)
        return (weights * self.values).sum() / (weights * mass).sum().clamp_min(1e-12)


# logits (N, C, ...), soft targets (N, C, ...), class weights (C,) or None -> SampleLoss
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], SampleLoss]
_LOSSES: dict[str, LossFn] = {}


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    def deco(fn: LossFn) -> LossFn:
        if name in _LOSSES:
            raise ValueError(f"loss {name!r} registered twice")
        _LOSSES[name] = fn
        return fn

    return deco


def get_loss(name: str) -> LossFn:
    if name not in _LOSSES:
        raise ConfigError(f"unknown loss {name!r}; choose one of: {', '.join(sorted(_LOSSES))}")
    return _LOSSES[name]


def available_losses() -> list[str]:
    return sorted(_LOSSES)


@register_loss("weighted_ce")
def weighted_ce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> SampleLoss:
    """Class-weighted cross-entropy with probability targets (paper 000), equal to the hard-label loss
    for one-hot targets.

    `F.cross_entropy(logits, probs, weight=w)` averages over the batch size, whereas the hard-label form
    divides by the summed weights of the samples' classes; with balanced weights the two differ. The mass
    sum_i w . p_i restores the hard-label value for one-hot targets and extends it to soft ones.
    """
    values = F.cross_entropy(logits, target, weight=weight, reduction="none")
    return SampleLoss(values, None if weight is None else target @ weight)


def soft_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """The batch mean of `weighted_ce` (kept for callers that want one number)."""
    if weight is None:
        return F.cross_entropy(logits, target)
    return weighted_ce(logits, target, weight).mean()


def _foreground(logits: torch.Tensor) -> torch.Tensor:
    """Foreground probability (N, H, W) from one-channel or two-channel pixel logits."""
    if logits.shape[1] == 1:
        return torch.sigmoid(logits[:, 0])
    return torch.softmax(logits, dim=1)[:, 1]


@register_loss("dice")
def dice(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> SampleLoss:
    """Soft Dice loss per image, 1 - 2|P.T| / (|P| + |T|), on the foreground.

    Targets are (N, H, W) foreground masks or (N, 2, H, W) soft two-class targets."""
    p = _foreground(logits)
    t = target[:, 1] if target.ndim == 4 else target
    inter = (p * t).flatten(1).sum(1)
    total = p.flatten(1).sum(1) + t.flatten(1).sum(1)
    return SampleLoss(1 - (2 * inter + 1.0) / (total + 1.0))  # +1 smooths two empty masks to a loss of 0


@register_loss("ce_dice")
def ce_dice(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> SampleLoss:
    """Pixel cross-entropy (mean over pixels) plus soft Dice, per image: a usual lesion-segmentation loss."""
    t = target[:, 1] if target.ndim == 4 else target
    if logits.shape[1] == 1:
        ce = F.binary_cross_entropy_with_logits(logits[:, 0], t, reduction="none")
    else:
        ce = F.cross_entropy(logits, torch.stack([1 - t, t], dim=1), weight=weight, reduction="none")
    return SampleLoss(ce.flatten(1).mean(1) + dice(logits, t).values)
