"""A full disk while writing a model or a report (issue 31, item 7): one line naming the folder, the file
and about how much space is needed, never a traceback; after a report-only failure the next step is
`lesionlab report`, since the results are saved."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from lesionlab.cli import app
from lesionlab.io import DiskFullError, next_step, write_json
from lesionlab.runner.checkpoints import save_weights
from test_report import TWO_BY_TWO, make_results


class _FullDisk(io.RawIOBase):
    """A file whose disk fills after `room` bytes: the write that crosses it raises ENOSPC."""

    def __init__(self, real: Any, room: int) -> None:
        self.real, self.room = real, room

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.real.write(data)

    def close(self) -> None:
        self.real.close()
        super().close()


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch):
    """After this, every atomic write in lesionlab finds only `room` bytes of free space."""

    def fill(room: int) -> None:
        real_fdopen = os.fdopen
        monkeypatch.setattr(
            os, "fdopen", lambda fd, mode="r", *a, **k: _FullDisk(real_fdopen(fd, mode), room)
        )

    return fill


def test_a_json_write_on_a_full_disk_names_the_folder_and_the_exact_size(tmp_path: Path, full_disk) -> None:
    target = tmp_path / "out" / "results.json"
    write_json(target, {"old": True})
    full_disk(10)
    with pytest.raises(DiskFullError) as caught:
        write_json(target, {"x": "y" * 2_000_000})
    message = str(caught.value)
    assert message.startswith(
        f"no space left in {target.parent} while writing results.json (about 2.0 MB needed"
    )
    assert "\n" not in message and message.endswith(
        "then run the same command again (what was finished is kept)"
    )
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.ENOSPC  # caches still skip it
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]  # no temporary file left
    assert target.read_text().strip() == '{\n  "old": true\n}'


def test_a_model_write_on_a_full_disk_says_the_models_size(tmp_path: Path, full_disk) -> None:
    model = torch.nn.Linear(1000, 1000)  # 4.0 MB of float32 weights
    full_disk(100_000)  # torch.save wraps the OSError in a RuntimeError: still recognised
    with pytest.raises(
        DiskFullError, match=rf"no space left in {tmp_path} while writing round_3.pt \(about 4.0 MB"
    ):
        save_weights(model, tmp_path / "round_3.pt")
    assert not list(tmp_path.iterdir())


def test_next_step_replaces_the_rerun_advice() -> None:
    with (
        pytest.raises(DiskFullError, match=r"then run `lesionlab report runs/x`$"),
        next_step("run `lesionlab report runs/x`"),
    ):
        raise DiskFullError(Path("runs/x/report.html"), 10, True)


def test_a_report_that_fails_on_a_full_disk_after_the_run_says_lesionlab_report(
    tmp_path: Path, full_disk, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    results = make_results(tmp_path, TWO_BY_TWO)
    monkeypatch.setattr("lesionlab.runner.experiment.run_experiment", lambda *a, **k: results)
    config = tmp_path / "exp.yaml"
    config.write_text(f"experiment:\n  strategies: [random, entropy]\noutput: {out}\n")
    full_disk(1000)  # the run's results.json is written; the report's figures do not fit
    result = CliRunner().invoke(app, ["run", str(config)])
    assert isinstance(result.exception, DiskFullError), result.output
    message = str(result.exception)
    assert message.startswith(f"no space left in {out} while writing ") and "\n" not in message
    assert message.endswith(
        f"then run `lesionlab report {out}` (the results are saved in {out / 'results.json'})"
    )


def test_a_full_disk_outside_lesionlabs_writes_is_one_line_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A library writing on its own (here torch, which wraps the OSError in a RuntimeError)."""
    import sys

    from lesionlab import cli

    def run_experiment(*args: Any, **kwargs: Any) -> None:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "x.npy"))
        except OSError as exc:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos") from exc

    monkeypatch.setattr("lesionlab.runner.experiment.run_experiment", run_experiment)
    config = tmp_path / "exp.yaml"
    config.write_text(f"experiment: {{}}\noutput: {tmp_path / 'run'}\n")
    monkeypatch.setattr(sys, "argv", ["lesionlab", "run", str(config)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: no space left on the device while writing {tmp_path / 'run' / 'x.npy'}: ")
    assert "Traceback" not in err
