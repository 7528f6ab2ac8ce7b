"""Finding files on disk, with errors that name the path and what to do.

Shared by the data sources, the data checker, the annotation project's image scan and `lesionlab score`,
so an image folder is walked, and a missing file or link loop explained, the same way everywhere.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from lesionlab.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")

# Says why a path cannot be used when resolving it leads back to itself; formatted with what it names.
LINK_LOOP = "is a symbolic link loop (it leads back to itself); remove the link or point it at the real {}"


def is_link_loop(path: Path) -> bool:
    """True when resolving `path` goes round in circles (ELOOP), which `is_file`/`is_dir` report as absent."""
    try:
        os.stat(path)
    except OSError as e:
        return e.errno == errno.ELOOP
    return False


def missing_file_reason(path: Path) -> str:
    """Why `path` is not a usable file, in words: a link loop or a folder is named as such."""
    if is_link_loop(path):
        return LINK_LOOP.format("file")
    if path.is_dir():
        return "is a folder, not a file"
    return "file not found"


def require_dir(path: Path, what: str) -> Path:
    """Fail early with the path and the expected layout, instead of an empty dataset later."""
    if not path.is_dir():
        if is_link_loop(path):
            raise DataError(f"{what} folder {path} {LINK_LOOP.format('folder')}")
        raise DataError(f"{what} folder not found: {path} (check the data root and the folder name)")
    return path


def image_files_under(folder: Path) -> list[Path]:
    """Image files under `folder` at any depth, sorted, hidden files and folders skipped.

    Symbolic links to folders are not followed (a link back to a parent would list the same files
    forever); links to files are listed, even broken or looping ones, so the caller reports them.
    """
    found: list[Path] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [
            Path(root) / f
            for f in files
            if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES
        ]
    return sorted(found)


def require_file(path: Path, what: str) -> Path:
    """Fail early with the path, instead of a confusing error from the first read."""
    if not path.is_file():
        raise DataError(f"{what} not found: {path} (check the data root and the file name)")
    return path
