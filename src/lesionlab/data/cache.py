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
import tempfile
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from lesionlab.data.fingerprint import content_key
from lesionlab.data.preprocess import (
    check_preprocessing,
    check_resize,
    check_size,
    load_image,
    unreadable_error,
)
from lesionlab.io import shared_mode
from lesionlab.progress import progress as progress_lines

# Part of every key: bump it when decoding or preprocessing changes, so old entries are never reused
# (and bump the activation cache's ACTIVATION_FORMAT with it: activations are computed from these images).
# 3: every Pillow mode converted by its real range (16-bit, float), alpha composited on white.
# 4: EXIF orientation applied (one decoder, `open_rgb`, for training, pages and thumbnails).
CACHE_FORMAT_VERSION = 4
TMP_PREFIX = ".tmp-"
_STALE_TMP_SECONDS = 3600


def decoded_dir_name(size: int, preprocessing: str, resize: str = "squash") -> str:
    """The folder of one setting's entries; it names the format so `lesionlab cache` can spot old ones.

    `squash` (the default) adds nothing, so folder names stay short for the common case.
    """
    suffix = "" if resize == "squash" else f"_{resize}"
    return f"v{CACHE_FORMAT_VERSION}_{size}_{preprocessing}{suffix}"


def write_failure(directory: Path | None, error: OSError) -> str:
    """One line saying why a cache folder cannot be written and how to fix it (full disk, a file in the
    way, no permission); caches then only cost speed, so callers warn with it and carry on."""
    return (
        f"cache folder {directory} cannot be written ({error.strerror or error}); continuing without "
        "saving to it. Free space (`lesionlab cache clear` removes the caches) or set LESIONLAB_CACHE "
        "to a writable folder."
    )


def read_array(path: Path, dtype: np.dtype | type, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
    """The array saved at `path`, or None if it is missing, damaged or not of this dtype (and shape).

    The header is checked against the file's size before any data is read, so a damaged entry that
    claims a huge shape costs nothing (np.load would try to allocate it), and an empty or truncated
    one is a miss rather than an EOFError (which the command line turns into a bare "Aborted.").
    """
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            saved_shape, fortran, saved_dtype = read_header(fh)
            if fortran or saved_dtype != np.dtype(dtype) or (shape is not None and saved_shape != shape):
                return None
            expected = int(np.prod(saved_shape)) * saved_dtype.itemsize
            if os.fstat(fh.fileno()).st_size - fh.tell() != expected:
                return None
            return np.frombuffer(fh.read(expected), dtype=saved_dtype).reshape(saved_shape).copy()
    except (OSError, ValueError, EOFError):
        return None


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
    entries live in `cache_dir/v<format>_<size>_<preprocessing>[_<resize>]/` (`decoded_dir_name`).
    Writes go to a uniquely named temporary file in the same directory and are moved into place with
    `os.replace`, so a killed process leaves at worst a stray temporary file (removed by a later run),
    never a half-written entry, and concurrent runs never collide. A damaged entry (empty, truncated,
    wrong header) is a miss and is rewritten. Entries of files that changed are not deleted; they are
    simply never looked up again.
    """

    def __init__(self, cache_dir: Path | None, size: int, preprocessing: str, resize: str = "squash") -> None:
        check_preprocessing(preprocessing)
        check_resize(resize)
        if size is None:
            raise ValueError("ImageCache needs a fixed size so cached images can be stacked")
        check_size(size)
        self.size = int(size)
        self.preprocessing = preprocessing
        self.resize = resize
        name = decoded_dir_name(self.size, preprocessing, resize)
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
        """Images stacked as (N, size, size, 3) uint8, in the order given; with `progress`, a bar on a
        terminal and a line now and then elsewhere (decoding a new data set can take minutes)."""
        paths = list(paths)
        out = np.empty((len(paths), self.size, self.size, 3), dtype=np.uint8)
        described = f"decoding {len(paths)} images ({self.size} px)"
        for i, path in enumerate(progress_lines(paths, described, len(paths), enabled=progress)):
            out[i] = self.get(path)
        return out

    def _decode(self, path: Path | str) -> np.ndarray:
        # Looked up through the module so tests can count decodes.
        return load_image(Path(path), self.size, self.preprocessing, resize=self.resize)

    def _key(self, path: Path) -> str:
        try:
            content = content_key(path)
        except FileNotFoundError:
            raise unreadable_error(path, "file not found") from None
        except OSError as e:
            raise unreadable_error(path, e) from e
        return hashlib.sha256(f"{CACHE_FORMAT_VERSION}:{content}".encode()).hexdigest()[:32]

    def _read(self, entry: Path) -> np.ndarray | None:
        """A valid entry, or None; damaged or wrong-shaped entries count as misses and get rewritten."""
        return read_array(entry, np.uint8, (self.size, self.size, 3))

    def _write(self, entry: Path, arr: np.ndarray) -> None:
        """Atomic write; an unwritable cache only costs speed, so it warns once instead of failing."""
        if self._write_failed:
            return
        tmp: str | None = None
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=TMP_PREFIX, suffix=".npy")
            os.chmod(tmp, shared_mode())
            with os.fdopen(fd, "wb") as f:
                np.save(f, arr, allow_pickle=False)
            os.replace(tmp, entry)
            tmp = None
        except OSError as e:
            self._write_failed = True
            warnings.warn(write_failure(self.directory, e), RuntimeWarning, stacklevel=3)
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def _remove_stale_temporaries(self) -> None:
        assert self.directory is not None
        remove_stale_temporaries(self.directory)


def remove_stale_temporaries(directory: Path) -> None:
    """Temporaries left by killed processes; old ones only, so concurrent writers are not disturbed."""
    cutoff = time.time() - _STALE_TMP_SECONDS
    try:
        with os.scandir(directory) as it:
            for e in it:
                if e.name.startswith(TMP_PREFIX):
                    with contextlib.suppress(OSError):
                        if e.stat().st_mtime < cutoff:
                            os.unlink(e.path)
    except OSError:
        pass
