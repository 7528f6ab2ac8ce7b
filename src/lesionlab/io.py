"""Atomic file writes: a temporary file in the same folder, then a rename, so nothing is half-written.

Temporary names are unique (`tempfile.mkstemp`), so two runs writing the same file side by side never
write into one temporary file; the last rename wins with a whole file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def shared_mode() -> int:
    """0666 less the process umask: the mode an ordinary `open(path, "w")` would give a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_file(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """A file object to write `path` through: it appears complete when the block ends, or not at all.

    On any failure (including a kill signal raised as an exception) the previous file, if any, is intact
    and the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, shared_mode())  # mkstemp makes 0600; the file is as readable as any the user writes
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Write `text` atomically as UTF-8 (whatever the machine's locale); on failure the previous file (if
    any) is intact and no temp file remains."""
    with atomic_file(path, "wb") as fh:
        fh.write(text.encode("utf-8"))


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically (numpy values and paths converted)."""
    write_text(path, json.dumps(payload, indent=2, default=_jsonable) + "\n")
