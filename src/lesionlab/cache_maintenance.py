"""What the on-disk caches hold, and removing them: everything in them can be recomputed, but not for free.

A cache folder holds one subfolder per decoded-image setting (`v<format>_<size>_<preprocessing>[_<resize>]`)
and one per frozen trunk under `activations/` (`f<format>_<trunk>_<size>_<preprocessing>_s<seed>[_<resize>]`;
the resize part is absent for the default `squash`). Folders
of an older format are never read again (an upgrade changed what an entry means), so they are only
disk space: `stale` marks them. Only folders with one of these names (and a known preprocessing) that
hold nothing but cache entries are ever listed or removed, so pointing `--cache-dir` at the wrong place
does not delete anyone's files.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from lesionlab.data.cache import CACHE_FORMAT_VERSION
from lesionlab.data.preprocess import PREPROCESSING, RESIZE_MODES
from lesionlab.training.activations import ACTIVATION_FORMAT

_PREP = "|".join(PREPROCESSING)
_RESIZE = "|".join(RESIZE_MODES)
# No `v` prefix: written before decoded-image folders named their format.
_DECODED = re.compile(rf"^(?:v(?P<format>\d+)_)?\d+_(?:{_PREP})(?:_(?:{_RESIZE}))?$")
# Trunk activation folders, and beside them the loss predictor's pooled taps (`..._taps1-2-4`).
_ACTIVATIONS = re.compile(
    rf"^f(?P<format>\d+)_[0-9a-f]{{16}}_\d+_(?:{_PREP})_s\d+(?:_(?:{_RESIZE}))?(?:_taps[\d-]+)?$"
)


def _only_cache_files(files: list[Path]) -> bool:
    """Entries (`.npy`) and the temporaries written beside them; anything else means not ours."""
    return all(f.suffix in (".npy", ".tmp") for f in files)


@dataclass(frozen=True)
class CacheFolder:
    """One setting's entries."""

    path: Path
    kind: str  # "decoded images" or "trunk activations"
    files: int
    bytes: int
    stale: bool


def cache_folders(root: Path) -> list[CacheFolder]:
    """The cache folders under `root`, decoded images first; an absent `root` holds none."""
    found: list[CacheFolder] = []
    for kind, parent, pattern, current in (
        ("decoded images", root, _DECODED, CACHE_FORMAT_VERSION),
        ("trunk activations", root / "activations", _ACTIVATIONS, ACTIVATION_FORMAT),
    ):
        if not parent.is_dir():
            continue
        for path in sorted(p for p in parent.iterdir() if p.is_dir()):
            match = pattern.match(path.name)
            if match is None:
                continue
            contents = _contents(path)
            if contents is None:
                continue
            found.append(
                CacheFolder(
                    path=path,
                    kind=kind,
                    files=contents[0],
                    bytes=contents[1],
                    stale=int(match["format"] or 1) != current,
                )
            )
    return found


def _contents(path: Path) -> tuple[int, int] | None:
    """(files, bytes) of a folder that holds only cache files, else None.

    One listing, and a file renamed or removed while it is read (a run writing next to us) is skipped:
    listing twice or stat-ing later made the folder vanish from the list, or raised FileNotFoundError.
    """
    files = size = 0
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if not entry.is_file(follow_symlinks=False) or not _only_cache_files([Path(entry.name)]):
                    return None
                try:
                    size += entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:
                    continue
                files += 1
    except OSError:
        return None
    return files, size


def clear_cache(root: Path, stale_only: bool = False) -> list[CacheFolder]:
    """Remove the cache folders under `root` (only those of an older format with `stale_only`)."""
    removed = [f for f in cache_folders(root) if f.stale or not stale_only]
    for folder in removed:
        shutil.rmtree(folder.path)
    return removed
