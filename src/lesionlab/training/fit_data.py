"""What `Trainer.fit` prepares once and returns: inputs and targets (`FitData`), class and sample weights,
the augmentation recipes by name, and the `FitResult` with its per-epoch history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import get_args

import numpy as np
import torch

from lesionlab.config import TrainConfig
from lesionlab.data.augment import light_augmentation, paper000_augmentation
from lesionlab.data.records import Record

AUGMENTATIONS: dict[str, Callable[[], Callable[[torch.Tensor], torch.Tensor]] | None] = {
    "paper000": paper000_augmentation,
    "light": light_augmentation,
    "none": None,
}
CLASS_WEIGHTS: tuple[str, ...] = get_args(TrainConfig.model_fields["class_weights"].annotation)


def class_weight_vector(counts: np.ndarray, scheme: str) -> torch.Tensor | None:
    """Per-class loss weights from label counts; absent classes count as one image (no division by 0)."""
    if scheme == "none":
        return None
    balanced = counts.sum() / (len(counts) * np.maximum(counts, 1))
    return torch.tensor(np.sqrt(balanced) if scheme == "sqrt" else balanced, dtype=torch.float32)


@dataclass
class FitResult:
    best_epoch: int
    best_score: float | None
    history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    cache_seconds: float = 0.0
    images_per_second: float = 0.0
    synthetic_per_epoch: list[int] = field(default_factory=list)  # also each history row's "n_synthetic"
    monitor: str = ""  # the validation metric the epoch was picked on ("loss" after a fallback)


@dataclass
class FitData:
    """Everything `fit` prepares once before the epoch loop: inputs, targets, weights and the monitor."""

    train: Sequence[Record]
    val: Sequence[Record]
    class_names: list[str]
    labels: np.ndarray
    x_train: torch.Tensor  # (V, N, ...) inputs of every fixed view
    x_val: torch.Tensor | None
    y_train: torch.Tensor  # (N, C) soft targets: one-hot for ordinary images
    sources: np.ndarray | None  # decoded training images for synthetic samples
    class_weights: torch.Tensor | None
    monitor: str
    sample_weights: np.ndarray | None = None  # one per training record; None = all 1
    last_val_score: float | None = None  # shown on the next epoch's progress bar
    cache_seconds: float = 0.0


def _checked_weights(weights: np.ndarray | None, n: int) -> np.ndarray | None:
    """Per-sample weights as float32 (n,), finite and >= 0, with a positive sum; None stays None."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float32)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"sample weights must be {n} finite numbers >= 0 with a positive sum")
    return w
