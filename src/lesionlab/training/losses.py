"""The loss registry: every training loss by the name configs use (`train.loss`).

A loss returns a `SampleLoss`, one value per sample plus what each sample counts for in the mean, so
the trainer can apply per-sample weights (noisy-label re-weighting), drop samples (OUSM) and hand the
per-sample values to an auxiliary head (the loss predictor) without knowing which loss it runs.
A new loss is one function and one `@register_loss` line.

A loss with settings, or one that needs epoch callbacks (paper 002's LoOP re-weighting, the estimation of
a noise transition matrix), registers a *setup* instead: `@register_loss_setup(name)` on a function
`(TrainConfig, num_classes) -> LossSetup(loss, callbacks)`. `build_loss` resolves either kind, and
`Trainer.__init__` installs the setup's callbacks before the caller's, so the trainer has no branch per
method. Paper 002's `ousm`, `ousm_loop` and `forward` are such setups (see docs/methods.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from lesionlab.config import TrainConfig
from lesionlab.errors import ConfigError

if TYPE_CHECKING:
    from lesionlab.data.records import Record
    from lesionlab.models.classifier import LesionClassifier
    from lesionlab.training.auxiliary import EpochCallback, EpochEnd


@dataclass
class SampleLoss:
    """values[i]: the loss of sample i; mass[i]: its share of the normaliser (None = 1 for every sample).

    The batch loss is sum_i w_i values_i / sum_i w_i mass_i; with w = 1 and mass = target . class
    weights this is exactly the hard-label weighted cross-entropy (see `weighted_ce`). `raw` is each
    sample's loss before a loss dropped any (OUSM zeroes the dropped ones' values): what a head that learns
    every sample's loss should read (None: `values`, nothing was dropped). `parts`: the named terms of a
    sum such as `ce_dice`, each (N,), for a head that learns one of them (paper 003's predictor: Dice).
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
_LOSSES: dict[str, LossFn] = {}


@dataclass
class LossSetup:
    """What a configured loss brings to a fit: the loss, and the epoch callbacks it needs (run in order,
    before any the caller passes to the trainer)."""

    loss: LossFn
    callbacks: list[EpochCallback] = field(default_factory=list)


# (train config, number of classes or None when unknown) -> LossSetup
LossFactory = Callable[[TrainConfig, "int | None"], LossSetup]
_SETUPS: dict[str, LossFactory] = {}


def _check_new(name: str) -> None:
    if name in _LOSSES or name in _SETUPS:
        raise ValueError(f"loss {name!r} registered twice")


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    def deco(fn: LossFn) -> LossFn:
        _check_new(name)
        _LOSSES[name] = fn
        return fn

    return deco


def register_loss_setup(name: str) -> Callable[[LossFactory], LossFactory]:
    """Register a loss built from the train config, with the epoch callbacks it needs."""

    def deco(factory: LossFactory) -> LossFactory:
        _check_new(name)
        _SETUPS[name] = factory
        return factory

    return deco


def _unknown(name: str) -> ConfigError:
    return ConfigError(
        f"unknown loss {name!r}; choose one of: {', '.join(sorted(_LOSSES))}, "
        f"or one set by train fields: {', '.join(sorted(_SETUPS))}"
    )


def build_loss(name: str, config: TrainConfig | None = None, num_classes: int | None = None) -> LossSetup:
    """The loss `name` configured by `config` (defaults when None), with its callbacks."""
    if name in _LOSSES:
        return LossSetup(_LOSSES[name])
    if name in _SETUPS:
        return _SETUPS[name](config or TrainConfig(), num_classes)
    raise _unknown(name)


def get_loss(name: str) -> LossFn:
    """The loss function `name` (a configured loss with the default settings)."""
    if name in _LOSSES:
        return _LOSSES[name]
    if name in _SETUPS:
        return build_loss(name).loss
    raise _unknown(name)


def available_losses() -> list[str]:
    return sorted({*_LOSSES, *_SETUPS})


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
    ce, soft_dice = ce.flatten(1).mean(1), dice(logits, t).values
    return SampleLoss(ce + soft_dice, parts={"ce": ce, "dice": soft_dice})


# ---------------------------------------------------------------- paper 002: learning with noisy labels
# Xue et al., ISBI 2019: online uncertainty sample mining (OUSM), the combined loss of their Eq. 1 with
# LoOP re-weighting, and the forward-corrected loss of Patrini et al. (CVPR 2017), their baseline.


def ousm_keep(values: torch.Tensor, fraction: float) -> torch.Tensor:
    """(N,) bool: False for the K = floor(fraction N) largest `values` of the batch (OUSM's dropped
    samples), True for the rest. fraction < 1 keeps at least one sample."""
    n = values.shape[0]
    k = min(math.floor(fraction * n + 1e-9), max(n - 1, 0))
    keep = torch.ones(n, dtype=torch.bool, device=values.device)
    if k > 0:
        keep[torch.topk(values.detach(), k).indices] = False
    return keep


def ousm_ce(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, fraction: float = 0.1
) -> SampleLoss:
    """OUSM: `weighted_ce` with the K = floor(fraction N) highest-loss samples of the batch zeroed in
    both value and mass, so they give no gradient and do not count in the mean.

    Samples are ranked by their plain cross-entropy -sum_j t_j log p_j (the network's uncertainty on the
    given label), not by the class-weighted value, so class weights do not decide which samples drop.
    """
    base = weighted_ce(logits, target, weight)
    keep = ousm_keep(F.cross_entropy(logits, target, reduction="none"), fraction).to(base.values.dtype)
    mass = base.mass if base.mass is not None else torch.ones_like(base.values)
    return SampleLoss(base.values * keep, mass * keep, raw=base.values)


@dataclass
class CombinedSampleLoss(SampleLoss):
    """Paper 002's Eq. 1 on one batch: alpha * L_OUSM + beta * lambda * L_CE (weight decay is the
    optimiser's).

    L_OUSM is the mean over the kept samples (`keep`), unweighted by lambda; the per-sample weights that
    `mean` receives (the trainer's sample weights: LoOP's 1 - pLOF) are lambda and scale only the CE term,
    which is normalised by the plain mass sum_i m_i, so lambda < 1 lowers a sample's contribution as the
    equation's product does (Keras' sample weighting) instead of being renormalised away. `values` are
    alpha * keep_i * ce_i + beta * ce_i, each sample's loss at lambda = 1; `raw` is ce_i.
    """

    ce: torch.Tensor | None = None
    keep: torch.Tensor | None = None
    alpha: float = 0.5
    beta: float = 0.5

    def mean(self, weights: torch.Tensor | None = None) -> torch.Tensor:
        ce, keep = self.ce, self.keep
        mass = self.mass if self.mass is not None else torch.ones_like(ce)
        ousm = (keep * ce).sum() / (keep * mass).sum().clamp_min(1e-12)
        lam = torch.ones_like(ce) if weights is None else weights
        return self.alpha * ousm + self.beta * (lam * ce).sum() / mass.sum().clamp_min(1e-12)


def ousm_reweighted_ce(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None,
    fraction: float = 0.1,
    alpha: float = 0.5,
    beta: float = 0.5,
) -> CombinedSampleLoss:
    """Eq. 1's per-batch loss: see `CombinedSampleLoss` (lambda arrives as the trainer's sample weights)."""
    base = weighted_ce(logits, target, weight)
    keep = ousm_keep(F.cross_entropy(logits, target, reduction="none"), fraction).to(base.values.dtype)
    values = alpha * keep * base.values + beta * base.values
    return CombinedSampleLoss(
        values, base.mass, base.values, ce=base.values, keep=keep, alpha=alpha, beta=beta
    )


def forward_corrected_ce(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, transition: torch.Tensor
) -> SampleLoss:
    """Patrini et al.'s forward correction: cross-entropy of the given (noisy) labels against the noisy-label
    probabilities softmax(logits) @ T, T[i, j] = P(given label j | true class i); class weights as in
    `weighted_ce` (equal to it, up to rounding, when T is the identity)."""
    noisy = (torch.softmax(logits, dim=1) @ transition.to(logits.dtype)).clamp_min(1e-12)
    w = target if weight is None else target * weight
    values = -(w * noisy.log()).sum(1)
    return SampleLoss(values, None if weight is None else target @ weight)


class ForwardCorrection:
    """The `forward` loss: plain `weighted_ce` until a transition matrix is set, then forward-corrected."""

    def __init__(self, matrix: np.ndarray | None = None) -> None:
        self.matrix = matrix
        self._tensor: torch.Tensor | None = None

    def set_matrix(self, matrix: np.ndarray) -> None:
        self.matrix, self._tensor = matrix, None

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> SampleLoss:
        if self.matrix is None:
            return weighted_ce(logits, target, weight)
        if self._tensor is None or self._tensor.device != logits.device:
            self._tensor = torch.as_tensor(self.matrix, dtype=torch.float32, device=logits.device)
        if self._tensor.shape[0] != logits.shape[1]:
            raise ConfigError(
                f"the forward transition matrix is {self._tensor.shape[0]}x{self._tensor.shape[0]} "
                f"but the model has {logits.shape[1]} classes"
            )
        return forward_corrected_ce(logits, target, weight, self._tensor)


@dataclass
class TransitionEstimate:
    """Epoch callback of `forward` with `forward_matrix: estimate`: at the end of epoch `after` (plain CE
    until then: Patrini's "train once on the noisy labels"), predict the training images and set the loss's
    T from per-class anchors (`lesionlab.data.noise.estimate_transition`, their 97th percentile); the
    history row of that epoch gets `forward_transition` (T as nested lists)."""

    loss: ForwardCorrection
    after: int = 5
    quantile: float = 0.97

    def __call__(self, event: EpochEnd) -> None:
        if event.epoch != self.after:
            return
        from lesionlab.data.noise import estimate_transition

        t = estimate_transition(event.trainer.predict(event.train, views=1), self.quantile)
        self.loss.set_matrix(t)
        event.row["forward_transition"] = t.tolist()


def load_transition(path: str | Path, num_classes: int | None = None) -> np.ndarray:
    """A transition matrix from a .npy, .json (nested lists) or .csv/.txt (comma-separated) file."""
    from lesionlab.data.noise import check_transition

    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"train.forward_matrix: {p} is not a file (give a .npy, .json or .csv, or 'estimate')"
        )
    try:
        if p.suffix == ".npy":
            raw: Any = np.load(p, allow_pickle=False)
        elif p.suffix == ".json":
            raw = json.loads(p.read_text())
        else:
            raw = np.loadtxt(p, delimiter=",", ndmin=2)
        return check_transition(raw, num_classes)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"train.forward_matrix: {p}: {exc}") from exc


