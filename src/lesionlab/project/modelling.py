"""Models of a project: a pretrained backbone before any training, or a saved version's checkpoint.

Everything goes through the task's model and trainer factory (`training/factory.py`: the task's model and
the one `Trainer`) with the project's `train` settings (the CPU fast path by default), so a project model
is built and trained exactly like a `lesionlab train` run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lesionlab.errors import DataError
from lesionlab.project.models import ModelVersion
from lesionlab.project.project import Project


def new_trainer(
    project: Project, weights: str | Path | None = None, seed: int | None = None, progress: bool = True
) -> Any:
    """A trainer over a fresh model (the configured pretrained weights, or `weights`), cache in DIR/cache.

    A project started from a trained model (`config.start`) starts a model from that one by default
    (version 0, the run's weights in the project's class order); `project train` passes `weights` to try
    the configured pretrained weights too (`start_choice`)."""
    from lesionlab.config import ModelConfig
    from lesionlab.tasks import get_task
    from lesionlab.training.factory import build_model, build_trainer

    cfg = project.config
    seed = cfg.seed if seed is None else seed
    if weights is None and cfg.start is not None:
        weights = project.dir / cfg.start.checkpoint
    task = get_task(cfg.task)
    model_cfg = ModelConfig(
        backbone=cfg.backbone,
        weights=str(weights) if weights is not None else cfg.weights,
        dropout=cfg.dropout,
        width=cfg.width,
    )
    model = build_model(task, model_cfg, len(cfg.classes), seed=seed)
    train = cfg.train.updated(seed=seed, progress=cfg.train.progress and progress)
    return build_trainer(task, model, train, cache_dir=project.cache_dir)


def latest_version(project: Project) -> ModelVersion | None:
    versions = project.store.model_versions()
    return versions[-1] if versions else None


def load_version(project: Project, version: ModelVersion, progress: bool = True) -> Any:
    """A trainer over the checkpoint of `version`."""
    path = project.dir / version.checkpoint
    if not path.is_file():
        raise DataError(
            f"model version {version.id}'s checkpoint {path} is missing; run `lesionlab project train` again"
        )
    return new_trainer(project, weights=path, progress=progress)
