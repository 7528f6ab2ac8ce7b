"""HAM10000 (train) plus the ISIC 2018 Task 3 test set, in their official file names.

Several HAM10000 images can show the same lesion, so `group` is the `lesion_id` and any split made here or
later must keep a group on one side.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from lesionlab.data.files import require_dir
from lesionlab.data.records import LabeledDataset, Record
from lesionlab.data.sources._common import (
    ImageIndex,
    make_dataset,
    raise_missing_images,
    read_csv,
    stratified_group_holdout,
)
from lesionlab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

CLASSES = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
TASKS: dict[str, list[str]] = {"7class": CLASSES}
IMAGE_FOLDERS = ("HAM10000_images", "HAM10000_images_part_1", "HAM10000_images_part_2")
METADATA = "HAM10000_metadata.csv"
TEST_IMAGES = "ISIC2018_Task3_Test_Images"
TEST_CSV = "ISIC2018_Task3_Test_GroundTruth.csv"
# One-hot columns of the test CSV -> dx codes.
TEST_COLUMNS = {c.upper(): c for c in CLASSES}


def load_ham10000(
    root: Path, task: str = "7class", val_fraction: float = 0.0, seed: int = 0
) -> LabeledDataset:
    """HAM10000 train records (optionally a lesion-grouped, stratified val part) and the test set if any."""
    if task not in TASKS:
        raise ConfigError(f"unknown HAM10000 task {task!r}: choose one of {', '.join(TASKS)}")
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    root = require_dir(Path(root), "HAM10000 data root")
    records = _load_train(root)
    if val_fraction > 0:
        held = stratified_group_holdout(
            [r.label for r in records], [r.group for r in records], val_fraction, seed
        )
        records = [replace(r, split="val") if h else r for r, h in zip(records, held, strict=True)]
    records += _load_test(root)
    return make_dataset("ham10000", task, list(CLASSES), records)


def _load_train(root: Path) -> list[Record]:
    folders = [root / f for f in IMAGE_FOLDERS if (root / f).is_dir()]
    if not folders:
        raise DataError(
            f"no HAM10000 image folder in {root}: expected {IMAGE_FOLDERS[0]}/ or "
            f"{IMAGE_FOLDERS[1]}/ and {IMAGE_FOLDERS[2]}/"
        )
    csv_path = root / METADATA
    rows = read_csv(csv_path, ("lesion_id", "image_id", "dx"), what="HAM10000 metadata CSV")
    index = ImageIndex(folders)
    records: list[Record] = []
    missing: list[tuple[str, int]] = []
    for line, row in rows:
        image_id, dx = row["image_id"], row["dx"].lower()
        if dx not in CLASSES:
            raise DataError(
                f"{csv_path}, line {line}: unknown dx {row['dx']!r} for {image_id}; "
                f"valid codes: {', '.join(CLASSES)}"
            )
        path = index.find(image_id)
        if path is None:
            missing.append((image_id, line))
            continue
        group = row["lesion_id"] or image_id
        records.append(Record(image_id, path, CLASSES.index(dx), None, "train", group))
    raise_missing_images(missing, csv_path, index)
    return records


def _load_test(root: Path) -> list[Record]:
    """The ISIC 2018 Task 3 test set; absent (both folder and CSV missing) means no test split."""
    folder, csv_path = root / TEST_IMAGES, root / TEST_CSV
    if not folder.exists() and not csv_path.exists():
        log.info("no %s/ and %s in %s: HAM10000 loaded without a test split", TEST_IMAGES, TEST_CSV, root)
        return []
    if not csv_path.is_file():
        raise DataError(f"found {folder} but not its labels {csv_path}: add the CSV or remove the folder")
    require_dir(folder, "ISIC 2018 Task 3 test image")
    rows = read_csv(csv_path, ("image", *TEST_COLUMNS), what="ISIC 2018 Task 3 test ground-truth CSV")
    index = ImageIndex([folder])
    records: list[Record] = []
    missing: list[tuple[str, int]] = []
    for line, row in rows:
        image_id = row["image"]
        hot = [dx for col, dx in TEST_COLUMNS.items() if _is_one(row[col])]
        if len(hot) != 1:
            raise DataError(
                f"{csv_path}, line {line}: image {image_id} has {len(hot)} classes set to 1; "
                f"exactly one of {', '.join(TEST_COLUMNS)} must be 1"
            )
        path = index.find(image_id)
        if path is None:
            missing.append((image_id, line))
            continue
        records.append(Record(image_id, path, CLASSES.index(hot[0]), None, "test", image_id))
    raise_missing_images(missing, csv_path, index)
    return records


def _is_one(text: str) -> bool:
    try:
        return float(text) == 1.0
    except ValueError:
        return False
