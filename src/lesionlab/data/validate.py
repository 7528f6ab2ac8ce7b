"""File checks before training: a truncated JPEG or a misaligned mask should fail here, not at epoch 7."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from lesionlab.data.files import missing_file_reason
from lesionlab.data.mask_stats import MaskSummary
from lesionlab.data.preprocess import (
    mask_foreground,
    orient,
    oriented_size,
    refuse_faint_lossy,
    to_rgb8,
)
from lesionlab.data.records import SPLITS, LabeledDataset, Record
from lesionlab.errors import DataError
from lesionlab.progress import progress as progress_bar

# How many problems `describe` lists before saying "and N more".
_SHOWN = 20


@dataclass(frozen=True)
class FileProblem:
    """One unusable file and why."""

    path: Path
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass(frozen=True)
class FileReport:
    """What `inspect_files` found: unusable files, the images that are not square, and the fraction of
    foreground pixels of each readable mask (under `mask_foreground`'s rule)."""

    problems: list[FileProblem]
    non_square: list[Path]
    mask_fractions: dict[Path, float] = field(default_factory=dict)


def inspect_files(dataset: LabeledDataset, progress: bool = False, workers: int = 8) -> FileReport:
    """Decode every image and mask of `dataset` (see `check_files`), also noting non-square images."""
    with _strict_decoding(), ThreadPoolExecutor(max(1, workers)) as pool:
        results = pool.map(_check_record, dataset.records)
        per_record = list(progress_bar(results, "checking files", len(dataset.records), enabled=progress))
    problems = [p for found, _, _ in per_record for p in found]
    non_square = [
        r.image_path
        for r, (_, size, _) in zip(dataset.records, per_record, strict=True)
        if size and size[0] != size[1]
    ]
    fractions = {
        r.mask_path: fraction
        for r, (_, _, fraction) in zip(dataset.records, per_record, strict=True)
        if r.mask_path is not None and fraction is not None
    }
    return FileReport(problems, non_square, fractions)


def check_files(dataset: LabeledDataset, progress: bool = False, workers: int = 8) -> list[FileProblem]:
    """Problems with the images and masks of `dataset`, in record order; empty when all are usable.

    Every image is fully decoded (JPEGs at 1/8 scale, which still reads every byte, so truncation shows)
    and converted as training converts it; masks are decoded and must match their image's size.
    Decoding releases the GIL, hence the threads.
    """
    return inspect_files(dataset, progress, workers).problems


def describe(
    dataset: LabeledDataset,
    progress: bool = False,
    problems: list[FileProblem] | None = None,
    report: FileReport | None = None,
    resize: str = "squash",
) -> str:
    """The dataset's summary table, notes on missing splits and image shapes, and the file check.

    Pass `report` from an earlier `inspect_files` call (or just its `problems`) to avoid decoding every
    file twice.
    """
    lines = [dataset.summary()]
    absent = [s for s in SPLITS if not dataset.split(s)]
    if absent:
        names = " / ".join(absent)
        how = f" (write {names} in a `split` column of {dataset.labels_file})" if dataset.labels_file else ""
        lines.append(f"note: no {names} split in this source{how}")
    if report is None and problems is None:
        report = inspect_files(dataset, progress=progress)
    if report is not None:
        problems = report.problems
        lines += _shape_note(report.non_square, len(dataset.records), resize)
    elif resize == "squash":
        lines.append("note: non-square images are squashed to a square unless train.resize says otherwise")
    assert problems is not None
    n_masks = sum(r.mask_path is not None for r in dataset.records)
    checked = f"{len(dataset.records)} images" + (f" and {n_masks} masks" if n_masks else "")
    if not problems:
        lines.append(f"files: all {checked} readable")
    else:
        lines.append(f"files: {len(problems)} problem(s) in {checked}; fix or remove these files:")
        lines += [f"  {p}" for p in problems[:_SHOWN]]
        if len(problems) > _SHOWN:
            lines.append(f"  ... and {len(problems) - _SHOWN} more")
    if report is not None and report.mask_fractions:
        lines += MaskSummary.of(report.mask_fractions).lines()
    return "\n".join(lines)


def _shape_note(non_square: list[Path], total: int, resize: str) -> list[str]:
    if not non_square:
        return []
    how = {
        "squash": "squashed to a square (to keep their proportions, set train.resize to center_crop or pad)",
        "center_crop": "cropped to their central square (train.resize: center_crop)",
        "pad": "padded to a square with black (train.resize: pad)",
    }[resize]
    return [f"note: {len(non_square)} of {total} images are not square; they are {how}"]


def _check_record(
    record: Record,
) -> tuple[list[FileProblem], tuple[int, int] | None, float | None]:
    """The record's problems, its image's size (None if the image is unusable) and its mask's
    foreground fraction (None without a readable mask)."""
    size, problem, _ = _decode(record.image_path, draft=True)
    problems = [] if problem is None else [FileProblem(record.image_path, problem)]
    fraction = None
    if record.mask_path is not None:
        mask_size, mask_problem, fraction = _decode(record.mask_path, draft=False, mask=True)
        if mask_problem is not None:
            problems.append(FileProblem(record.mask_path, f"mask {mask_problem}"))
        elif size is not None and mask_size != size:
            problems.append(
                FileProblem(
                    record.mask_path,
                    f"mask is {_wh(mask_size)} but its image {record.image_path.name} is {_wh(size)}",
                )
            )
    return problems, size, fraction


def _decode(
    path: Path, draft: bool, mask: bool = False
) -> tuple[tuple[int, int] | None, str | None, float | None]:
    """(full-resolution size, None, foreground fraction of a mask) if the file decodes, else (None, what
    went wrong, None).

    The pixels go through the decoder's own conversion (`to_rgb8` / `mask_foreground`, after EXIF
    orientation), so a file passes here exactly when training can read it: a mode lesionlab refuses
    or a float image with NaN fails here.
    """
    if not path.is_file():
        return None, missing_file_reason(path), None
    try:
        with Image.open(path) as im:
            size = oriented_size(im)
            if draft and im.format == "JPEG":
                im.draft(im.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
            im.load()
            if mask:
                refuse_faint_lossy(im)  # as `open_mask` does, so training cannot meet it later
                return size, None, float(np.mean(mask_foreground(orient(im))))
            to_rgb8(orient(im), path)
            return size, None, None
    except DataError as e:
        return None, str(e).removeprefix(f"{path} "), None
    except Exception as e:  # PIL raises many types (OSError, SyntaxError, ValueError...) for bad files
        return None, f"cannot be read as an image ({type(e).__name__}: {e})", None


def _wh(size: tuple[int, int] | None) -> str:
    return "?" if size is None else f"{size[0]}x{size[1]}"


@contextmanager
def _strict_decoding() -> Iterator[None]:
    """Truncated files must raise here even if other code opted into PIL's lenient loading."""
    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved
