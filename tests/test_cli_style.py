"""How the command line reads (issue 34, item 4): help without type labels on flags and with plain
argument names, every error in one `error: ...` style (usage errors too), a missing split that says how
to add one, and the package licence as an SPDX expression (the table form warned on every install)."""

from __future__ import annotations

import re
import sys
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from fake_isic import lesion_image
from lesionlab import cli
from lesionlab.cli import app
from lesionlab.config import TrainConfig
from lesionlab.data.sources import load_source
from lesionlab.errors import DataError
from lesionlab.runner.checks import check_data
from lesionlab.tasks import get_task

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _commands(command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path of the app: (), ("train",), ("project", "init"), ..."""
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


ALL = list(_commands(typer.main.get_command(app)))


def test_the_walk_finds_the_commands() -> None:
    assert {("train",), ("run",), ("cache", "clear"), ("project", "init"), ("datasets", "describe")} <= set(
        ALL
    )


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "lesionlab")
def test_help_has_no_type_labels_on_flags_and_plain_argument_names(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output  # a flag takes no value
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage  # `CONFIG`, not `{config}`


def test_arguments_are_named_in_capitals() -> None:
    result = runner.invoke(app, ["choose-rule", "--help"], prog_name="lesionlab")
    assert "Usage: lesionlab choose-rule [OPTIONS] RUN_DIR" in result.output
    assert "RUN_DIR/decision_rule.json" in " ".join(result.output.split())  # as the help text names it


def _main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["lesionlab", *args])
    try:
        cli.main()
    except SystemExit as exit_info:
        return exit_info.code, capsys.readouterr().err
    return 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["train"], "error: Missing argument 'CONFIG' (see `lesionlab train --help`)"),
        (
            ["train", "c.yaml", "--epochs", "3"],
            "error: No such option: --epochs (see `lesionlab train --help`)",
        ),
        (["cache", "info", "--bogus"], "error: No such option: --bogus (see `lesionlab cache info --help`)"),
        (["nosuch"], "error: No such command 'nosuch' (see `lesionlab --help`)"),
        (["demo", "--seeds", "two"], "error: Invalid value for '--seeds'"),
    ],
)
def test_usage_errors_are_one_line_in_the_common_style(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, args: list[str], line: str
) -> None:
    code, err = _main(monkeypatch, capsys, *args)
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith(line), err
    assert "╭" not in err and "Error" not in err.split(":")[0]


def test_help_ends_with_success(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(sys, "argv", ["lesionlab", "train", "--help"])
    cli.main()  # returns: exit status 0
    captured = capsys.readouterr()
    assert "Usage: lesionlab train [OPTIONS] CONFIG" in captured.out and captured.err == ""


# ------------------------------------------------------------------------ a split the data lacks


@pytest.fixture
def folder_without_splits(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "images"
    images.mkdir()
    rows = ["image_id,label"]
    for k in range(8):
        lesion_image(k, melanoma=k % 2 == 1).save(images / f"im{k}.png")
        rows.append(f"im{k},{'melanoma' if k % 2 else 'benign'}")
    csv = tmp_path / "labels.csv"
    csv.write_text("\n".join(rows) + "\n")
    return images, csv


def test_no_test_split_says_how_to_add_one(folder_without_splits: tuple[Path, Path]) -> None:
    images, csv = folder_without_splits
    dataset = load_source("folder", images, csv=csv)
    with pytest.raises(DataError) as error:
        check_data(dataset, dataset.split("train"), [], get_task("classification"), "test")
    message = str(error.value)
    assert message.startswith("folder has no 'test' split to evaluate on: write test in the `split` column")
    assert str(csv) in message


def test_train_without_test_images_says_why_there_are_no_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Before: an empty `test metrics (0 images)` table, which reads as a failure."""
    import lesionlab.supervised

    result = {"dataset": "folder", "n_test": 0, "best_epoch": 2, "config": {"output": str(tmp_path)}}
    monkeypatch.setattr(lesionlab.supervised, "train_run", lambda config, force=False: result)
    config = tmp_path / "c.yaml"
    config.write_text(f"output: {tmp_path / 'run'}\n")
    code, err = _main(monkeypatch, capsys, "train", str(config))
    assert code == 0
    assert "note: folder has no test images, so no metrics" in " ".join(err.split())
    assert "`split` column" in err


def test_describe_names_no_placeholder_task_and_advises_settings_that_exist(
    folder_without_splits: tuple[Path, Path],
) -> None:
    """It said `task: folder` (no such setting: a config's task is classification or segmentation) and
    `train.resize: center_crop or pad` (not a value); a missing split now says how to add one."""
    images, csv = folder_without_splits
    Image.new("RGB", (60, 40), (120, 80, 60)).save(images / "wide.png")
    with csv.open("a") as f:
        f.write("wide,benign\n")
    args = ["datasets", "describe", "folder", "--root", str(images), "--csv", str(csv)]
    result = runner.invoke(app, args, terminal_width=300)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert text.startswith("folder (9 images, 2 classes)") and "task: folder" not in text
    assert f"note: no val / test split in this source (write val / test in a `split` column of {csv})" in text
    assert "set train.resize to center_crop or pad" in text
    choices = typing.get_args(TrainConfig.model_fields["resize"].annotation)
    for value, after in re.findall(r"train\.resize: (\w+)( or)?", text):
        assert value in choices and not after, text  # `key: value` advice is a value one can write


# ------------------------------------------------------------------------ packaging


def test_licence_is_an_spdx_expression() -> None:
    """The table form `{text = ...}` is deprecated: setuptools warned on every build of the package."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"
    requires = pyproject["build-system"]["requires"]
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in requires)  # PEP 639 support
