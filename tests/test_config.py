"""Config files: typos, wrong types, missing files and broken YAML are one readable ConfigError."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lesionlab.config import ExperimentConfig, TrainRunConfig, load_config
from lesionlab.errors import ConfigError
from lesionlab.training.trainer import TrainConfig


def _write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_file_is_typed(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "data:\n  source: isic2017\n  root: /data/isic\n"
        "train:\n  epochs: 3\n  lr: 0.001\n  freeze_stages: 0\n"
        "experiment:\n  strategies: [random, bald]\n  budget: 20\n",
    )
    cfg = load_config(ExperimentConfig, path)
    assert isinstance(cfg.train, TrainConfig)
    assert cfg.train.epochs == 3 and cfg.train.lr == 0.001 and cfg.train.freeze_stages == 0
    assert cfg.train.batch_size == TrainConfig().batch_size  # untouched fields keep their defaults
    assert cfg.data.root == Path("/data/isic")
    assert cfg.experiment.strategies == ["random", "bald"] and cfg.experiment.budget == 20


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("trian:\n  epochs: 3\n", "trian"),
        ("train:\n  epoch: 3\n", "train.epoch"),
        ("model:\n  backbone: resnet18\n  weigths: none\n", "model.weigths"),
        ("experiment:\n  stratgies: [random]\n", "experiment.stratgies"),
        ("experiment:\n  initial:\n    sise: 0.2\n", "experiment.initial.sise"),
    ],
)
def test_typo_is_an_unknown_field(tmp_path: Path, text: str, field: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(ExperimentConfig, path)
    message = str(err.value)
    assert f"{field}: unknown field" in message
    assert str(path) in message


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("train:\n  epochs: many\n", "train.epochs", "many"),
        ("train:\n  lr: fast\n", "train.lr", "fast"),
        ("experiment:\n  seeds: 3\n", "experiment.seeds", "3"),
        ("experiment:\n  stopping: never\n", "experiment.stopping", "never"),
    ],
)
def test_wrong_type_names_field_and_value(tmp_path: Path, text: str, field: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(ExperimentConfig, _write(tmp_path, text))
    message = str(err.value)
    assert field in message and value in message
    assert "unknown field" not in message


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path, "train:\n  epoch: 3\n  lr: fast\noutptu: runs/x\n")
    with pytest.raises(ConfigError) as err:
        load_config(TrainRunConfig, path)
    message = str(err.value)
    for part in ("train.epoch: unknown field", "train.lr", "outptu: unknown field"):
        assert part in message


def test_dict_source(tmp_path: Path) -> None:
    cfg = load_config(TrainRunConfig, {"train": {"epochs": 2}, "output": str(tmp_path)})
    assert cfg.train.epochs == 2 and cfg.output == tmp_path
    with pytest.raises(ConfigError, match=r"invalid configuration in config:\n  train\.epochz: unknown"):
        load_config(TrainRunConfig, {"train": {"epochz": 2}})


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="does not exist") as err:
        load_config(TrainRunConfig, path)
    assert str(path) in str(err.value)


def test_invalid_yaml(tmp_path: Path) -> None:
    path = _write(tmp_path, "train:\n  epochs: [3\n  lr: 0.1\n")
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        load_config(TrainRunConfig, path)
    assert str(path) in str(err.value)


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path, "- train\n- epochs\n")
    with pytest.raises(ConfigError, match="mapping") as err:
        load_config(TrainRunConfig, path)
    assert str(path) in str(err.value)


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    cfg = load_config(TrainRunConfig, _write(tmp_path, ""))
    assert cfg == TrainRunConfig()


@pytest.mark.parametrize(
    ("section", "field", "value", "message"),
    [
        ("model", "dropout", 1.5, "model.dropout: Input should be less than 1"),
        ("model", "dropout", -0.1, "model.dropout: Input should be greater than or equal to 0"),
        ("experiment", "stopping_alpha", 1.0, "experiment.stopping_alpha: Input should be less than 1"),
        ("experiment", "mc_samples", 0, "experiment.mc_samples: Input should be greater than or equal to 1"),
        ("experiment", "oracle_noise", 1.0, "experiment.oracle_noise: Input should be less than 1"),
        ("experiment", "budget", float("inf"), "experiment.budget: Input should be a finite number"),
        ("experiment", "gallery_size", -1, "experiment.gallery_size: Input should be greater than or equal"),
    ],
)
def test_every_bounded_field_is_checked_on_load(
    section: str, field: str, value: object, message: str
) -> None:
    from lesionlab.config import ExperimentConfig

    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(ExperimentConfig, {section: {field: value}})
