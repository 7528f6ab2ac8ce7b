"""An empty command-line value (`--out ''`, `--out=`: typically an unset shell variable) is refused in one
line naming the option, instead of becoming the current folder (issue 31, item 5's class)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lesionlab.cli_args import refuse_blank_arguments
from lesionlab.errors import ConfigError


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["demo", "--out", ""], "--out"),
        (["demo", "--out="], "--out"),
        (["audit", "run", "--out", "  "], "--out"),
        (["train", ""], "argument 2"),
    ],
)
def test_empty_values_are_refused_naming_the_option(argv: list[str], named: str) -> None:
    with pytest.raises(ConfigError, match=f"^{named} is empty"):
        refuse_blank_arguments(argv)


def test_ordinary_arguments_pass() -> None:
    refuse_blank_arguments(["run", "cfg.yaml", "--out", ".", "--set", "train.epochs=5"])


def test_the_command_line_stops_before_writing_anything(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from lesionlab.cli import main; main()", "demo", "--out", ""],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "--out is empty" in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []
