"""Configs that were taken silently (issue 31, item 5, and the non-UTF-8 file of item 7): a key written
twice, a blank output, true/false for a number, `budget: 1.0`; each is one clear line, or a warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lesionlab.cli import app
from lesionlab.config import ExperimentConfig, TrainRunConfig, load_config, read_yaml
from lesionlab.errors import ConfigError
from lesionlab.selfsup.config import PretrainConfig


def _file(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "config.yaml"
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("text", "key", "lines"),
    [
        ("experiment:\n  budget: 2\n  rounds: 3\n  budget: 4\n", "budget", (2, 4)),
        ("output: runs/a\nexperiment: {}\noutput: runs/b\n", "output", (1, 3)),
        ("train:\n  lr: 0.1\ntrain:\n  epochs: 2\n", "train", (1, 3)),
    ],
)
def test_a_key_written_twice_names_the_key_and_both_lines(
    tmp_path: Path, text: str, key: str, lines: tuple[int, int]
) -> None:
    path = _file(tmp_path, text)
    message = (
        f"config file {path}: key '{key}' is written twice in one mapping (lines {lines[0]} and {lines[1]})"
    )
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_yaml(path)


def test_merged_keys_may_still_be_overridden(tmp_path: Path) -> None:
    path = _file(tmp_path, "base: &b\n  epochs: 3\n  lr: 0.1\ntrain:\n  <<: *b\n  epochs: 5\n")
    assert read_yaml(path)["train"] == {"epochs": 5, "lr": 0.1}


@pytest.mark.parametrize("output", ["", "   "])
@pytest.mark.parametrize("model", [ExperimentConfig, TrainRunConfig, PretrainConfig])
def test_a_blank_output_is_refused(model: type, output: str) -> None:
    with pytest.raises(
        ConfigError, match=r"output: .*a path cannot be empty \(that means the current folder\)"
    ):
        load_config(model, {"output": output})


def test_blank_data_root_and_cache_dir_are_refused_too() -> None:
    with pytest.raises(ConfigError, match=r"data.root: .*cannot be empty"):
        load_config(TrainRunConfig, {"data": {"root": ""}})
    with pytest.raises(ConfigError, match=r"cache_dir: .*cannot be empty"):
        load_config(TrainRunConfig, {"cache_dir": " "})


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"experiment": {"budget": True}}, "experiment.budget"),
        ({"experiment": {"rounds": False}}, "experiment.rounds"),
        ({"experiment": {"seeds": [0, True]}}, "experiment.seeds"),
        ({"experiment": {"initial": {"size": True}}}, "experiment.initial.size"),
        ({"train": {"epochs": True}}, "train.epochs"),
        ({"train": {"lr": True}}, "train.lr"),
        ({"train": {"num_threads": True}}, "train.num_threads"),
        ({"experiment": {"full_data": {"auc": True}}}, "experiment.full_data"),
    ],
)
def test_true_or_false_where_a_number_is_expected_is_refused(payload: dict, where: str) -> None:
    with pytest.raises(ConfigError, match=rf"{where}: .*a number is expected here, not true/false"):
        load_config(ExperimentConfig, payload)


def test_booleans_stay_booleans_where_they_are_meant() -> None:
    config = load_config(ExperimentConfig, {"train": {"amp": False, "progress": False}, "check_files": False})
    assert config.train.amp is False and config.check_files is False


def test_budget_one_point_zero_warns_how_to_write_a_count_or_the_whole_pool(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = load_config(ExperimentConfig, _file(tmp_path, "experiment:\n  budget: 1.0\n"))
    assert config.experiment.budget == 1.0  # still one image per round, as documented
    err = capsys.readouterr().err
    assert "warning: experiment.budget: 1.0 is read as a count, one image" in err
    assert "for 100 % of the pool write its size as a whole number" in err
    for quiet in ("experiment:\n  budget: 1\n", "experiment:\n  budget: 0.5\n", "experiment:\n  budget: 8\n"):
        load_config(ExperimentConfig, _file(tmp_path, quiet))
        assert capsys.readouterr().err == ""
    load_config(ExperimentConfig, {"experiment": {"initial": {"size": 1.0}}})
    assert "experiment.initial.size: 1.0 is read as a count" in capsys.readouterr().err


def test_a_config_that_is_not_utf8_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = _file(tmp_path, "experiment:\n  name: café\n", encoding="latin-1")
    with pytest.raises(ConfigError, match=rf"config file {path} is not UTF-8 text \(byte 0xe9 at offset"):
        read_yaml(path)
    result = CliRunner().invoke(app, ["run", str(path)])
    assert isinstance(result.exception, ConfigError) and "save it as UTF-8" in str(result.exception)
    # A UTF-8 byte order mark (some Windows editors write one) is fine.
    bom = _file(tmp_path, "\ufeffexperiment:\n  name: café\n")
    assert read_yaml(bom)["experiment"]["name"] == "café"


@pytest.mark.parametrize(("name", "params"), [("ceal", {"pseudo": True}), ("vaal", {"epochs": False})])
def test_true_or_false_for_a_strategys_number_is_refused(name: str, params: dict) -> None:
    """`experiment.strategy_params` pass through the config untyped: the strategy's signature decides."""
    from lesionlab.selection.base import get_strategy

    key = next(iter(params))
    with pytest.raises(ConfigError, match=f"strategy '{name}': {key} must be a number, not true/false"):
        get_strategy(name, **params)
    assert get_strategy("coreset", prune=True) is not None  # a boolean where one is meant
