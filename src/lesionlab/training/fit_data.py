"""What `Trainer.fit` returns (`FitResult` with its per-epoch history), class and sample weights, and the
augmentation recipes by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import get_args

import numpy as np
import torch

from lesionlab.config import TrainConfig
from lesionlab.data.augment import light_augmentation, paper000_augmentation

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


def checked_weights(weights: np.ndarray | None, n: int) -> np.ndarray | None:
    """Per-sample weights as float32 (n,), finite and >= 0, with a positive sum; None stays None."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float32)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"sample weights must be {n} finite numbers >= 0 with a positive sum")
    return w
