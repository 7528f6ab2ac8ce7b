"""A once-per-run note is said once by a run whose units train in several processes (issue 31, item 9,
another instance): `lesionlab run --engine local` printed "the best validation epoch is the last allowed
... (said once per run)" once per worker unit (3 times for 4 units, measured), since each process kept
its own memory of what it had said."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WORKER = """
import sys
from lesionlab.progress import say_once, share_notes
share_notes(sys.argv[1] if sys.argv[1] != "-" else None)
say_once("best-epoch-is-last", "note: the best epoch is the last allowed (said once per run)")
say_once("best-epoch-is-last", "note: the best epoch is the last allowed (said once per run)")
"""


def _said(folder: str, processes: int = 3) -> int:
    said = 0
    for _ in range(processes):
        done = subprocess.run(
            [sys.executable, "-c", WORKER, folder], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        said += done.stderr.count("note: the best epoch is the last allowed")
    return said


def test_processes_of_one_run_say_a_note_once(tmp_path: Path) -> None:
    assert _said(str(tmp_path)) == 1


def test_without_a_shared_folder_each_process_says_it_once(tmp_path: Path) -> None:
    assert _said("-") == 3  # separate commands: each says it
    assert _said(str(tmp_path / "gone")) == 3  # a node without the run's folder says it rather than not
