"""A user's own folder of images plus a CSV (`image_id,label[,split][,group]`).

With masks (segmentation) the `label` column may be left out: every row is then of one class, `lesion`.

Empty label cells are allowed: an annotation project starts with unlabelled images (training needs the
train split labelled; `LabeledDataset.require_labels` says which are not). Labels that differ only in case
or surrounding spaces are one class, spelled as first seen. For two classes the order is
[negative, positive] (metrics call index 1 positive): `positive` names the positive class; without it, it
is guessed (`guess_positive`) and the dataset says so; two `classes` given by name are taken as
[negative, positive].
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from lesionlab.data.files import require_dir
from lesionlab.data.records import SPLITS, LabeledDataset, Record
from lesionlab.data.sources._common import (
    ImageIndex,
    check_mask_pattern,
    find_masks,
    make_dataset,
    nfc,
    raise_missing_images,
    read_csv,
)
from lesionlab.errors import ConfigError, DataError

# Labels that read as "the condition is absent"; compared case-insensitively, `-` and spaces as `_`.
NEGATIVE_WORDS = frozenset(
    {
        "0",
        "false",
        "no",
        "negative",
        "neg",
        "benign",
        "normal",
        "healthy",
        "other",
        "others",
        "none",
        "control",
    }
)
_NEGATIVE_PREFIX = re.compile(r"^(?:not_|no_|non_?)")
_HOW_TO_SET = "set data.options.positive (or --positive) to choose"
# The class of every row of a segmentation folder whose CSV has no label column (its masks are its labels).
SEGMENTATION_CLASS = "lesion"


def load_folder(
    images: Path,
    csv: Path,
    masks: Path | None = None,
    mask_pattern: str = "{id}_segmentation.png",
    classes: list[str] | None = None,
    positive: str | None = None,
    task: str = "folder",
) -> LabeledDataset:
    """Records for the rows of `csv`, images found in `images` by id (with or without extension).

    Refuses (DataError) an image listed twice and a `group` with images in more than one split; images
    in the folder without a row are listed in `unlisted` (and in `summary()`).
    """
    images, csv = Path(images), Path(csv)
    check_mask_pattern(mask_pattern)
    index = ImageIndex([require_dir(images, "image")])
    rows = _read_rows(csv, segmentation=masks is not None)
    spelling = _spellings(rows, classes, csv)
    parsed = _parse_rows(rows, spelling, index, csv)
    names, guessed, rule = _class_order(spelling, classes, positive, parsed)
    mask_paths = find_masks(
        [p[0] for p in parsed], None if masks is None else Path(masks), mask_pattern, "mask"
    )
    records = [
        Record(i, path, None if label is None else names.index(label), mask_paths[i], split, group)
        for i, path, label, split, group in parsed
    ]
    used = {r.image_path for r in records} | {m for m in mask_paths.values() if m is not None}
    unlisted = sorted((p for p in index.by_name.values() if p not in used), key=lambda p: p.name)
    return make_dataset(
        "folder",
        task,
        names,
        records,
        positive_guessed=guessed,
        positive_rule=rule,
        labels_file=csv,
        unlisted=unlisted,
    )


def _read_rows(csv: Path, segmentation: bool) -> list[tuple[int, dict[str, str]]]:
    """The CSV's rows; with masks the `label` column may be absent.

    Masks are then the annotations, so every row gets the one nominal class and nothing else is needed.
    """
    rows = read_csv(csv, ("image_id",) if segmentation else ("image_id", "label"), what="labels CSV")
    if segmentation and rows and all("label" not in row for _, row in rows):
        for _, row in rows:
            row["label"] = SEGMENTATION_CLASS
    return rows


_Parsed = tuple[str, Path, str | None, str, str]  # image id, image path, label, split, group


def _parse_rows(
    rows: list[tuple[int, dict[str, str]]], spelling: dict[str, str], index: ImageIndex, csv: Path
) -> list[_Parsed]:
    """(id, image path, label, split, group) per row, checking every row before any is used.

    An empty or repeated id is refused at its line; ids without an image are collected and reported
    together, so one run names every missing file instead of the first.
    """
    parsed: list[_Parsed] = []
    missing: list[tuple[str, int]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        image_id = row["image_id"]
        if not image_id:
            raise DataError(f"{csv}, line {line}: empty image_id; fill it in or remove the row")
        if nfc(image_id) in seen:
            raise DataError(
                f"{csv}, line {line}: image_id {image_id!r} already listed on line {seen[nfc(image_id)]}; "
                "keep one row per image"
            )
        seen[nfc(image_id)] = line
        label = _label(row["label"], spelling, csv, line)
        split = _split(row.get("split", ""), csv, line)
        path = index.find(image_id)
        if path is None:
            missing.append((image_id, line))
            continue
        parsed.append((image_id, path, label, split, row.get("group", "") or image_id))
    raise_missing_images(missing, csv, index)
    return parsed


def _class_order(
    spelling: dict[str, str], classes: list[str] | None, positive: str | None, parsed: list[_Parsed]
) -> tuple[list[str], bool, str]:
    """(class names in index order, whether the positive class was guessed, the guess's reason).

    Given `classes` keep their order; otherwise names are sorted, and for two classes the positive one
    goes last (metrics call index 1 positive): the named `positive`, or a guess from the labels.
    """
    names = list(dict.fromkeys(spelling.values())) if classes is not None else sorted(set(spelling.values()))
    if positive is not None:
        return _with_positive(names, positive), False, ""
    if len(names) == 2 and classes is None:
        counts = Counter(p[2] for p in parsed if p[2] is not None)
        pos, rule = guess_positive(names, counts)
        return [n for n in names if n != pos] + [pos], True, rule
    return names, False, ""


def guess_positive(classes: list[str], counts: Counter[str]) -> tuple[str, str]:
    """(positive class, why) for two classes when the user did not say.

    1. If exactly one label reads as negative (`not_x`, `non-x`, `no x`, or a word such as benign,
       negative, normal, other, none, 0, false, no), the other is positive.
    2. Otherwise the rarer class (fewer labelled images) is positive: in screening data the condition
       looked for is usually the minority. A tie keeps the alphabetical order (the second is positive).
    """
    negative = [c for c in classes if _reads_negative(c)]
    if len(negative) == 1:
        pos = next(c for c in classes if c != negative[0])
        return pos, f"{negative[0]!r} reads as a negative label; {_HOW_TO_SET}"
    a, b = sorted(classes)
    if counts[a] == counts[b]:
        return b, f"both classes have {counts[a]} labelled images, so the second by name; {_HOW_TO_SET}"
    pos = a if counts[a] < counts[b] else b
    total = counts[a] + counts[b]
    return pos, f"{pos!r} is the rarer class ({counts[pos]} of {total} labelled images); {_HOW_TO_SET}"


def _reads_negative(label: str) -> bool:
    key = re.sub(r"[\s-]+", "_", label.strip().casefold())
    return key in NEGATIVE_WORDS or bool(_NEGATIVE_PREFIX.match(key))


def _spellings(
    rows: list[tuple[int, dict[str, str]]], classes: list[str] | None, csv: Path
) -> dict[str, str]:
    """Case-folded label -> the class name used for it: the given `classes`, else each label's first
    spelling in the CSV (so `Melanoma` and `melanoma ` are one class)."""
    if classes is not None:
        classes = [str(c).strip() for c in classes]
        keys = [c.casefold() for c in classes]
        if not classes or any(not c for c in classes) or len(set(keys)) != len(keys):
            raise ConfigError(f"classes must be distinct, non-empty names (case is ignored), got {classes}")
        return dict(zip(keys, classes, strict=True))
    spelling: dict[str, str] = {}
    for _, row in rows:
        if row["label"]:
            spelling.setdefault(row["label"].casefold(), row["label"])
    if not spelling:
        raise DataError(
            f"{csv} has no labels yet: name the classes in the config "
            "(data.options.classes: [negative_name, positive_name]) so the task is defined"
        )
    return spelling


def _with_positive(names: list[str], positive: str) -> list[str]:
    """`names` ordered [negative, positive] with the user's positive class last."""
    match = [n for n in names if n.casefold() == str(positive).strip().casefold()]
    if len(names) != 2:
        raise ConfigError(
            f"positive applies to two-class tasks, but the labels have {len(names)} classes "
            f"({', '.join(names)}); remove the positive option"
        )
    if not match:
        raise ConfigError(f"positive {positive!r} is not one of the classes {', '.join(names)}")
    return [n for n in names if n != match[0]] + match


def _label(text: str, spelling: dict[str, str], csv: Path, line: int) -> str | None:
    if not text:
        return None
    if text.casefold() not in spelling:
        valid = ", ".join(dict.fromkeys(spelling.values()))
        raise DataError(
            f"{csv}, line {line}: label {text!r} is not a known class; valid classes: {valid} "
            "(fix the label, or add the class to the class list)"
        )
    return spelling[text.casefold()]


def _split(text: str, csv: Path, line: int) -> str:
    split = text.lower() or "train"
    if split not in SPLITS:
        raise DataError(
            f"{csv}, line {line}: unknown split {text!r}; use one of {', '.join(SPLITS)} or leave it empty"
        )
    return split
