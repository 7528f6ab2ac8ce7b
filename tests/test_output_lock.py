"""One writer per output folder (issue 31, item 3): a second command on a folder another process writes is
refused naming that process; the lock goes with its holder, even on `kill -9`; and the worker processes
of a killed `lesionlab run --engine local` stop with it instead of writing on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fake_isic import TinyIsic, make_tiny_isic
from lesionlab.cli import app
from lesionlab.locking import LOCK_NAME, FolderInUseError, output_lock, read_holder

HOLDER = """
import sys, time
from lesionlab.locking import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def _lesionlab() -> list[str]:
    """The installed `lesionlab` command (as a user runs it), else the module."""
    script = Path(sys.executable).parent / "lesionlab"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lesionlab.cli"]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _wait_for_line(proc: subprocess.Popen, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if text in line:
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"the holder never said {text!r} (exit code {proc.poll()})")


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    """Another process holding the lock of tmp_path/out, as a running command would."""
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out)], stdout=subprocess.PIPE, text=True, env=_env()
    )
    _wait_for_line(proc, "held")
    yield proc, out
    proc.kill()
    proc.wait()


def _experiment_yaml(path: Path, root: Path, out: Path, **experiment: object) -> Path:
    config = {
        "name": "lock",
        "data": {"source": "isic2017", "root": str(root), "task": "melanoma"},
        "train": {"resolution": 32, "epochs": 2, "views": 1, "batch_size": 8, "num_threads": 1},
        "experiment": {
            "strategies": ["random", "least_confidence"],
            "seeds": [0],
            "initial": {"kind": "random", "size": 0.2},
            "budget": 0.2,
            "rounds": 2,
            **experiment,
        },
        "output": str(out),
        "cache_dir": str(path.parent / "cache"),
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_a_second_run_is_refused_naming_the_holder_until_the_holder_is_killed(
    holder: tuple[subprocess.Popen, Path], tmp_path: Path
) -> None:
    proc, out = holder
    config = _experiment_yaml(tmp_path / "b.yaml", tmp_path / "nowhere", out, budget=3)
    second = subprocess.run(
        [*_lesionlab(), "run", str(config)], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert second.returncode == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
    assert f"{out} is in use by another lesionlab command (pid {proc.pid}" in lines[0]
    assert "holder.py" in lines[0] and "wait until it ends, or choose another output folder" in lines[0]
    assert not (out / "state").exists()  # the refused run wrote nothing

    proc.send_signal(signal.SIGKILL)  # no clean-up at all: the kernel releases the lock
    proc.wait()
    with output_lock(out):  # a new run proceeds ...
        assert read_holder(out)["pid"] == os.getpid()
    again = subprocess.run(
        [*_lesionlab(), "run", str(config)], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert "in use" not in again.stderr and "nowhere" in again.stderr  # ... to the (missing) data


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyIsic:
    return make_tiny_isic(tmp_path_factory.mktemp("lock") / "isic2017")


def test_train_pretrain_audit_report_and_project_train_refuse_a_locked_folder(
    holder: tuple[subprocess.Popen, Path], tmp_path: Path, tiny: TinyIsic
) -> None:
    proc, out = holder
    runner = CliRunner()
    data = {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"}
    train = tmp_path / "train.yaml"
    train.write_text(yaml.safe_dump({"data": data, "output": str(out)}))
    pretrain = tmp_path / "pretrain.yaml"
    pretrain.write_text(yaml.safe_dump({"data": data, "output": str(out)}))
    commands = [
        ["train", str(train)],
        ["pretrain", str(pretrain)],
        ["audit", str(train), "--out", str(out)],
        ["report", str(out)],
    ]
    (out / "results.json").write_text(json.dumps({"metric": "auc", "runs": []}))  # read before locking
    for args in commands:
        result = runner.invoke(app, args)
        assert isinstance(result.exception, FolderInUseError), (args, result.output, result.exception)
        assert f"pid {proc.pid}" in str(result.exception)
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME, "results.json"]  # nothing else written

    from lesionlab.project import init_project
    from lesionlab.project.training import train_project
    from project_fixtures import CLASSES, make_images

    make_images(tmp_path / "images", n=4)
    with (
        init_project(out, tmp_path / "images", CLASSES, show_progress=False) as project,
        pytest.raises(FolderInUseError, match=f"pid {proc.pid}.*another project folder"),
    ):
        train_project(project, show_progress=False)


def test_the_lock_is_reentrant_in_one_process_and_released_at_the_end(tmp_path: Path) -> None:
    with output_lock(tmp_path / "out"), output_lock(tmp_path / "out"):
        pass
    code = f"from lesionlab.locking import output_lock\nwith output_lock({str(tmp_path / 'out')!r}): pass"
    assert subprocess.run([sys.executable, "-c", code], env=_env(), timeout=60).returncode == 0


def test_a_finished_command_leaves_no_lock_file_nor_an_empty_folder_it_created(tmp_path: Path) -> None:
    with output_lock(tmp_path / "new" / "out"):
        pass
    assert not (tmp_path / "new").exists()  # e.g. a train refused for a bad backbone leaves nothing
    with output_lock(tmp_path / "kept") as lock:
        (tmp_path / "kept" / "results.json").write_text("{}")
    assert not lock.exists() and [p.name for p in (tmp_path / "kept").iterdir()] == ["results.json"]


def test_a_lock_on_a_file_its_holder_removed_does_not_count(tmp_path: Path) -> None:
    """The holder removes the lock file as it ends; a process that opened it just before must not count
    the lock it then takes on the removed file (another may hold the new one)."""
    from lesionlab.locking import _still_named

    path = tmp_path / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        assert _still_named(path, fd)
        path.unlink()
        assert not _still_named(path, fd)
        path.touch()  # a new lock file under the same name
        assert not _still_named(path, fd)
    finally:
        os.close(fd)


def _children(pid: int) -> list[int]:
    """Live child processes of `pid` that are `multiprocessing` spawned workers (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _alive(int(entry.name)):
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status is left to collect


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_run_stops_its_local_workers_and_frees_the_folder(tmp_path: Path, tiny: TinyIsic) -> None:
    out = tmp_path / "out"
    # Long enough that the workers are still training when the parent is killed.
    config = _experiment_yaml(tmp_path / "a.yaml", tiny.root, out, rounds=6)
    cmd = [*_lesionlab(), "run", str(config), "--engine", "local", "--workers", "2"]
    parent = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        deadline = time.monotonic() + 120
        while len(workers := _children(parent.pid)) < 2 and time.monotonic() < deadline:
            assert parent.poll() is None, parent.stderr.read()
            time.sleep(0.2)
        assert len(workers) == 2
        # A second run of the same experiment with another budget is refused, naming the first.
        other = _experiment_yaml(tmp_path / "b.yaml", tiny.root, out, rounds=6, budget=3)
        second = subprocess.run(
            [*_lesionlab(), "run", str(other)], capture_output=True, text=True, env=_env(), timeout=120
        )
        assert second.returncode == 2 and f"(pid {parent.pid}" in second.stderr, second.stderr
        assert f"run {config}" in second.stderr  # the holder's command line
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if _alive(w)], "workers outlived their killed parent"
        with output_lock(out):  # the folder is free for the next run
            pass
    finally:
        parent.kill()
        parent.wait()
        for w in _children(parent.pid):
            os.kill(w, signal.SIGKILL)
