"""Models of a project: a pretrained backbone before any training, or a saved version's checkpoint.

Everything goes through `models/registry.py` and `training/trainer.py`, with the project's `train` settings
(the CPU fast path by default), so a project model is built and trained exactly like a `lesionlab train` run.
"""

from __future__ import annotations

from pathlib import Path

from lesionlab.errors import DataError
from lesionlab.project.models import ModelVersion
from lesionlab.project.project import Project


def new_trainer(
    project: Project, weights: str | Path | None = None, seed: int | None = None, progress: bool = True
):
    """A Trainer over a fresh model (the configured pretrained weights, or `weights`), cache in DIR/cache."""
    from lesionlab.models.registry import create_classifier
    from lesionlab.training.trainer import Trainer

    cfg = project.config
    seed = cfg.seed if seed is None else seed
    model = create_classifier(
        cfg.backbone,
        len(cfg.classes),
        weights if weights is not None else cfg.weights,
        cfg.dropout,
        seed=seed,
    )
    train = cfg.train.updated(seed=seed, progress=cfg.train.progress and progress)
    return Trainer(model, train, cache_dir=project.cache_dir)


def latest_version(project: Project) -> ModelVersion | None:
    versions = project.store.model_versions()
    return versions[-1] if versions else None


def load_version(project: Project, version: ModelVersion, progress: bool = True):
    """A Trainer over the checkpoint of `version`."""
    path = project.dir / version.checkpoint
    if not path.is_file():
        raise DataError(
            f"model version {version.id}'s checkpoint {path} is missing; run `lesionlab project train` again"
        )
    return new_trainer(project, weights=path, progress=progress)
