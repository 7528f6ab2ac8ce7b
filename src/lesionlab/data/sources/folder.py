"""A user's own folder of images plus a CSV (`image_id,label[,split][,group]`).

Empty label cells are allowed: an annotation project starts with unlabelled images.
"""

from __future__ import annotations

from pathlib import Path

from lesionlab.data.records import SPLITS, LabeledDataset, Record
from lesionlab.data.sources._common import (
    ImageIndex,
    find_masks,
    make_dataset,
    raise_missing_images,
    read_csv,
    require_dir,
)
from lesionlab.errors import ConfigError, DataError


def load_folder(
    images: Path,
    csv: Path,
    masks: Path | None = None,
    mask_pattern: str = "{id}_segmentation.png",
    classes: list[str] | None = None,
    task: str = "folder",
) -> LabeledDataset:
    """Records for the rows of `csv`, images found in `images` by id (with or without extension)."""
    images, csv = Path(images), Path(csv)
    index = ImageIndex([require_dir(images, "image")])
    rows = read_csv(csv, ("image_id", "label"), what="labels CSV")
    if classes is not None:
        classes = _check_classes(classes)
    else:
        classes = sorted({row["label"] for _, row in rows if row["label"]})
        if not classes:
            raise DataError(
                f"{csv} has no labels yet: pass the class names (classes=[...]) so the task is defined"
            )
    parsed: list[tuple[str, Path, int | None, str, str]] = []
    missing: list[tuple[str, int]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        image_id = row["image_id"]
        if not image_id:
            raise DataError(f"{csv}, line {line}: empty image_id; fill it in or remove the row")
        if image_id in seen:
            raise DataError(
                f"{csv}, line {line}: image_id {image_id!r} already listed on line {seen[image_id]}; "
                "keep one row per image"
            )
        seen[image_id] = line
        label = _label(row["label"], classes, csv, line)
        split = _split(row.get("split", ""), csv, line)
        path = index.find(image_id)
        if path is None:
            missing.append((image_id, line))
            continue
        parsed.append((image_id, path, label, split, row.get("group", "") or image_id))
    raise_missing_images(missing, csv, index)
    mask_paths = find_masks(
        [p[0] for p in parsed], None if masks is None else Path(masks), mask_pattern, "mask"
    )
    records = [Record(i, path, label, mask_paths[i], split, group) for i, path, label, split, group in parsed]
    return make_dataset("folder", task, classes, records)


def _check_classes(classes: list[str]) -> list[str]:
    classes = [str(c).strip() for c in classes]
    if not classes or any(not c for c in classes) or len(set(classes)) != len(classes):
        raise ConfigError(f"classes must be distinct, non-empty names, got {classes}")
    return classes


def _label(text: str, classes: list[str], csv: Path, line: int) -> int | None:
    if not text:
        return None
    if text not in classes:
        raise DataError(
            f"{csv}, line {line}: label {text!r} is not a known class; valid classes: "
            f"{', '.join(classes)} (fix the label, or add the class to the class list)"
        )
    return classes.index(text)


def _split(text: str, csv: Path, line: int) -> str:
    split = text.lower() or "train"
    if split not in SPLITS:
        raise DataError(
            f"{csv}, line {line}: unknown split {text!r}; use one of {', '.join(SPLITS)} or leave it empty"
        )
    return split
