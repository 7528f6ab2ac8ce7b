"""Atomic file writes: a temporary file in the same folder, then a rename, so nothing is half-written.

Temporary names are unique (`tempfile.mkstemp`), so two runs writing the same file side by side never
write into one temporary file; the last rename wins with a whole file. A full disk (or quota) while writing
is a `DiskFullError`: one line naming the folder, the file and about how much space it needs.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from lesionlab.errors import LesionlabError

RERUN = "run the same command again (what was finished is kept)"


class DiskFullError(LesionlabError, OSError):
    """No space left (or the quota reached) while writing a file: says where, about how much is needed,
    and what to run once there is space (`step`; a caller that knows better replaces it, `then`).

    Also an OSError (ENOSPC), so code that already treats a failed write as optional (caches) still does.
    """

    def __init__(self, path: Path, needed: int, exact: bool, step: str = RERUN) -> None:
        self.path, self.needed, self.exact, self.step = Path(path), needed, exact, step
        folder = self.path.parent
        try:
            free = f"{_mb(shutil.disk_usage(folder).free)} free"
        except OSError:
            free = "free space unknown"
        need = f"{'about' if exact else 'at least'} {_mb(needed)} needed"
        self.message = (
            f"no space left in {folder} while writing {self.path.name} ({need}, {free}): free some space "
            f"(e.g. `lesionlab cache clear --stale`), then {step}"
        )
        super().__init__(errno.ENOSPC, self.message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple:  # travels between processes (worker units, Ray tasks) intact
        return (DiskFullError, (self.path, self.needed, self.exact, self.step))

    def then(self, step: str) -> DiskFullError:
        """The same error with another next step, e.g. `lesionlab report RUN` after a report-only failure."""
        return DiskFullError(self.path, self.needed, self.exact, step)


@contextmanager
def next_step(step: str) -> Iterator[None]:
    """Inside the block, a full disk says to run `step` once there is space (instead of the command)."""
    try:
        yield
    except DiskFullError as exc:
        raise exc.then(step) from None


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def disk_full(exc: BaseException) -> bool:
    """Whether `exc` or what caused it is ENOSPC / EDQUOT (torch.save wraps it in a RuntimeError)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def user_message(exc: BaseException) -> str | None:
    """The one line the command line prints for `exc`: a LesionlabError's message, or for a full disk met
    outside lesionlab's atomic writes (a library writing on its own) the file and what to do; None: a bug,
    which keeps its traceback."""
    if isinstance(exc, LesionlabError):
        return str(exc)
    if not disk_full(exc):
        return None
    cause: BaseException | None = exc
    while cause is not None and not getattr(cause, "filename", None):
        cause = cause.__cause__ or cause.__context__
    where = f" while writing {cause.filename}" if cause is not None else ""  # type: ignore[attr-defined]
    advice = "free some space (e.g. `lesionlab cache clear --stale`)"
    return f"no space left on the device{where}: {advice}, then {RERUN}"


def tensor_bytes(tensors: Iterable[Any]) -> int:
    """Bytes of the arrays or tensors in `tensors` (a state dict's values): a model file's size, roughly."""
    return sum(int(getattr(t, "nbytes", 0)) for t in tensors)


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
def atomic_file(path: Path, mode: str = "wb", expected_bytes: int = 0) -> Iterator[IO[Any]]:
    """A file object to write `path` through: it appears complete when the block ends, or not at all.

    On any failure (including a kill signal raised as an exception) the previous file, if any, is intact
    and the temporary file is removed. A full disk raises `DiskFullError`; `expected_bytes` (the size
    about to be written, if the caller knows it) makes its estimate of the space needed exact.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        if disk_full(exc):
            raise DiskFullError(path, expected_bytes, expected_bytes > 0) from None
        raise
    os.chmod(tmp, shared_mode())  # mkstemp makes 0600; the file is as readable as any the user writes
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException as exc:
        written = _size(Path(tmp))
        Path(tmp).unlink(missing_ok=True)
        if disk_full(exc):
            # Without the caller's size: what was written before the disk filled, or the previous file.
            needed = max(expected_bytes, written, _size(path))
            raise DiskFullError(path, needed, expected_bytes > 0 or _size(path) > 0) from None
        raise


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def write_text(path: Path, text: str) -> None:
    """Write `text` atomically as UTF-8 (whatever the machine's locale); on failure the previous file (if
    any) is intact and no temp file remains."""
    data = text.encode("utf-8")
    with atomic_file(path, "wb", expected_bytes=len(data)) as fh:
        fh.write(data)


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically (numpy values and paths converted)."""
    write_text(path, json.dumps(payload, indent=2, default=_jsonable) + "\n")
