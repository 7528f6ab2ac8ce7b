"""Progress bars that show on a terminal and stay quiet in logs, CI and pipes."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.progress import track

T = TypeVar("T")


def progress(
    items: Iterable[T], description: str, total: int | None = None, enabled: bool = True
) -> Iterator[T]:
    """`rich` progress bar over `items`, shown only when `enabled` and stderr is a terminal."""
    if not (enabled and sys.stderr.isatty()):
        yield from items
        return
    yield from track(items, description=description, total=total, transient=True)


def log_line(message: str, enabled: bool = True) -> None:
    """One line of progress on stderr when it is not a terminal (logs, CI, `nohup`), where no bar shows.

    On a terminal the bars carry this information; elsewhere a long run would otherwise say nothing
    until it ends.
    """
    if enabled and not sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)


def eta(done: int, total: int, elapsed: float) -> str:
    """'ETA 3 min 20 s' from the mean time per finished unit."""
    if done <= 0 or done >= total:
        return "ETA 0 s"
    left = elapsed / done * (total - done)
    minutes, seconds = divmod(round(left), 60)
    return f"ETA {minutes} min {seconds} s" if minutes else f"ETA {seconds} s"
