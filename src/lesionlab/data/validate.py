"""File checks before training: a truncated JPEG or a misaligned mask should fail here, not at epoch 7."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile

from lesionlab.data.records import SPLITS, LabeledDataset, Record
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


def check_files(dataset: LabeledDataset, progress: bool = False, workers: int = 8) -> list[FileProblem]:
    """Problems with the images and masks of `dataset`, in record order; empty when all are usable.

    Every image is fully decoded (JPEGs at 1/8 scale, which still reads every byte, so truncation shows);
    masks are decoded and must match their image's size. Decoding releases the GIL, hence the threads.
    """
    with _strict_decoding(), ThreadPoolExecutor(max(1, workers)) as pool:
        results = pool.map(_check_record, dataset.records)
        per_record = list(progress_bar(results, "checking files", len(dataset.records), enabled=progress))
    return [p for problems in per_record for p in problems]


def describe(
    dataset: LabeledDataset, progress: bool = False, problems: list[FileProblem] | None = None
) -> str:
    """The dataset's summary table, notes on missing splits, and the result of `check_files`.

    Pass `problems` from an earlier `check_files` call to avoid decoding every file twice.
    """
    lines = [dataset.summary()]
    absent = [s for s in SPLITS if not dataset.split(s)]
    if absent:
        lines.append(f"note: no {' / '.join(absent)} split in this source")
    if problems is None:
        problems = check_files(dataset, progress=progress)
    n_masks = sum(r.mask_path is not None for r in dataset.records)
    checked = f"{len(dataset.records)} images" + (f" and {n_masks} masks" if n_masks else "")
    if not problems:
        lines.append(f"files: all {checked} readable")
    else:
        lines.append(f"files: {len(problems)} problem(s) in {checked}; fix or remove these files:")
        lines += [f"  {p}" for p in problems[:_SHOWN]]
        if len(problems) > _SHOWN:
            lines.append(f"  ... and {len(problems) - _SHOWN} more")
    return "\n".join(lines)


def _check_record(record: Record) -> list[FileProblem]:
    size, problem = _decode(record.image_path, draft=True)
    problems = [] if problem is None else [FileProblem(record.image_path, problem)]
    if record.mask_path is not None:
        mask_size, mask_problem = _decode(record.mask_path, draft=False)
        if mask_problem is not None:
            problems.append(FileProblem(record.mask_path, f"mask {mask_problem}"))
        elif size is not None and mask_size != size:
            problems.append(
                FileProblem(
                    record.mask_path,
                    f"mask is {_wh(mask_size)} but its image {record.image_path.name} is {_wh(size)}",
                )
            )
    return problems


def _decode(path: Path, draft: bool) -> tuple[tuple[int, int] | None, str | None]:
    """(full-resolution size, None) if the file decodes, else (None, what went wrong)."""
    if not path.is_file():
        return None, "file not found"
    try:
        with Image.open(path) as im:
            size = im.size
            if draft and im.format == "JPEG":
                im.draft(im.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
            im.load()
            return size, None
    except Exception as e:  # PIL raises many types (OSError, SyntaxError, ValueError...) for bad files
        return None, f"cannot be read as an image ({type(e).__name__}: {e})"


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