def _check_ousm(config: TrainConfig) -> None:
    if config.ousm_alpha + config.ousm_beta <= 0:
        raise ConfigError("train.ousm_alpha and train.ousm_beta cannot both be 0 (the loss would be 0)")


@register_loss_setup("ousm")
def _ousm_setup(config: TrainConfig, num_classes: int | None) -> LossSetup:
    """OUSM alone: each batch's `ousm_fraction` highest-loss samples give no gradient."""
    fraction = config.ousm_fraction

    def loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> SampleLoss:
        return ousm_ce(logits, target, weight, fraction)

    return LossSetup(loss)


@register_loss_setup("ousm_loop")
def _ousm_loop_setup(config: TrainConfig, num_classes: int | None) -> LossSetup:
    """Eq. 1 (alpha OUSM + beta lambda CE) with lambda = 1 - LoOP recomputed by an epoch callback."""
    from lesionlab.training.local_outliers import LoopReweighting

    _check_ousm(config)
    fraction, alpha, beta = config.ousm_fraction, config.ousm_alpha, config.ousm_beta

    def loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> SampleLoss:
        return ousm_reweighted_ce(logits, target, weight, fraction, alpha, beta)

    reweight = LoopReweighting(
        config.reweight_after, config.reweight_every, config.loop_neighbors, config.loop_extent
    )
    return LossSetup(loss, [reweight])


