"""Configs are data: a YAML file (or dict) validated into typed sections before any work starts.

Unknown keys are errors (a typo must not silently fall back to a default) and every message names
the field, the value and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

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
        # Dataclass sections (e.g. `train`, a TrainConfig) report a typo as an unexpected keyword argument.
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
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


class InitialConfig(_Strict):
    """The labelled set before round 1: random k % (paper 000: 10 %), empty, or a cold-start strategy."""

    kind: Literal["random", "empty", "strategy"] = "random"
    size: float = 0.1  # a fraction of the pool if < 1, else a count
    strategy: str | None = None  # for kind "strategy": a strategy that needs no model (e.g. pca_lsh)


class ExperimentSection(_Strict):
    strategies: list[str] = Field(default_factory=lambda: ["random", "least_confidence", "entropy"])
    strategy_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    initial: InitialConfig = Field(default_factory=InitialConfig)
    budget: float = 0.1  # per round: a fraction of the pool if < 1, else a count
    rounds: int = 4  # acquisition rounds after the initial set
    stopping: Literal["fixed", "paper000"] = "fixed"
    stopping_alpha: float = 0.05
    learning: Literal["retrain", "acft_q", "acft_lq", "acft_hq"] = "retrain"
    mc_samples: int = 10
    ensemble_size: int = 3
    metric: str = "auto"  # primary metric: auc (binary) / macro_auc (multi-class) unless set
    evaluate_on: Literal["test", "val"] = "test"
    gallery_size: int = 8
    full_data: dict[str, float] | None = None  # reference line for curves (e.g. from benchmarks/results)


class ExperimentConfig(_Strict):
    """`lesionlab run`: a simulated-oracle active-learning experiment (labels hidden until bought)."""

    name: str = "experiment"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    experiment: ExperimentSection = Field(default_factory=ExperimentSection)
    output: Path = Path("runs/experiment")
    cache_dir: Path | None = None
    check_files: bool = True
