"""Kim et al. 2020's uncertainty predictor: Yoo & Kweon's "learning loss" module, trained with the model.

Kim et al. 2020: "Confident Coreset for Active Learning in Medical Image Analysis" (arXiv 2004.02200).

Each tapped feature map is global-average-pooled and passed through a fully connected layer of width 128
with a ReLU; the results are concatenated and one fully connected layer maps them to a scalar, the
predicted loss (Yoo & Kweon 2019, Fig. 2; Kim et al., Section 2.1). It is trained with the comparative
loss with margin of Eq. 4 on pairs within a batch (the batch split into halves, sample i paired with
sample B-1-i, as Yoo & Kweon's code does), margin xi = 0.5, added to the task loss with lambda = 1
(Eq. 3: the mean over the B/2 pairs). The targets are the per-sample task losses the trainer computes
(`SampleLoss.values`: with class weights, the class-weighted cross-entropy the model minimises; `raw` when
a loss such as OUSM dropped samples, so every sample keeps its loss), detached.

Taps. Kim et al. tap blocks 2-5 of ResNet-18 (`layer1`-`layer4`: strides 4, 8, 16, 32). `for_model` taps,
for any backbone, the last stage at each of the four coarsest resolutions: ResNet's four stages, and for
EfficientNet-Lite0 stages 1, 2, 4 and 6 (24, 40, 112 and 320 channels at strides 4, 8, 16 and 32), the
same pyramid as ResNet-18's blocks 2-5. On the CPU fast path (`freeze_stages: 6`) only stage 6 runs; the
pooled outputs of stages 1, 2 and 4 come from the activation cache (`PooledTapCache`).

Gradient. Yoo & Kweon stop the gradient from the loss-prediction module into the backbone after epoch 120
of 200. Here the taps are detached always (`detach=True`): on the fast path three of the four taps are
frozen and cached anyway, our training is short with the epoch picked on validation (there is no "epoch
120"), and the model a learning-loss run trains is then exactly the model every other strategy trains
from the same labels and seed, so strategies differ by their selection only. `detach=False` lets the
gradient flow into the trained stages (Yoo & Kweon's first phase).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lesionlab.models.classifier import ClassifierOutput, LesionClassifier
from lesionlab.training.auxiliary import AuxiliaryHead
from lesionlab.training.losses import SampleLoss

WIDTH = 128  # Yoo & Kweon's fully connected width per tap
MARGIN = 0.5  # Kim et al., xi in Eq. 4
WEIGHT = 1.0  # Kim et al., lambda in Eq. 3
N_TAPS = 4


def default_tap_stages(shapes: Sequence[tuple[int, int, int]], n_taps: int = N_TAPS) -> tuple[int, ...]:
    """The last stage of each spatial resolution, the `n_taps` deepest of them (fewer if there are fewer).

    `shapes` are each stage's (channels, height, width). ResNet-18 gives its four stages (blocks 2-5 of
    Kim et al.); EfficientNet-Lite0 gives stages 1, 2, 4, 6.
    """
    last = [i for i in range(len(shapes)) if i + 1 == len(shapes) or shapes[i + 1][1:] != shapes[i][1:]]
    return tuple(last[-n_taps:])


def ranking_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    margin: float = MARGIN,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. 4 averaged over the pairs (i, B-1-i), i < B/2: max(0, -f(l_i, l_j) (l^_i - l^_j) + margin) with
    f = +1 if l_i > l_j else -1. An odd batch leaves its middle sample unpaired. With per-sample
    `weights`, a pair counts w_i * w_j (a sample weighted 0, e.g. dropped by OUSM, pairs with nobody)."""
    half = len(prediction) // 2
    if half == 0:
        return prediction.sum() * 0.0
    target = target.detach()
    diff = (prediction - prediction.flip(0))[:half]
    sign = torch.where((target - target.flip(0))[:half] > 0, 1.0, -1.0).to(diff.dtype)
    per_pair = torch.clamp(margin - sign * diff, min=0)
    if weights is None:
        return per_pair.mean()
    pair_w = (weights * weights.flip(0))[:half].to(per_pair.dtype)
    return (pair_w * per_pair).sum() / pair_w.sum().clamp_min(1e-12)


class LossPredictor(AuxiliaryHead):
    """GAP + FC(128) + ReLU per tapped stage, concatenated, FC to one value: the predicted loss."""

    name = "loss_predictor"

    def __init__(
        self,
        tap_stages: Sequence[int],
        channels: Sequence[int],
        width: int = WIDTH,
        margin: float = MARGIN,
        weight: float = WEIGHT,
        detach: bool = True,
        seed: int | None = 0,
        target: str | None = None,
    ) -> None:
        """`tap_stages[i]` has `channels[i]` channels; `seed` fixes the initial weights (None: global RNG);
        `target` names the term of the task loss to learn when it is a sum (`SampleLoss.parts`), else the
        whole task loss is learnt."""
        super().__init__(weight)
        if len(tap_stages) != len(channels) or not tap_stages:
            raise ValueError("give one channel count per tapped stage, and at least one stage")
        self.tap_stages = tuple(int(s) for s in tap_stages)
        self.channels = tuple(int(c) for c in channels)
        self.margin = margin
        self.detach = detach
        self.target = target
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.taps = nn.ModuleList(nn.Linear(c, width) for c in self.channels)
            self.out = nn.Linear(width * len(self.channels), 1)

    @classmethod
    def for_model(cls, model: LesionClassifier, **options) -> LossPredictor:
        """The predictor for `model`: four taps (see `default_tap_stages`), initialised from a seed derived
        from the model's classifier weights (themselves seeded per run), so a resumed run builds the same
        head as an uninterrupted one and each seed gets its own."""
        shapes = model.stage_shapes()
        stages = default_tap_stages(shapes)
        weights = model.classifier.weight.detach().cpu().float().contiguous().numpy().tobytes()
        seed = int.from_bytes(hashlib.sha256(weights).digest()[:4], "little")
        options.setdefault("seed", seed)
        return cls(stages, [shapes[s][0] for s in stages], **options)

    @classmethod
    def for_segmenter(cls, model, **options) -> LossPredictor:
        """The predictor for a segmentation U-Net (`models.unet.Segmenter`): its four deepest encoder maps
        (strides 2-16 of Zhao et al.'s U-Net, 4-32 on Lite0 or ResNet-18), seeded from its output layer. It
        learns the Dice loss (Kim et al., Sec. 3.1: "for segmentation, dice loss is used as a target loss"),
        the Dice term when the U-Net trains on Zhao et al. 2022's CE + Dice."""
        options.setdefault("target", "dice")
        channels = list(model.channels)[-N_TAPS:]
        stages = tuple(range(len(model.channels) - len(channels), len(model.channels)))
        weights = model.final_conv.weight.detach().cpu().float().contiguous().numpy().tobytes()
        options.setdefault("seed", int.from_bytes(hashlib.sha256(weights).digest()[:4], "little"))
        return cls(stages, channels, **options)

    def forward(self, output: ClassifierOutput) -> torch.Tensor:
        features = []
        for stage, fc in zip(self.tap_stages, self.taps, strict=True):
            pooled = output.pooled_tap(stage).float()
            features.append(F.relu(fc(pooled.detach() if self.detach else pooled)))
        return self.out(torch.cat(features, dim=1)).squeeze(1)

    def loss(
        self, prediction: torch.Tensor, task_loss: SampleLoss, weights: torch.Tensor | None
    ) -> torch.Tensor:
        # Every sample's loss, also those a loss such as OUSM dropped from the task's gradient; the named
        # term when the task loss is a sum that has it (a Dice-only loss is already the Dice term).
        if self.target is not None and task_loss.parts and self.target in task_loss.parts:
            target = task_loss.parts[self.target]
        else:
            target = task_loss.raw if task_loss.raw is not None else task_loss.values
        return ranking_loss(prediction, target.float(), self.margin, weights)
