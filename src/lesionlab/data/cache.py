"""A cache of decoded, resized, preprocessed images, so JPEGs are decoded once rather than every round.

Entries are one `.npy` file per image rather than one memmap per batch: the pool is read in a different
order and grouping every round, images are added and invalidated one at a time, and a per-image file
can be replaced atomically on its own. At 224 px an entry is 147 KB, so the file count, not the size,
is the cost, and it is fine for datasets of tens of thousands of images.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from lesionlab.data.fingerprint import content_key
from lesionlab.data.preprocess import _check_size, _unreadable, check_preprocessing, load_image

# Part of every key: bump it when decoding or preprocessing changes, so old entries are never reused.
CACHE_FORMAT_VERSION = 2
_TMP_PREFIX = ".tmp-"
_STALE_TMP_SECONDS = 3600


def decoded_dir_name(size: int, preprocessing: str) -> str:
    """The folder of one setting's entries; it names the format so `lesionlab cache` can spot old ones."""
    return f"v{CACHE_FORMAT_VERSION}_{size}_{preprocessing}"


def default_cache_dir() -> Path:
    """Where decoded images go unless told otherwise: `$LESIONLAB_CACHE`, else `~/.cache/lesionlab`."""
    env = os.environ.get("LESIONLAB_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "lesionlab"


class ImageCache:
    """Decoded images keyed by the file's content, so an edited file is decoded again and a copied or
    re-extracted data set is not.

    `cache_dir=None` keeps entries in memory only (for tests and one-off runs; unbounded). Otherwise
    entries live in `cache_dir/v<format>_<size>_<preprocessing>/`. Writes go to a temporary file in the same
    directory and are moved into place with `os.replace`, so a killed process leaves at worst a stray
    temporary file (removed by a later run), never a half-written entry. Entries of files that changed
    are not deleted; they are simply never looked up again.
    """

    def __init__(self, cache_dir: Path | None, size: int, preprocessing: str) -> None:
        check_preprocessing(preprocessing)
        if size is None:
            raise ValueError("ImageCache needs a fixed size so cached images can be stacked")
        _check_size(size)
        self.size = int(size)
        self.preprocessing = preprocessing
        name = decoded_dir_name(self.size, preprocessing)
        self.directory = None if cache_dir is None else Path(cache_dir).expanduser() / name
        self._memory: dict[str, np.ndarray] = {}
        self._write_failed = False
        if self.directory is not None:
            self._remove_stale_temporaries()

    def get(self, path: Path | str) -> np.ndarray:
        """The image at `path` as HxWx3 uint8, decoded only if no valid entry exists."""
        key = self._key(Path(path))
        if self.directory is None:
            if key not in self._memory:
                self._memory[key] = self._decode(path)
            return self._memory[key].copy()
        entry = self.directory / f"{key}.npy"
        cached = self._read(entry)
        if cached is not None:
            return cached
        arr = self._decode(path)
        self._write(entry, arr)
        return arr

    def get_many(self, paths: Iterable[Path | str], progress: bool = False) -> np.ndarray:
        """Images stacked as (N, size, size, 3) uint8, in the order given."""
        paths = list(paths)
        out = np.empty((len(paths), self.size, self.size, 3), dtype=np.uint8)
        for i, path in enumerate(_track(paths, progress, f"Loading {len(paths)} images")):
            out[i] = self.get(path)
        return out

    def _decode(self, path: Path | str) -> np.ndarray:
        # Looked up through the module so tests can count decodes.
        return load_image(Path(path), self.size, self.preprocessing)

    def _key(self, path: Path) -> str:
        try:
            content = content_key(path)
        except FileNotFoundError:
            raise _unreadable(path, "file not found") from None
        except OSError as e:
            raise _unreadable(path, e) from e
        return hashlib.sha256(f"{CACHE_FORMAT_VERSION}:{content}".encode()).hexdigest()[:32]

    def _read(self, entry: Path) -> np.ndarray | None:
        """A valid entry, or None; unreadable or wrong-shaped entries count as misses and get rewritten."""
        try:
            arr = np.load(entry, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if arr.shape != (self.size, self.size, 3) or arr.dtype != np.uint8:
            return None
        return arr

    def _write(self, entry: Path, arr: np.ndarray) -> None:
        """Atomic write; an unwritable cache only costs speed, so it warns once instead of failing."""
        if self._write_failed:
            return
        tmp: str | None = None
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=_TMP_PREFIX, suffix=".npy")
            with os.fdopen(fd, "wb") as f:
                np.save(f, arr, allow_pickle=False)
            os.replace(tmp, entry)
            tmp = None
        except OSError as e:
            self._write_failed = True
            warnings.warn(
                f"image cache {self.directory} cannot be written ({e}); images will be decoded every time. "
                "Set LESIONLAB_CACHE to a writable directory to cache them.",
                RuntimeWarning,
                stacklevel=3,
            )
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def _remove_stale_temporaries(self) -> None:
        """Temporaries left by killed processes; old ones only, so concurrent writers are not disturbed."""
        assert self.directory is not None
        cutoff = time.time() - _STALE_TMP_SECONDS
        try:
            with os.scandir(self.directory) as it:
                for e in it:
                    if e.name.startswith(_TMP_PREFIX):
                        with contextlib.suppress(OSError):
                            if e.stat().st_mtime < cutoff:
                                os.unlink(e.path)
        except OSError:
            pass


def _track(items: Sequence[Path | str], progress: bool, description: str) -> Iterable[Path | str]:
    """A progress bar on stderr only when asked for and a person is watching."""
    if not (progress and sys.stderr.isatty()):
        return items
    from rich.console import Console
    from rich.progress import track

    return track(items, description=description, console=Console(stderr=True))
