"""One writer per output folder: an OS lock held for a command's whole life, released by the OS however
the command ends.

Two commands writing one folder at once mix their files (issue 31: two `lesionlab run` on one output left
one `results.json` holding both budgets). So every command that writes a folder (`run`, `demo`, `train`,
`pretrain`, `audit`, `project train`) first takes `output_lock(folder)`: an exclusive, non-blocking
`fcntl.flock` on FOLDER/.lesionlab.lock. The kernel drops the lock when the holder's process ends, by a
normal exit, an exception or `kill -9`, so a lock is never stale and never needs removing by hand. The
file records the holder's pid, command and start time, which a refused command names. A holder that ends
normally removes the file (and the folder, when it created it and nothing else was written: a command
refused for a bad config leaves no empty output folder behind); after a `kill -9` the file stays,
unlocked, and the next command takes it over. Since a file may be removed between another process's
open and its lock, a lock counts only if the path still names the file that was locked.

The lock is re-entrant within one process (the command line and the library call it makes may both take
it). Its descriptor is not inherited by child processes (PEP 446): worker processes of `--engine local`
hold no lock, and stop when their parent dies (`runner.engines`). On Windows `msvcrt.locking` on the first
byte gives the same behaviour. On a network file system the lock is only as good as that system's flock
(NFS v4 honours it across clients; some FUSE mounts do not).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lesionlab.errors import ConfigError, LesionlabError

LOCK_NAME = ".lesionlab.lock"
_held: dict[Path, list] = {}  # lock file -> [descriptor, depth, folders created] of this process's locks
_guard = threading.Lock()


class FolderInUseError(LesionlabError):
    """Another process holds the folder's lock: its writes and ours would interleave."""


def command_line() -> str:
    """This process's command as a person typed it, e.g. `lesionlab run exp.yaml --engine local`."""
    argv = sys.argv or ["python"]
    return shlex.join([Path(argv[0]).name, *argv[1:]])


@contextmanager
def output_lock(folder: Path | str, what: str = "output folder") -> Iterator[Path]:
    """Hold FOLDER's lock for the block (creating the folder); refuse at once if another process holds it.

    `what` names the folder in messages ("output folder", "project folder").
    """
    folder = Path(folder)
    path = (folder / LOCK_NAME).absolute()
    with _guard:
        if path in _held:
            _held[path][1] += 1
        else:
            created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
            _held[path] = [_acquire(path, what), 1, created]
    try:
        yield path
    finally:
        with _guard:
            entry = _held[path]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[path]
                _release(path, entry[0], entry[2])


def _release(path: Path, fd: int, created: list[Path]) -> None:
    """Remove the lock file while still holding it, then the folders the lock created if left empty."""
    try:
        path.unlink(missing_ok=True)
        for folder in created:  # deepest first
            folder.rmdir()
    except OSError:  # not empty (the command wrote its files), or Windows keeps open files
        pass
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _acquire(path: Path, what: str) -> int:
    folder = path.parent
    for _ in range(100):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # less the umask, like any user file
        except FileNotFoundError:  # a finishing holder removed the folder it had created: again
            continue
        except OSError as exc:
            reason = "it is a file, not a folder" if folder.is_file() else exc.strerror or exc
            raise ConfigError(
                f"cannot write to the {what} {folder} ({reason}): choose a writable one"
            ) from None
        try:
            locked = _try_lock(fd)
        except OSError as exc:  # a file system without locks (NFS without lockd: ENOLCK, some FUSE mounts)
            print(
                f"warning: cannot lock the {what} {folder}: its file system does not support locks "
                f"({exc.strerror or exc}); nothing stops a second command writing it at the same time, so "
                "start one at a time (or use a folder on a local disk)",
                file=sys.stderr,
                flush=True,
            )
            break
        if not locked:
            holder = _holder(fd)
            os.close(fd)
            raise FolderInUseError(
                f"{folder} is in use by another lesionlab command ({holder}): wait until it ends, or "
                f"choose another {what}"
            )
        if _still_named(path, fd):
            break
        os.close(fd)  # its holder removed that file as it finished: lock the one the path names now
    else:
        raise ConfigError(f"cannot lock the {what} {folder}: other processes keep removing it or its lock")
    record = {
        "pid": os.getpid(),
        "command": command_line(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
    return fd


def _still_named(path: Path, fd: int) -> bool:
    try:
        named, held = os.stat(path), os.fstat(fd)
    except OSError:
        return False
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock on `fd` without waiting; False if another process holds it."""
    if sys.platform == "win32":  # pragma: no cover - we run on Linux; same semantics on process exit
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)  # msvcrt locks bytes from the current position
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(fd: int) -> str:
    """Who holds the lock, from the record it wrote (it may still be writing it: try for a moment)."""
    for _ in range(10):
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            record = json.loads(os.read(fd, 4096).decode("utf-8"))
            return (
                f"pid {record['pid']} on {record['host']}, started {record['started']}: {record['command']}"
            )
        except (ValueError, KeyError, TypeError, OSError):
            time.sleep(0.05)
    return "its pid is not recorded"


def read_holder(folder: Path | str) -> dict | None:
    """The record of FOLDER's lock (pid, command, host, started) while it is held, or None."""
    try:
        return json.loads((Path(folder) / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
