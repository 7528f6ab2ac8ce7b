"""ISIC 2017 Challenge (Parts 1 and 3) in its official folder and file names.

The Part 3 CSVs drive the records, so other files in the image folders (e.g. `*_superpixels.png`) are ignored.
Masks come from the Part 1 ground-truth folders when present; images without one get `mask_path=None`.
"""

from __future__ import annotations

from pathlib import Path

from lesionlab.data.files import require_dir
from lesionlab.data.records import LabeledDataset, Record
from lesionlab.data.sources._common import (
    ImageIndex,
    find_masks,
    make_dataset,
    raise_missing_images,
    read_csv,
)
from lesionlab.errors import ConfigError, DataError

TASKS: dict[str, list[str]] = {
    "melanoma": ["other", "melanoma"],
    "seborrheic_keratosis": ["other", "seborrheic_keratosis"],
    "3class": ["melanoma", "seborrheic_keratosis", "nevus"],
}

# split -> official name stem: images in `{stem}_Data`, labels in `{stem}_Part3_GroundTruth.csv`,
# masks in `{stem}_Part1_GroundTruth/{id}_segmentation.png`.
SPLIT_STEMS = {"train": "ISIC-2017_Training", "val": "ISIC-2017_Validation", "test": "ISIC-2017_Test_v2"}
MASK_PATTERN = "{id}_segmentation.png"
COLUMNS = ("image_id", "melanoma", "seborrheic_keratosis")


def load_isic2017(root: Path, task: str = "melanoma") -> LabeledDataset:
    """Train/val/test records of an ISIC 2017 copy under `root`, labelled for `task`."""
    if task not in TASKS:
        raise ConfigError(f"unknown ISIC 2017 task {task!r}: choose one of {', '.join(TASKS)}")
    root = require_dir(Path(root), "ISIC 2017 data root")
    records: list[Record] = []
    for split, stem in SPLIT_STEMS.items():
        records += _load_split(root, split, stem, task)
    return make_dataset("isic2017", task, list(TASKS[task]), records)


def _load_split(root: Path, split: str, stem: str, task: str) -> list[Record]:
    images = require_dir(root / f"{stem}_Data", f"ISIC 2017 {split} image")
    csv_path = root / f"{stem}_Part3_GroundTruth.csv"
    rows = read_csv(csv_path, COLUMNS, what=f"ISIC 2017 {split} ground-truth CSV")
    index = ImageIndex([images])
    found: list[tuple[str, Path, int]] = []
    missing: list[tuple[str, int]] = []
    for line, row in rows:
        image_id = row["image_id"]
        path = index.find(image_id)
        if path is None:
            missing.append((image_id, line))
        else:
            found.append((image_id, path, _label(row, task, csv_path, line)))
    raise_missing_images(missing, csv_path, index)
    mask_dir = root / f"{stem}_Part1_GroundTruth"
    ids = [i for i, _, _ in found]
    masks = find_masks(ids, mask_dir if mask_dir.is_dir() else None, MASK_PATTERN, "ISIC 2017 mask")
    return [Record(i, path, label, masks[i], split, group=i) for i, path, label in found]


def _label(row: dict[str, str], task: str, csv_path: Path, line: int) -> int:
    mel, sk = (_flag(row[c], c, csv_path, line) for c in ("melanoma", "seborrheic_keratosis"))
    if mel and sk:
        raise DataError(
            f"{csv_path}, line {line}: image {row['image_id']} is marked both melanoma and "
            "seborrheic_keratosis; fix the row so at most one is 1"
        )
    if task == "melanoma":
        return int(mel)
    if task == "seborrheic_keratosis":
        return int(sk)
    return 0 if mel else 1 if sk else 2


def _flag(text: str, column: str, csv_path: Path, line: int) -> bool:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value not in (0.0, 1.0):
        raise DataError(f"{csv_path}, line {line}: {column} is {text!r}; it must be 0 or 1 (0.0/1.0)")
    return value == 1.0
