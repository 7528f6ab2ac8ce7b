"""The output lock on folders it could not take before (issue 31, item 3, other instances): a file system
without locks (NFS without its lock daemon answers flock with ENOLCK) gave an OSError traceback and now
warns in one line and goes on; an output path that is a file is named as a file (was "File exists");
`embed-plot`, which writes into a run, is refused while another command holds it (it took no lock)."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lesionlab.cli import app
from lesionlab.errors import ConfigError
from lesionlab.locking import FolderInUseError, output_lock

HOLDER = """
import sys, time
from lesionlab.locking import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_file_system_without_locks_warns_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl

    def no_locks(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with output_lock(tmp_path / "out") as lock:
        (tmp_path / "out" / "results.json").write_text("{}")
        assert lock.is_file()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"warning: cannot lock the output folder {tmp_path / 'out'}" in err
    assert "No locks available" in err and "start one at a time" in err


def test_an_output_path_that_is_a_file_is_named_as_a_file(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("not a folder")
    message = r"out \(it is a file, not a folder\): choose a writable one"
    with pytest.raises(ConfigError, match=message), output_lock(tmp_path / "out"):
        pass


def test_embed_plot_is_refused_while_another_command_holds_the_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    proc = subprocess.Popen([sys.executable, str(script), str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and "held" in proc.stdout.readline()
        result = CliRunner().invoke(app, ["embed-plot", str(run)])
        assert isinstance(result.exception, FolderInUseError), result.output
        assert f"pid {proc.pid}" in str(result.exception)
    finally:
        proc.kill()
        proc.wait()
