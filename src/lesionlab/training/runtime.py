"""The seam between the one `Trainer` and a task's model: what `fit`, `predict` and the auxiliary heads ask.

`Trainer` (training/trainer.py) owns what every task shares: the epoch loop, early stopping, epoch
callbacks, the checkpoint state, mixed precision, channels_last, seeded MC dropout and logging. A task's
runtime owns what differs: how inputs and targets are prepared (and cached), one training batch, the
validation metrics, and inference. A task names its runtime class (`Task.runtime()`), so the trainer never
branches on the task.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from lesionlab.data.records import Record

if TYPE_CHECKING:
    from lesionlab.training.trainer import Trainer


@dataclass
class FitData:
    """What `fit` prepares once before the epoch loop; a runtime subclasses it with its inputs and targets."""

    train: Sequence[Record]
    val: Sequence[Record]
    class_names: list[str]
    monitor: str
    has_val: bool
    class_weights: torch.Tensor | None = None
    sample_weights: np.ndarray | None = None  # one per training record; None = all 1
    last_val_score: float | None = None  # shown on the next epoch's progress bar
    cache_seconds: float = 0.0


@dataclass
class EpochPlan:
    """One epoch's order of samples (indices into the training set and any synthetic samples after it)."""

    order: np.ndarray
    n_synthetic: int = 0
    extra: Any = None  # the runtime's own per-epoch data (fixed views drawn, synthetic inputs)


@dataclass
class TrainStep:
    """One batch's outputs for the loss: logits and targets as the loss reads them, per-sample weights,
    and what auxiliary heads read (an object with `pooled_tap(stage)`)."""

    logits: torch.Tensor
    target: torch.Tensor
    weights: torch.Tensor | None
    aux_source: Any


class TaskRuntime:
    """Base class: a task's inputs, batches and inference for one model inside one `Trainer`."""

    def __init__(self, trainer: Trainer, cache_dir: Path | None = None) -> None:
        """`Trainer` builds every runtime as `runtime(trainer, cache_dir)`; `cache_dir` is where it may keep
        what it derives from images across runs (None: nothing on disk)."""
        self.trainer = trainer
        self.cache_dir = cache_dir

    @property
    def num_classes(self) -> int:
        """The classes the loss sees (2 for a binary mask)."""
        raise NotImplementedError

    def frozen_modules(self) -> list[nn.Module]:
        """Modules not trained on the fast path; they keep their batch-norm statistics in train mode."""
        return []

    def prepare(
        self,
        train: Sequence[Record],
        val: Sequence[Record],
        class_names: Sequence[str] | None,
        sample_weights: np.ndarray | None,
    ) -> FitData:
        raise NotImplementedError

    def plan_epoch(self, data: FitData, rng: np.random.Generator) -> EpochPlan:
        raise NotImplementedError

    def train_step(
        self, data: FitData, plan: EpochPlan, idx: np.ndarray, rng: np.random.Generator
    ) -> TrainStep:
        raise NotImplementedError

    def validate(self, data: FitData) -> dict[str, float]:
        """The task's metrics on the validation records, with the validation loss under `LOSS_MONITOR`."""
        raise NotImplementedError

    def aux_sources(self, records: Sequence[Record]) -> Iterator[Any]:
        """Per inference batch, what auxiliary heads read (called in inference mode, model in eval)."""
        raise NotImplementedError

    def predict(self, records: Sequence[Record], views: int | None = None) -> np.ndarray:
        raise NotImplementedError

    def embed(self, records: Sequence[Record]) -> np.ndarray:
        raise NotImplementedError

    def outputs(
        self, records: Sequence[Record], mc_samples: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def release(self, records: Sequence[Record]) -> None:
        """Drop what is cached in memory for `records` once it is safely on disk, so scoring a large pool a
        chunk at a time holds one chunk (`selection.memmap.streamed_outputs`). Nothing by default."""

    def targets(self, records: Sequence[Record]) -> Any:
        """What `evaluate` scores predictions against: labels (N,) or masks (N, H, W)."""
        raise NotImplementedError

    def correct(self, records: Sequence[Record]) -> np.ndarray:
        """(N,) 1 where the prediction counts as right (what the paired stopping test counts)."""
        raise NotImplementedError

    def gallery_images(self, records: Sequence[Record], folder: Path) -> list[str]:
        """What the report shows for selected images."""
        raise NotImplementedError
