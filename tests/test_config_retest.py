"""Config files that were taken without a word or read with a misleading message (issue 31, item 5, other
instances): `budget: 1e0` and `budget: "1.0"` (strings the config turns into 1.0) now warn as `1.0` does;
a folder given as the config, a UTF-16 file without a byte order mark, and a key repeated on one line
(a flow mapping) are named as such."""

from __future__ import annotations

from pathlib import Path

import pytest

from lesionlab.config import ExperimentConfig, TrainRunConfig, load_config
from lesionlab.errors import ConfigError

DATA = "data: {source: folder, root: /nowhere/images, task: lesion, options: {csv: /nowhere/l.csv}}\n"


@pytest.mark.parametrize("budget", ['"1.0"', "1e0", "1.0e+0", "' 1.00 '"])
def test_a_budget_that_reads_as_one_point_zero_is_warned_about(
    tmp_path: Path, budget: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(DATA + f"experiment: {{strategies: [random], budget: {budget}}}\n")
    config = load_config(ExperimentConfig, path)
    assert config.experiment.budget == 1.0
    assert "experiment.budget: 1.0 is read as a count, one image" in capsys.readouterr().err


@pytest.mark.parametrize("budget", ["1", '"1"', "2", "0.5"])
def test_a_count_or_a_share_is_not_warned_about(
    tmp_path: Path, budget: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(DATA + f"experiment: {{strategies: [random], budget: {budget}}}\n")
    load_config(ExperimentConfig, path)
    assert "warning" not in capsys.readouterr().err


def test_a_folder_given_as_the_config_is_named_as_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder: give the YAML file in it"):
        load_config(TrainRunConfig, tmp_path)


def test_utf16_without_a_byte_order_mark_is_named(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_bytes(DATA.encode("utf-16-le"))
    with pytest.raises(ConfigError, match=r"is not UTF-8 text \(it holds NUL bytes, as UTF-16 does\)"):
        load_config(TrainRunConfig, path)


def test_a_key_repeated_on_one_line_names_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(DATA + "train: {epochs: 2, lr: 0.1, epochs: 3}\n")
    with pytest.raises(
        ConfigError, match=r"'epochs' is written twice in one mapping \(line 2, columns 9 and 29\)"
    ):
        load_config(TrainRunConfig, path)
