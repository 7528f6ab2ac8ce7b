"""The model and trainer a task needs: one place the runner and `lesionlab train` ask, so neither branches
on the task beyond this call (classification: `LesionClassifier` + `Trainer`; segmentation: a U-Net +
`SegTrainer`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lesionlab.config import ModelConfig, TrainConfig
from lesionlab.tasks import Task

# A classification backbone name under task: segmentation means the U-Net on that encoder.
SEGMENTATION_ALIASES = {"efficientnet_lite0": "unet_lite0", "resnet18": "unet_resnet18"}


def segmentation_backbone(name: str) -> str:
    return SEGMENTATION_ALIASES.get(name, name)


def build_model(task: Task, model: ModelConfig, num_classes: int, seed: int = 0) -> Any:
    """A fresh model for `task` as configured, its new layers initialised from `seed`."""
    if task.output == "pixel_probs":
        from lesionlab.models.unet import create_segmenter

        return create_segmenter(
            segmentation_backbone(model.backbone), model.weights, model.dropout, seed, model.width
        )
    from lesionlab.models.registry import create_classifier

    return create_classifier(model.backbone, num_classes, model.weights, model.dropout, seed=seed)


def build_trainer(
    task: Task,
    model: Any,
    config: TrainConfig,
    cache_dir: Path | None = None,
    aux_heads: Sequence[Any] = (),
    callbacks: Sequence[Any] = (),
) -> Any:
    """The trainer of `task` for `model` (same constructor and the same fit / predict / embed / outputs /
    evaluate / correct methods either way)."""
    if task.output == "pixel_probs":
        from lesionlab.training.seg_trainer import SegTrainer

        return SegTrainer(model, config, cache_dir, task, aux_heads, callbacks)
    from lesionlab.training.trainer import Trainer

    return Trainer(model, config, cache_dir, task, aux_heads, callbacks)


def save_model(model: Any, path: Path, meta: dict | None = None) -> None:
    """Write `model` with `meta` as the checkpoint its own loader reads (atomic either way)."""
    from lesionlab.models.unet import Segmenter, save_segmenter

    if isinstance(model, Segmenter):
        save_segmenter(model, path, meta)
        return
    from lesionlab.models.registry import save_checkpoint

    save_checkpoint(model, path, meta)
