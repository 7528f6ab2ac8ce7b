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
