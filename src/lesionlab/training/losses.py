"""The loss registry: every training loss by the name configs use (`train.loss`), with its own options.

A loss returns a `SampleLoss`, one value per sample plus what each sample counts for in the mean, so
the trainer can apply per-sample weights (noisy-label re-weighting), drop samples (OUSM) and hand the
per-sample values to an auxiliary head (the loss predictor) without knowing which loss it runs.
A new loss is one function and one `@register_loss` line.

A loss with settings, or one that needs epoch callbacks (LoOP re-weighting, the estimation of a noise
transition matrix), registers a *setup* with its own options model instead:
`@register_loss_setup(name, options=MyOptions)` on a function `(options, num_classes) -> LossSetup(loss,
callbacks)`; `train.loss_options` is checked against `MyOptions` before any training. `build_loss`
resolves either kind, and the trainer installs the setup's callbacks before the caller's, so it has no
branch per method. Built-ins: here and in `noisy_losses.py` (Xue et al. 2019's `ousm`, `ousm_loop`;
Patrini et al. 2017's `forward`); plugins: the `lesionlab.losses` entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from lesionlab.config import Options, TrainConfig
from lesionlab.config_options import validate_options
from lesionlab.registry import LOSSES_GROUP, Registry

if TYPE_CHECKING:
    from lesionlab.training.auxiliary import EpochCallback


@dataclass
class SampleLoss:
    """values[i]: the loss of sample i; mass[i]: its share of the normaliser (None = 1 for every sample).

    The batch loss is sum_i w_i values_i / sum_i w_i mass_i; with w = 1 and mass = target . class
    weights this is exactly the hard-label weighted cross-entropy (see `weighted_ce`). `raw` is each
    sample's loss before a loss dropped any (OUSM zeroes the dropped ones' values): what a head that learns
    every sample's loss should read (None: `values`, nothing was dropped). `parts`: the named terms of a
    sum such as `ce_dice`, each (N,), for a head that learns one of them (the loss predictor of Kim et
    al. 2020, "Confident Coreset for Active Learning in Medical Image Analysis", learns Dice).
    """

    values: torch.Tensor
    mass: torch.Tensor | None = None
    raw: torch.Tensor | None = None
    parts: dict[str, torch.Tensor] | None = None

    def mean(self, weights: torch.Tensor | None = None) -> torch.Tensor:
        if weights is None:
            return self.values.sum() / self.mass.sum() if self.mass is not None else self.values.mean()
        mass = self.mass if self.mass is not None else torch.ones_like(self.values)
        return (weights * self.values).sum() / (weights * mass).sum().clamp_min(1e-12)


# logits (N, C, ...), soft targets (N, C, ...), class weights (C,) or None -> SampleLoss
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], SampleLoss]


@dataclass
class LossSetup:
    """What a configured loss brings to a fit: the loss, and the epoch callbacks it needs (run in order,
    before any the caller passes to the trainer)."""

    loss: LossFn
    callbacks: list[EpochCallback] = field(default_factory=list)


# (the loss's checked options, number of classes or None when unknown) -> LossSetup
LossFactory = Callable[[Any, "int | None"], LossSetup]


class NoOptions(Options):
    """The options model of a loss that takes none: any option given is refused, naming the loss."""


@dataclass(frozen=True)
class RegisteredLoss:
    """A loss as registered: its options model and how to build it (`fn`: the plain function, if any)."""

    options: type[Options]
    factory: LossFactory
    fn: LossFn | None = None


def _as_loss(name: str, obj: Any) -> RegisteredLoss:
    """A registered loss, or a bare loss function (a plugin's entry point) taken as one without options."""
    if isinstance(obj, RegisteredLoss):
        return obj
    if callable(obj):
        return RegisteredLoss(NoOptions, lambda options, num_classes: LossSetup(obj), obj)
    raise TypeError(f"loss {name!r}: expected a loss function or a RegisteredLoss, got {obj!r}")


# Every loss by name: the built-ins (this module and `noisy_losses`) and the `lesionlab.losses` plugins.
LOSSES: Registry[RegisteredLoss] = Registry(
    "loss",
    group=LOSSES_GROUP,
    builtins=("lesionlab.training.losses", "lesionlab.training.noisy_losses"),
    prepare=_as_loss,
)


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    """Register a loss function that takes no options."""

    def deco(fn: LossFn) -> LossFn:
        LOSSES.register(name, RegisteredLoss(NoOptions, lambda options, num_classes: LossSetup(fn), fn))
        return fn

    return deco


def register_loss_setup(
    name: str, options: type[Options] = NoOptions
) -> Callable[[LossFactory], LossFactory]:
    """Register a loss built from its own `options` (a `config.Options` model, `train.loss_options`) and
    the number of classes, with the epoch callbacks it needs."""

    def deco(factory: LossFactory) -> LossFactory:
        LOSSES.register(name, RegisteredLoss(options, factory))
        return factory

    return deco


def loss_options(name: str, given: dict[str, Any] | None = None) -> Options:
    """`given` (`train.loss_options`) checked against loss `name`'s options model, defaults filled in."""
    model = LOSSES.get(name).options
    return validate_options(model, dict(given or {}), f"train.loss_options of loss {name!r}")


def build_loss(name: str, config: TrainConfig | None = None, num_classes: int | None = None) -> LossSetup:
    """The loss `name` with the options of `config` (`train.loss_options`; defaults when None), with its
    callbacks. Unknown names and options are one ConfigError listing the valid ones."""
    entry = LOSSES.get(name)
    return entry.factory(loss_options(name, config.loss_options if config else {}), num_classes)


def get_loss(name: str) -> LossFn:
    """The loss function `name` (a configured loss with its default options)."""
    entry = LOSSES.get(name)
    return entry.fn if entry.fn is not None else build_loss(name).loss


def available_losses() -> list[str]:
    return LOSSES.names()


@register_loss("weighted_ce")
def weighted_ce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> SampleLoss:
    """Class-weighted cross-entropy with probability targets (Shi et al. 2019, "An Active
    Learning Approach for Reducing Annotation Cost in Skin Lesion Analysis"), equal to the hard-label loss
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
    ce, soft_dice = ce.flatten(1).mean(1), dice(logits, t).values
    return SampleLoss(ce + soft_dice, parts={"ce": ce, "dice": soft_dice})
