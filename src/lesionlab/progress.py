"""Progress for every long phase: a bar on a terminal, a line every `LINE_PERIOD_SECONDS` elsewhere.

A run started with `nohup`, in CI or in a container log has no terminal; a bar is invisible there, so
without lines a cache fill of ten minutes looks like a hang. A phase shorter than the period prints no
line at all, so short runs and tests stay quiet.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sized
from pathlib import Path
from typing import TextIO, TypeVar

T = TypeVar("T")

# Seconds between two progress lines of one phase when stderr is not a terminal (tests set it to 0).
LINE_PERIOD_SECONDS = 10.0

_said: set[str] = set()  # keys of `say_once` notes already printed by this process
_shared: Path | None = None  # a folder the processes of one run share their said notes through


def progress(
    items: Iterable[T],
    description: str,
    total: int | None = None,
    enabled: bool = True,
    stream: TextIO | None = None,
) -> Iterator[T]:
    """`items`, reporting progress on `stream` (stderr, looked up at each call) when `enabled`.

    On a terminal: a transient `rich` bar. Otherwise: `description: done/total (ETA)` at most once per
    `LINE_PERIOD_SECONDS`, and a closing line if any was printed.
    """
    if not enabled:
        yield from items
        return
    out = sys.stderr if stream is None else stream
    if total is None and isinstance(items, Sized):
        total = len(items)
    if _is_terminal(out):
        from rich.console import Console
        from rich.progress import track

        console = Console(file=out)
        yield from track(items, description=description, total=total, transient=True, console=console)
        return
    yield from _with_lines(items, description, total, out)


def _with_lines(items: Iterable[T], description: str, total: int | None, out: TextIO) -> Iterator[T]:
    start = last = time.perf_counter()
    done, printed = 0, False
    for item in items:
        yield item
        done += 1
        now = time.perf_counter()
        if now - last >= LINE_PERIOD_SECONDS and (total is None or done < total):
            of = "" if total is None else f"/{total} ({eta(done, total, now - start)})"
            print(f"{description}: {done}{of}", file=out, flush=True)
            last, printed = now, True
    if printed or (LINE_PERIOD_SECONDS <= 0 and done):
        print(f"{description}: {done} done in {time.perf_counter() - start:.0f} s", file=out, flush=True)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or minimal stream is no terminal
        return False


def log_line(message: str, enabled: bool = True) -> None:
    """One line of progress on stderr when it is not a terminal (logs, CI, `nohup`), where no bar shows.

    On a terminal the bars carry this information; elsewhere a long run would otherwise say nothing
    until it ends.
    """
    if enabled and not _is_terminal(sys.stderr):
        print(message, file=sys.stderr, flush=True)


def say_once(key: str, message: str, enabled: bool = True) -> bool:
    """Print `message` on stderr the first time this process is asked to with `key`; True if printed.

    For advice that holds for the whole run (e.g. "the best epoch is the last allowed"): an experiment
    fits a model every round, and repeating the same advice sixteen times buries the other lines.
    """
    if not enabled or key in _said:
        return False
    _said.add(key)
    if _shared is not None:  # the first process of the run to say it creates the marker; others stay quiet
        marker = _shared / hashlib.sha256(key.encode()).hexdigest()[:16]
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            return False
        except OSError:  # no shared folder here (a Ray node without the output folder): say it
            pass
    print(message, file=sys.stderr, flush=True)
    return True


def share_notes(folder: str | Path | None) -> None:
    """Make `say_once` once per run across processes: the worker processes (`--engine local`) and Ray
    tasks of one run each train, and each said "the best epoch is the last allowed" once (one note per
    unit). With `folder` (created by the run, removed after), only the first process to say a note does."""
    global _shared
    _shared = None if folder is None else Path(folder)


def eta(done: int, total: int, elapsed: float) -> str:
    """'ETA 3 min 20 s' from the mean time per finished unit."""
    if done <= 0 or done >= total:
        return "ETA 0 s"
    left = elapsed / done * (total - done)
    minutes, seconds = divmod(round(left), 60)
    return f"ETA {minutes} min {seconds} s" if minutes else f"ETA {seconds} s"
