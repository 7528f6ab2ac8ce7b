"""Binary lesion segmentation: the head outputs a foreground probability per pixel.

Metrics are the ISIC 2017 challenge's (Codella et al. 2018, "Skin lesion analysis toward melanoma detection:
a challenge at the 2017 ISBI"): Dice, Jaccard and the thresholded Jaccard. The model is a U-Net
(lesionlab.models.unet) and the runtime `SegmenterRuntime` (lesionlab.training.segmentation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lesionlab.errors import ConfigError
from lesionlab.tasks.base import Task

SEGMENTATION_METRICS = ("dice", "jaccard", "thresholded_jaccard")
# The ISIC 2017 segmentation score: a Jaccard index below 0.65 counts as 0 (Codella et al. 2018).
JACCARD_THRESHOLD = 0.65
# A classification backbone name under task: segmentation means the U-Net on that encoder.
SEGMENTATION_ALIASES = {"efficientnet_lite0": "unet_lite0", "resnet18": "unet_resnet18"}


def binary_entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


# How a foreground-probability map becomes one score per image (higher = more worth labelling).
PIXEL_REDUCTIONS = {
    "mean_entropy": lambda p: binary_entropy(p).mean(axis=(1, 2)),
    "max_entropy": lambda p: binary_entropy(p).max(axis=(1, 2)),
    # Mean entropy over the pixels the model is unsure of and the predicted lesion: a lesion-sized map
    # of doubt, not diluted by confident background.
    "foreground_entropy": lambda p: np.array(
        [e[m].mean() if m.any() else 0.0 for e, m in zip(binary_entropy(p), p > 0.05, strict=True)]
    ),
}


def segmentation_backbone(name: str) -> str:
    return SEGMENTATION_ALIASES.get(name, name)


@dataclass(frozen=True)
class SegmentationTask(Task):
    """Binary lesion masks, scored by Jaccard; outputs thresholded at `threshold`."""

    name: str = "segmentation"
    output: str = "pixel_probs"
    default_loss: str = "ce_dice"
    target: str = "mask"
    class_labels: bool = False
    metrics_always_defined: bool = True  # two empty masks agree: Dice and Jaccard are defined on any set
    pool_requirement: str = "labelled and with a mask"
    missing_split_hint: str = " with masks (ISIC 2017 has none for test: set experiment.evaluate_on: val)"
    strategy_hint: str = (
        "for segmentation use pixel_entropy, pixel_mc_dropout, pixel_ens_s, pixel_ens_js or ceal"
    )
    project_strategy: str | None = "pixel_entropy"
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

    def correct(self, targets: Any, outputs: np.ndarray) -> np.ndarray:
        """(N,) 1 where an image's Jaccard reaches ISIC 2017's 0.65 (what the paired stopping test counts)."""
        return (self.per_image(targets, outputs)["jaccard"] >= JACCARD_THRESHOLD).astype(int)

    def unsupported_options(self, config: Any) -> list[str]:
        """Options that act on class labels: a mask has no wrong class to answer or audit."""
        exp = config.experiment
        class_label_only = {
            "experiment.learning acft_hq (re-trains on misclassified images)": exp.learning == "acft_hq",
            f"experiment.oracle {exp.oracle} (its wrong answers are class labels, never masks)": (
                exp.oracle != "simulated"
            ),
            "experiment.audit.every_round (audits class labels, not masks)": exp.audit.every_round,
            "experiment.pool_scoring onnxruntime (exports classifiers only)": (
                exp.pool_scoring == "onnxruntime"
            ),
        }
        return [name for name, used in class_label_only.items() if used]

    def check_files(self, report: Any) -> None:
        """Masks that are all background or all lesion are refused with their files named."""
        from lesionlab.data.mask_stats import check_masks

        check_masks(report.mask_fractions)

    def loss_predictor(self, model: Any) -> Any:
        """On the U-Net's encoder maps, learning the Dice loss (Kim et al.'s target loss for segmentation)."""
        from lesionlab.models.loss_predictor import LossPredictor

        return LossPredictor.for_segmenter(model)

    def build_model(self, model: Any, num_classes: int, seed: int = 0) -> Any:
        from lesionlab.models.unet import create_segmenter

        return create_segmenter(
            segmentation_backbone(model.backbone), model.weights, model.dropout, seed, model.width
        )

    def runtime(self) -> type:
        from lesionlab.training.segmentation import SegmenterRuntime

        return SegmenterRuntime
