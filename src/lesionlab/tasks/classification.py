"""Image-level classification: the head outputs class probabilities; binary tasks treat class 1 as positive.

The model is a `LesionClassifier` (lesionlab.models.registry) and the runtime `ClassifierRuntime`
(lesionlab.training.classification): trunk-activation cache, fixed views, mosaics and mix-ups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lesionlab.tasks.base import Task

BINARY_METRICS = ("accuracy", "auc", "ap", "sensitivity", "specificity")
MULTICLASS_METRICS = ("accuracy", "balanced_accuracy", "macro_auc")


@dataclass(frozen=True)
class ClassificationTask(Task):
    """One class per image, scored by AUC (binary) or macro AUC (several classes)."""

    name: str = "classification"
    output: str = "class_probs"
    default_loss: str = "weighted_ce"
    target: str = "label"
    class_labels: bool = True
    strategy_hint: str = "pixel_* strategies and ceal are for task: segmentation"

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

    def build_model(self, model: Any, num_classes: int, seed: int = 0) -> Any:
        from lesionlab.models.registry import create_classifier

        return create_classifier(model.backbone, num_classes, model.weights, model.dropout, seed=seed)

    def runtime(self) -> type:
        from lesionlab.training.classification import ClassifierRuntime

        return ClassifierRuntime
