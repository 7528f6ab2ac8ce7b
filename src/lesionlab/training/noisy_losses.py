"""Losses for noisy labels: OUSM, OUSM + LoOP re-weighting, and forward correction, each with its options.

Xue et al. 2019, "Robust Learning at Noisy Labeled Medical Images: Applied to Skin Lesion Classification"
(ISBI 2019): online uncertainty sample mining (`ousm`: each batch's highest losses give no gradient) and
their Eq. 1 with LoOP re-weighting (`ousm_loop`). Patrini et al. 2017, "Making Deep Neural Networks
Robust to Label Noise: a Loss Correction Approach" (CVPR 2017), their baseline: the forward-corrected loss
(`forward`). Each registers its own options model, read from `train.loss_options` (docs/methods.md), e.g.

    train: {loss: ousm_loop, loss_options: {fraction: 0.2, reweight_every: 3}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from lesionlab.config import Finite, Options, TrainConfig
from lesionlab.errors import ConfigError
from lesionlab.training.losses import LossSetup, SampleLoss, register_loss_setup, weighted_ce

if TYPE_CHECKING:
    from lesionlab.data.records import Record
    from lesionlab.models.classifier import LesionClassifier
    from lesionlab.training.auxiliary import EpochEnd


class OusmOptions(Options):
    """`ousm`: the share K/N of each batch's highest losses that gives no gradient. The paper gives no K:
    0.1 is a placeholder, to be chosen on the validation split (`choose_ousm_fraction`), never on test."""

    fraction: Finite = Field(0.1, ge=0, lt=1)


class OusmLoopOptions(OusmOptions):
    """`ousm_loop`: Eq. 1's weights of the OUSM term (alpha) and of the LoOP-weighted CE term (beta), the
    paper's 0.5 each; LoOP weights are 1 for `reweight_after` epochs, then recomputed every `reweight_every`
    (the paper's 5 and 5); LoOP's k (`neighbors`, within each labelled class; not in the paper) and lambda
    (`extent`, Kriegel et al.'s; PyNomaly's default 3)."""

    alpha: Finite = Field(0.5, ge=0)
    beta: Finite = Field(0.5, ge=0)
    reweight_after: int = Field(5, ge=1)
    reweight_every: int = Field(5, ge=1)
    neighbors: int = Field(10, ge=1)
    extent: Finite = Field(3.0, gt=0)

    @model_validator(mode="after")
    def _not_both_zero(self) -> OusmLoopOptions:
        if self.alpha + self.beta <= 0:
            raise ValueError("alpha and beta cannot both be 0 (the loss would be 0)")
        return self


class ForwardOptions(Options):
    """`forward`: T `matrix` "estimate" (from the model after `warmup` epochs of plain CE, each class's
    anchor at the `quantile` percentile, Patrini et al.'s 0.97; 1 = the maximum) or a T file (.npy, .json
    or comma-separated .csv: row i = P(given label | true class i))."""

    matrix: str = Field("estimate", min_length=1)
    warmup: int = Field(5, ge=1)
    quantile: Finite = Field(0.97, gt=0, le=1)


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
    """Xue et al.'s Eq. 1 on one batch: alpha * L_OUSM + beta * lambda * L_CE (weight decay is the
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
    """Epoch callback of `forward` with `matrix: estimate`: at the end of epoch `after` (plain CE
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
            f"train.loss_options.matrix: {p} is not a file (give a .npy, .json or .csv, or 'estimate')"
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
        raise ConfigError(f"train.loss_options.matrix: {p}: {exc}") from exc


@register_loss_setup("ousm", OusmOptions)
def _ousm_setup(options: OusmOptions, num_classes: int | None) -> LossSetup:
    """OUSM alone: each batch's `fraction` highest-loss samples give no gradient."""
    fraction = options.fraction

    def loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> SampleLoss:
        return ousm_ce(logits, target, weight, fraction)

    return LossSetup(loss)


@register_loss_setup("ousm_loop", OusmLoopOptions)
def _ousm_loop_setup(options: OusmLoopOptions, num_classes: int | None) -> LossSetup:
    """Eq. 1 (alpha OUSM + beta lambda CE) with lambda = 1 - LoOP recomputed by an epoch callback."""
    from lesionlab.training.local_outliers import LoopReweighting

    fraction, alpha, beta = options.fraction, options.alpha, options.beta

    def loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> SampleLoss:
        return ousm_reweighted_ce(logits, target, weight, fraction, alpha, beta)

    reweight = LoopReweighting(
        options.reweight_after, options.reweight_every, options.neighbors, options.extent
    )
    return LossSetup(loss, [reweight])


@register_loss_setup("forward", ForwardOptions)
def _forward_setup(options: ForwardOptions, num_classes: int | None) -> LossSetup:
    """Forward correction with T from a file, or estimated after `warmup` epochs of plain CE."""
    if options.matrix == "estimate":
        loss = ForwardCorrection()
        return LossSetup(loss, [TransitionEstimate(loss, options.warmup, options.quantile)])
    return LossSetup(ForwardCorrection(load_transition(options.matrix, num_classes)))


def choose_ousm_fraction(
    make_model: Callable[[], LesionClassifier],
    config: TrainConfig,
    train: Sequence[Record],
    val: Sequence[Record],
    class_names: Sequence[str] | None = None,
    candidates: Sequence[float] = (0.05, 0.1, 0.2, 0.3),
    cache_dir: Path | None = None,
) -> tuple[float, dict[float, float]]:
    """Pick OUSM's `fraction` (`train.loss_options`) on the validation split (the paper gives no K;
    never pick it on test).

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
        options = {**config.loss_options, "fraction": fraction}
        trainer = Trainer(make_model(), config.updated(loss_options=options), cache_dir=cache_dir)
        scores[float(fraction)] = float(trainer.fit(train, val, class_names).best_score)
    best = max(scores, key=lambda f: scores[f])  # max keeps the first of equal scores
    return best, scores
