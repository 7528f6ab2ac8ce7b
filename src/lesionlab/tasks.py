"""Tasks: what a model's head outputs, which loss and metrics apply, and how pixels become one image score.

The trainer, the runner, the evidence providers and the report ask the task instead of assuming pooled
class probabilities, so segmentation (paper 001, paper 003's second half) plugs in beside
classification. A task is small and stateless; `get_task(name)` returns the registered instance.
Torch-free: the config checks metric names against the task before any model is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lesionlab.errors import ConfigError

BINARY_METRICS = ("accuracy", "auc", "ap", "sensitivity", "specificity")
MULTICLASS_METRICS = ("accuracy", "balanced_accuracy", "macro_auc")
SEGMENTATION_METRICS = ("dice", "jaccard", "thresholded_jaccard")
# The ISIC 2017 segmentation score: a Jaccard index below 0.65 counts as 0 (Codella et al. 2018).
JACCARD_THRESHOLD = 0.65
# A metric that fails on the validation split (one class: AUC undefined) falls back to this.
LOSS_MONITOR = "loss"


@dataclass(frozen=True)
class Task:
    """Base: `output` names what the head emits; subclasses fill in the metrics and the reduction."""

    name: str
    output: str  # "class_probs" (N, C) or "pixel_probs" (N, H, W): foreground probability per pixel
    default_loss: str

    def metric_names(self, num_classes: int) -> tuple[str, ...]:
        raise NotImplementedError

    def primary_metric(self, num_classes: int) -> str:
        raise NotImplementedError

    def metrics(self, targets: Any, outputs: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
        raise NotImplementedError

    def image_scores(self, outputs: np.ndarray, reduction: str = "mean_entropy") -> np.ndarray:
        """One number per image from the head's outputs (what selection compares across images)."""
        raise NotImplementedError

    def has_target(self, record: Any) -> bool:
        """Whether `record` carries what this task learns from and is scored on (a label; a mask)."""
        return record.label is not None

    def check_metric(self, name: str, num_classes: int, field: str, allow_loss: bool = False) -> str:
        """`name` itself, the primary metric for "auto", or a ConfigError listing the valid names."""
        if name == "auto":
            return self.primary_metric(num_classes)
        valid = (*self.metric_names(num_classes), *((LOSS_MONITOR,) if allow_loss else ()))
        if name == "acc":  # the name binary results used before there was one name for accuracy
            name = "accuracy"
        if name not in valid:
            kind = f"{self.name} with {num_classes} classes" if self.name == "classification" else self.name
            raise ConfigError(
                f"{field}: {name!r} is not a metric of {kind}; choose one of: {', '.join(valid)}"
            )
        return name


@dataclass(frozen=True)
class ClassificationTask(Task):
    """Image-level classes: the head outputs class probabilities; binary tasks treat class 1 as positive."""

    name: str = "classification"
    output: str = "class_probs"
    default_loss: str = "weighted_ce"

    def metric_names(self, num_classes: int) -> tuple[str, ...]:
        return BINARY_METRICS if num_classes == 2 else MULTICLASS_METRICS

    def primary_metric(self, num_classes: int) -> str:
        return "auc" if num_classes == 2 else "macro_auc"

    def metrics(self, targets: Any, outputs: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
        from lesionlab.evaluation.metrics import compute_metrics

        return compute_metrics(targets, outputs, classes)

    def image_scores(self, outputs: np.ndarray, reduction: str = "mean_entropy") -> np.ndarray:
        """Class probabilities are already per image: their entropy (the only reduction that applies)."""
        p = np.clip(np.asarray(outputs, dtype=np.float64), 1e-12, 1.0)
        if p.ndim != 2:
            raise ValueError(f"classification outputs must be (N, C), got shape {p.shape}")
        return -(p * np.log(p)).sum(axis=1)


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


# How a foreground-probability map becomes one score per image (higher = more worth labelling).
PIXEL_REDUCTIONS = {
    "mean_entropy": lambda p: _binary_entropy(p).mean(axis=(1, 2)),
    "max_entropy": lambda p: _binary_entropy(p).max(axis=(1, 2)),
    # Mean entropy over the pixels the model is unsure of and the predicted lesion: a lesion-sized map
    # of doubt, not diluted by confident background.
    "foreground_entropy": lambda p: np.array(
        [e[m].mean() if m.any() else 0.0 for e, m in zip(_binary_entropy(p), p > 0.05, strict=True)]
    ),
}


@dataclass(frozen=True)
class SegmentationTask(Task):
    """Binary lesion masks: the head outputs a foreground probability per pixel."""

    name: str = "segmentation"
    output: str = "pixel_probs"
    default_loss: str = "ce_dice"
    threshold: float = 0.5

    def metric_names(self, num_classes: int) -> tuple[str, ...]:
        return SEGMENTATION_METRICS

    def has_target(self, record: Any) -> bool:
        return record.mask_path is not None

    def primary_metric(self, num_classes: int) -> str:
        return "jaccard"

    def per_image(self, targets: Any, outputs: np.ndarray) -> dict[str, np.ndarray]:
        """Every metric of `metrics` per image (N,), of outputs thresholded at `threshold`; two empty masks
        score 1. `metrics` is their mean, so a bootstrap over images has an interval for each of them."""
        truth = np.asarray(targets) > 0
        pred = np.asarray(outputs) > self.threshold
        if truth.shape != pred.shape or truth.ndim != 3:
            raise ValueError(f"masks and outputs must both be (N, H, W), got {truth.shape} and {pred.shape}")
        inter = (truth & pred).sum(axis=(1, 2)).astype(float)
        union = (truth | pred).sum(axis=(1, 2)).astype(float)
        total = truth.sum(axis=(1, 2)) + pred.sum(axis=(1, 2)).astype(float)
        jaccard = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        return {
            "dice": np.where(total > 0, 2 * inter / np.maximum(total, 1), 1.0),
            "jaccard": jaccard,
            "thresholded_jaccard": np.where(jaccard >= JACCARD_THRESHOLD, jaccard, 0.0),
        }

    def metrics(self, targets: Any, outputs: np.ndarray, classes: Sequence[str] = ()) -> dict[str, Any]:
        """Mean Dice, Jaccard and ISIC 2017's thresholded Jaccard over images (masks: (N, H, W) of 0/1)."""
        return {name: float(values.mean()) for name, values in self.per_image(targets, outputs).items()}

    def image_scores(self, outputs: np.ndarray, reduction: str = "mean_entropy") -> np.ndarray:
        p = np.asarray(outputs, dtype=np.float64)
        if p.ndim != 3:
            raise ValueError(f"segmentation outputs must be (N, H, W) probabilities, got shape {p.shape}")
        if reduction not in PIXEL_REDUCTIONS:
            raise ConfigError(
                f"unknown reduction {reduction!r}; choose one of: {', '.join(PIXEL_REDUCTIONS)}"
            )
        return PIXEL_REDUCTIONS[reduction](p)


_TASKS: dict[str, Task] = {"classification": ClassificationTask(), "segmentation": SegmentationTask()}


def get_task(name: str) -> Task:
    """The registered task called `name`; an unknown name lists the choices."""
    if name not in _TASKS:
        raise ConfigError(f"unknown task {name!r}; choose one of: {', '.join(_TASKS)}")
    return _TASKS[name]


def available_tasks() -> list[str]:
    return list(_TASKS)