@register_loss_setup("forward")
def _forward_setup(config: TrainConfig, num_classes: int | None) -> LossSetup:
    """Forward correction with T from a file, or estimated after `forward_warmup` epochs of plain CE."""
    if config.forward_matrix == "estimate":
        loss = ForwardCorrection()
        return LossSetup(loss, [TransitionEstimate(loss, config.forward_warmup, config.forward_quantile)])
    return LossSetup(ForwardCorrection(load_transition(config.forward_matrix, num_classes)))


def choose_ousm_fraction(
    make_model: Callable[[], LesionClassifier],
    config: TrainConfig,
    train: Sequence[Record],
    val: Sequence[Record],
    class_names: Sequence[str] | None = None,
    candidates: Sequence[float] = (0.05, 0.1, 0.2, 0.3),
    cache_dir: Path | None = None,
) -> tuple[float, dict[float, float]]:
    """Pick `train.ousm_fraction` on the validation split (the paper gives no K; never pick it on test).

    One fit per candidate of a fresh `make_model()` with `config` (loss `ousm` or `ousm_loop`); the best
    validation score of each fit (`FitResult.best_score`, higher is better) decides, ties going to the
    earlier candidate. Returns the chosen fraction and every candidate's score.
    """
    from lesionlab.training.trainer import Trainer

    if config.loss not in ("ousm", "ousm_loop"):
        raise ConfigError(f"choose_ousm_fraction needs train.loss ousm or ousm_loop, not {config.loss!r}")
    if not any(r.label is not None for r in val):
        raise ConfigError("choose_ousm_fraction needs labelled validation images")
    if not candidates:
        raise ConfigError("give at least one candidate fraction")
    scores: dict[float, float] = {}
    for fraction in candidates:
        trainer = Trainer(make_model(), config.updated(ousm_fraction=fraction), cache_dir=cache_dir)
        scores[float(fraction)] = float(trainer.fit(train, val, class_names).best_score)
    best = max(scores, key=lambda f: scores[f])  # max keeps the first of equal scores
    return best, scores
