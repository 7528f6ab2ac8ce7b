"""What every benchmark results file records, and the one function that writes it.

A number in `results/<name>.json` is only worth keeping if it can be traced to the code that produced it:
the git commit (and whether the tree had uncommitted changes under `src/` or `benchmarks/`, which the
commit alone would not show), the package versions, the command line, the machine and the wall time,
next to the script's own `config` and `seeds`. Every script writes its results through `write_outputs`,
so no results file can leave any of this out.

The git state is read when this module is imported (the start of the script: the code that ran) and
again when the file is written; a tree dirty at either moment is flagged, and a commit that moved during
the run is recorded as `commit_at_write`. Files the benchmarks themselves write (`benchmarks/results/`)
do not count as changes. Units kept in partial files (`*.partial.json`) may come from earlier runs, at
earlier commits: the record is that of the run that wrote the summary.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lesionlab.io import write_json, write_text
from lesionlab.versions import versions

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
# Paths whose uncommitted changes make a result untraceable to its commit; the benchmarks' own outputs
# (results/) change during every run and are excluded.
WATCHED = ("src", "benchmarks", ":(exclude)benchmarks/results")
MAX_CHANGED = 20  # changed paths listed in the record (the count is always complete)
REQUIRED = ("config", "seeds")


def _git(repo: Path, *args: str) -> str | None:
    """Output of one git command in `repo`, or None without git or outside a repository."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def git_state(repo: Path = REPO) -> dict[str, Any]:
    """{"commit", "commit_short", "dirty", "changed"}: HEAD and the uncommitted changes under `WATCHED`.

    All None when `repo` is not a git checkout (e.g. an unpacked archive): unknown, not clean.
    """
    head = _git(repo, "rev-parse", "HEAD")
    status = _git(repo, "status", "--porcelain", "--untracked-files=normal", "--", *WATCHED)
    if head is None or status is None:
        return {"commit": None, "commit_short": None, "dirty": None, "changed": None}
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    short = (_git(repo, "rev-parse", "--short", "HEAD") or head[:7]).strip()
    return {"commit": head.strip(), "commit_short": short, "dirty": bool(changed), "changed": changed}


def machine() -> dict[str, Any]:
    """Cores, CPU model and what torch uses: enough to tell whether two timings are comparable."""
    import torch

    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "usable_cores": usable,
        "cpu_model": cpu_model(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "platform": platform.platform(),
    }


def cpu_model() -> str:
    """The CPU's marketing name (Linux: /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


STARTED = time.time()
STARTED_GIT = git_state()


def provenance(
    repo: Path = REPO, started: float = STARTED, at_start: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The record of this run: git state (at the start and now), command line, start and wall time.

    `at_start` defaults to the state read at import for this repository (read now for another one).
    """
    if at_start is None:
        at_start = STARTED_GIT if repo == REPO else git_state(repo)
    start = at_start
    now = git_state(repo)
    changed = sorted({*(start["changed"] or []), *(now["changed"] or [])})
    dirty = None if start["dirty"] is None and now["dirty"] is None else bool(start["dirty"] or now["dirty"])
    record = {
        "commit": start["commit"] or now["commit"],
        "commit_short": start["commit_short"] or now["commit_short"],
        "dirty": dirty,
        "n_changed": len(changed),
        "changed": changed[:MAX_CHANGED],
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "started_utc": _utc(started),
        "written_utc": _utc(time.time()),
        "wall_seconds": round(time.time() - started, 1),
    }
    if start["commit"] and now["commit"] and now["commit"] != start["commit"]:
        record["commit_at_write"] = now["commit"]
    return record


def _utc(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds")


def write_outputs(json_path: Path, payload: dict[str, Any], md_lines: list[str], repo: Path = REPO) -> None:
    """Write a benchmark's JSON (its payload plus provenance, versions and machine) and its markdown.

    The payload must name its `config` and `seeds` (None where a script has none), so every results file
    says what was run; a missing one is a programming error, caught before hours of results are summarised.
    """
    missing = [key for key in REQUIRED if key not in payload]
    if missing:
        raise ValueError(
            f"{json_path.name}: the payload has no {' or '.join(missing)}; add it (None if none)"
        )
    record = {**payload, "provenance": provenance(repo), "versions": versions(), "machine": machine()}
    write_json(json_path, record)
    write_text(json_path.with_suffix(".md"), "\n".join(md_lines) + "\n")


__all__ = ["REPO", "STARTED", "cpu_model", "git_state", "machine", "provenance", "write_outputs"]
