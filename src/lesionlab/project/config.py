"""`project.yaml`: what a project is (task, classes, images folder, database) and how it proposes and trains.

Torch-free and pydantic-checked like `lesionlab.config`, so a typo stops a command before any work. The
database URL may be written as `env:NAME` to keep a team server's password out of the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, field_validator

from lesionlab.config import StrictModel, TrainConfig, format_validation_error, read_yaml
from lesionlab.errors import ConfigError
from lesionlab.io import write_text

CONFIG_NAME = "project.yaml"
DB_NAME = "project.db"


class StartModel(StrictModel):
    """The `lesionlab train` run a project started from (`project init --from-run`): its model is the
    project's version 0, and every `project train` chooses between it, fine-tuned from it, and ImageNet."""

    run: str  # the run's output folder, as given (absolute)
    sha256: str  # of the run's model.pt when the project started
    run_classes: list[str]
    class_map: dict[str, str]  # run class -> project class
    checkpoint: str = "models/v0000/model.pt"  # the run's model in the project's class order
    # Share of each proposal round chosen for coverage (the cold-start k-center, in the newest model's
    # embedding space) rather than by the strategy: a run's model from other clinics is confidently wrong
    # in ways its own uncertainty does not show (docs/annotation.md, "Start from a trained model").
    coverage_share: float = Field(0.5, ge=0, le=1)


class ProjectConfig(StrictModel):
    """One annotation project. Paths are relative to the project folder unless absolute."""

    name: str = Field(min_length=1)
    task: str = "classification"  # a registered task (lesionlab.tasks); checked below
    classes: list[str] = Field(min_length=2)
    images: str = Field(min_length=1)
    # SQLAlchemy URL; None = SQLite `project.db` in the project folder; `env:NAME` reads the URL from $NAME.
    database: str | None = None
    strategy: str = (
        "entropy"  # any registered strategy, used once a model exists (segmentation: pixel_entropy)
    )
    cold_start: str = "coreset"  # representativeness on pretrained embeddings, before any model
    backbone: str = "efficientnet_lite0"
    weights: str = "imagenet"
    dropout: float = Field(0.2, ge=0, lt=1)
    width: int = Field(64, ge=1)  # Zhao et al. 2022's U-Net's channels (segmentation, backbone: unet)
    train: TrainConfig = Field(default_factory=TrainConfig)
    folds: int = Field(5, ge=2)  # cross-validation folds for a model's quality estimate
    seed: int = Field(0, ge=0)
    max_upload_mb: float = Field(20.0, gt=0)  # larger mask uploads are refused
    overlap: int = Field(1, ge=1)  # how many different people annotate each image
    # masks whose mean pairwise Dice is below this go to a reviewer instead of being fused
    consensus_min_dice: float = Field(0.8, ge=0, le=1)
    start: StartModel | None = None  # a trained model the project started from (None: ImageNet)

    @field_validator("task")
    @classmethod
    def _registered(cls, value: str) -> str:
        from lesionlab.tasks import available_tasks

        if value not in available_tasks():
            raise ValueError(f"unknown task {value!r}; choose one of: {', '.join(available_tasks())}")
        return value

    @field_validator("classes")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        names = [c.strip() for c in value]
        if any(not c for c in names) or len({c.casefold() for c in names}) != len(names):
            raise ValueError(f"classes must be distinct non-empty names, got {value}")
        return names

    def images_dir(self, project_dir: Path) -> Path:
        return (Path(project_dir) / self.images).resolve()

    def database_url(self, project_dir: Path) -> str:
        if self.database is None:
            return f"sqlite:///{(Path(project_dir) / DB_NAME).resolve()}"
        if self.database.startswith("env:"):
            var = self.database[4:]
            url = os.environ.get(var)
            if not url:
                raise ConfigError(
                    f"{Path(project_dir) / CONFIG_NAME}: database reads ${var}, which is not set; "
                    f"export {var}=postgresql+psycopg://user:password@host/dbname"
                )
            return url
        return self.database


def read_project_config(project_dir: Path) -> ProjectConfig:
    path = Path(project_dir) / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(
            f"{project_dir} is not an annotation project (no {CONFIG_NAME}); create one with "
            f"`lesionlab project init {project_dir} --images FOLDER --classes A,B`"
        )
    try:
        return ProjectConfig.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from exc


def write_project_config(project_dir: Path, config: ProjectConfig) -> None:
    data = config.model_dump(mode="json", exclude_none=True)
    write_text(Path(project_dir) / CONFIG_NAME, yaml.safe_dump(data, sort_keys=False))
