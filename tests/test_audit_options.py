"""`lesionlab audit` options out of range (issue 31: no silent wrong result, one clear line): `--folds 0` or
`1` ran as 2 folds while audit.json recorded the number asked for, and `--top -5` showed every image but
the five least suspect; they are refused before anything loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lesionlab.cli import app
from lesionlab.errors import ConfigError


@pytest.mark.parametrize("option", [["--folds", "1"], ["--folds", "0"], ["--top", "-5"], ["--views", "0"]])
def test_audit_refuses_options_out_of_range(tmp_path: Path, option: list[str]) -> None:
    result = CliRunner().invoke(app, ["audit", str(tmp_path / "train.yaml"), *option])
    assert isinstance(result.exception, ConfigError), result.output
    assert "--folds must be >= 2 (cross-validation), --top >= 0 and --views >= 1" in str(result.exception)
