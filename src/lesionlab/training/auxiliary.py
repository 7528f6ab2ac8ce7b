"""Extension points of `Trainer.fit`: auxiliary heads trained jointly, and callbacks after every epoch.

An auxiliary head (the loss predictor of Kim et al. 2020, later others) is a module that reads the model's
outputs (embedding, taps), makes one prediction per sample and has a loss of its own, which the trainer
adds to the task loss with the head's `weight`. An epoch callback sees the trainer, the training records
and their per-sample weights after each epoch and may change those weights (Xue et al. 2019's re-weighting
every few epochs). The trainer knows neither method: both reach it through these two types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from lesionlab.models.classifier import ClassifierOutput
from lesionlab.training.losses import SampleLoss

if TYPE_CHECKING:
    from lesionlab.data.records import Record
    from lesionlab.training.trainer import Trainer


class AuxiliaryHead(nn.Module):
    """Base class: `forward(output) -> (N,)` prediction; `loss(prediction, task_loss, weights) -> scalar`.

    `name` keys the head's predictions (`Trainer.aux_predict`) and its loss in the epoch history.
    """

    name: str = "aux"

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, output: ClassifierOutput) -> torch.Tensor:
        raise NotImplementedError

    def loss(
        self, prediction: torch.Tensor, task_loss: SampleLoss, weights: torch.Tensor | None
    ) -> torch.Tensor:
        raise NotImplementedError


@dataclass
class EpochEnd:
    """What an epoch callback sees. Setting `sample_weights` (one per training record, >= 0) changes the
    weight of each record in the loss from the next epoch on; `row` is this epoch's history entry, to
    which a callback may add numbers of its own."""

    trainer: Trainer
    epoch: int
    train: Sequence[Record]
    sample_weights: np.ndarray | None
    row: dict[str, Any] = field(default_factory=dict)


EpochCallback = Callable[[EpochEnd], None]
