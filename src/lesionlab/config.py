"""Configs are data: a YAML file (or dict) validated into typed sections before any work starts.

Unknown keys are errors (a typo must not silently fall back to a default) and every message names
the field, the value and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lesionlab.errors import ConfigError
from lesionlab.training.trainer import TrainConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    source: str = "isic2017"
    root: Path | None = None  # None: the embedded demo subset of ISIC 2017
    task: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # e.g. csv=, masks= for the folder source


class ModelConfig(_Strict):
    backbone: str = "efficientnet_lite0"
    weights: str = "imagenet"
    dropout: float = 0.2


class TrainRunConfig(_Strict):
    """`lesionlab train`: one supervised run on a data source's train split, epoch picked on val."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: Path = Path("runs/train")
    cache_dir: Path | None = None  # None: $LESIONLAB_CACHE or ~/.cache/lesionlab
    check_files: bool = True


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {where}: unknown field (check the spelling)")
        else:
            lines.append(f"  {where}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of fields, not {type(data).__name__}")
    return data


def load_config(model: type[BaseModel], source: Path | dict[str, Any]) -> Any:
    """Validate a YAML file or a dict into `model`, turning pydantic errors into one readable ConfigError."""
    data = read_yaml(source) if isinstance(source, Path) else source
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(exc, str(source) if isinstance(source, Path) else "config")
        ) from exc
