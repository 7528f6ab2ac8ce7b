"""Helpers shared by the loaders: CSV reading, image lookup and error messages that say what to do.

Private to `lesionlab.data.sources`; finding files on disk, which other packages share too, is
`lesionlab.data.files`.
"""

from __future__ import annotations

import csv
import os
import string
import unicodedata
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lesionlab.data.files import IMAGE_SUFFIXES, LINK_LOOP, require_dir, require_file
from lesionlab.data.records import LabeledDataset, Record, listed
from lesionlab.errors import ConfigError, DataError

# How many offending items an error message lists before saying "and N more".
_SHOWN = 3


def nfc(text: str) -> str:
    """Unicode NFC: ids in a CSV and file names on disk are compared in this form, so a name saved
    decomposed (NFD, as macOS file systems and some zip tools write `é`) matches its composed id."""
    return unicodedata.normalize("NFC", text)


def read_csv(path: Path, required: Sequence[str], what: str = "CSV") -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV as (line number, {column: stripped text}), after checking the required columns.

    Reads with `utf-8-sig` so files saved by Excel (with a byte-order mark) work.
    """
    require_file(path, what)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, strict=True)  # an unclosed quote is an error, not one long cell
            header = [h.strip() for h in next(reader, [])]
            rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except UnicodeDecodeError as e:
        raise DataError(f"cannot read {what} {path}: {e} (save it as a UTF-8, comma-separated file)") from e
    except csv.Error as e:  # a quote left open would otherwise swallow every later row into one cell
        raise DataError(
            f"cannot read {what} {path}, line {reader.line_num}: {e} (a quote opened on or before that line "
            "is never closed, or text follows a closing quote; save it as a UTF-8, comma-separated file)"
        ) from e
    missing = [c for c in required if c not in header]
    if missing:
        hint = ""
        if len(header) == 1 and any(sep in header[0] for sep in ";\t|"):
            hint = " It looks like it is not comma-separated: save it with commas as separators."
        raise DataError(
            f"{what} {path} is missing required column(s) {', '.join(missing)}; "
            f"found columns: {', '.join(header) or '(none)'}. Rename or add the columns.{hint}"
        )
    out = []
    for line, row in rows:
        if len(row) > len(header):
            raise DataError(
                f"{what} {path}, line {line}: {len(row)} cells but {len(header)} columns in the header "
                "(quote cells that contain commas)"
            )
        out.append((line, {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header)}))
    return out


class ImageIndex:
    """The image files of one or more folders, listed once, looked up by file name or by id + suffix.

    Listing once is much faster than probing every candidate name on network file systems.
    Suffixes match case-insensitively (`IMG_1.JPG` is found for id `IMG_1`), and names and ids are
    compared in Unicode NFC (`nfc`). A looping link is skipped, and named if an id asks for it.
    """

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = list(folders)
        self.by_name: dict[str, Path] = {}
        self.by_stem: dict[str, list[Path]] = {}
        self.loops: dict[str, Path] = {}  # NFC name and stem -> a link that loops
        for folder in self.folders:
            with os.scandir(folder) as entries:
                for entry in entries:
                    path = Path(entry.path)
                    if path.suffix.lower() not in IMAGE_SUFFIXES or not self._is_file(entry):
                        continue
                    self.by_name.setdefault(nfc(entry.name), path)
                    self.by_stem.setdefault(nfc(path.stem), []).append(path)

    def _is_file(self, entry: os.DirEntry) -> bool:
        try:
            return entry.is_file()
        except OSError:  # ELOOP: a link that leads back to itself
            path = Path(entry.path)
            self.loops.setdefault(nfc(entry.name), path)
            self.loops.setdefault(nfc(path.stem), path)
            return False

    def find(self, image_id: str) -> Path | None:
        """The file for `image_id`; DataError when several files could be meant or the file is a loop."""
        image_id = nfc(image_id)
        if image_id in self.by_name:
            return self.by_name[image_id]
        candidates = self.by_stem.get(image_id, [])
        if not candidates and image_id in self.loops:
            raise DataError(f"image {image_id!r}: {self.loops[image_id]} {LINK_LOOP.format('image file')}")
        if len(candidates) > 1:
            names = ", ".join(str(p) for p in sorted(candidates))
            raise DataError(
                f"image id {image_id!r} matches several files ({names}): keep one, or write the id "
                f"with its extension (e.g. {image_id}.jpg) in the CSV"
            )
        return candidates[0] if candidates else None

    def where(self) -> str:
        return " or ".join(str(f) for f in self.folders)


def raise_missing_images(missing: Sequence[tuple[str, int]], csv_path: Path, index: ImageIndex) -> None:
    """One error for all images a CSV names but the folder lacks: the user fixes them in one go."""
    if not missing:
        return
    first = ", ".join(f"{i!r} (line {line})" for i, line in missing[:_SHOWN])
    more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
    raise DataError(
        f"{len(missing)} image(s) listed in {csv_path} not found in {index.where()}: {first}{more} "
        f"(looked for the id with {'/'.join(IMAGE_SUFFIXES)}). Restore the files or remove their rows."
    )


def list_names(folder: Path) -> dict[str, str]:
    """The entries of `folder`: NFC name -> name on disk."""
    with os.scandir(folder) as entries:
        return {nfc(e.name): e.name for e in entries}


def find_masks(ids: Sequence[str], folder: Path | None, pattern: str, what: str) -> dict[str, Path | None]:
    """Mask path per id (None where absent); DataError if a masks folder is given but nothing matches.

    Some images may lack a mask (partly annotated sets), but none matching means a wrong pattern or folder.
    """
    check_mask_pattern(pattern)
    if folder is None:
        return dict.fromkeys(ids)
    require_dir(folder, what)
    names = list_names(folder)
    expected = {i: nfc(mask_name(pattern, i)) for i in ids}
    claimed = set(expected.values())  # another image's exact mask is never a case match of this one's
    by_case: dict[str, list[str]] = defaultdict(list)
    for name, on_disk in names.items():
        if name not in claimed:
            by_case[name.casefold()].append(on_disk)
    out = {i: _mask_file(folder, names, by_case, n, i) for i, n in expected.items()}
    if ids and not any(out.values()):
        example = folder / expected[ids[0]]
        raise DataError(
            f"no masks found in {folder}: expected e.g. {example} for image {ids[0]!r}. "
            "Check the masks folder and the mask file-name pattern."
        )
    _refuse_shared_masks(out, folder)
    return out


def _mask_file(
    folder: Path, names: dict[str, str], by_case: dict[str, list[str]], name: str, image_id: str
) -> Path | None:
    """The mask named `name`, or the one file whose name differs from it only in case (`.PNG`, ISIC
    2016's `_Segmentation.png`): looked up by the exact name alone, such a mask was taken for none, and
    its image left out of a segmentation pool unsaid. Two such files: DataError naming them."""
    if name in names:
        return folder / names[name]
    found = sorted(by_case.get(name.casefold(), []))
    if len(found) > 1:
        raise DataError(
            f"{folder}: {', '.join(found)} differ only in case and could each be the mask {name} of image "
            f"{image_id!r}; keep one"
        )
    return folder / found[0] if found else None


def _refuse_shared_masks(masks: dict[str, Path | None], folder: Path) -> None:
    """DataError when one mask file would serve two images (ids that differ only in their extension,
    `a.jpg` and `a.png`, share the stem the pattern is filled with): one of them would train on the
    other's lesion."""
    by_file: dict[Path, list[str]] = defaultdict(list)
    for image_id, path in masks.items():
        if path is not None:
            by_file[path].append(image_id)
    shared = [(path, ids) for path, ids in by_file.items() if len(ids) > 1]
    if shared:
        shown = "; ".join(f"{p.name} for {', '.join(map(repr, ids))}" for p, ids in shared[:_SHOWN])
        more = f" and {len(shared) - _SHOWN} more" if len(shared) > _SHOWN else ""
        raise DataError(
            f"{len(shared)} mask file(s) in {folder} would serve several images: {shown}{more}. Each "
            "image needs its own mask: rename the images (ids that differ only in their extension share "
            "a mask name) or remove the extra rows"
        )


def check_mask_pattern(pattern: str) -> None:
    """ConfigError unless `pattern` is a file name that holds the image id as it is: without `{id}`, or
    with `{id:.3}` (a format spec that can cut the id) or `{id!r}`, images could share one mask; a
    path separator (`sub/{id}.png`, `../{id}.png`) names a file outside the masks folder, whose listing
    is all that is searched: refused rather than never found."""
    try:
        parsed = [(f, c, s) for _, f, s, c in string.Formatter().parse(pattern) if f is not None]
    except ValueError as e:
        parsed = [(f"<{e}>", None, "")]
    if not parsed or any(parsed_field != ("id", None, "") for parsed_field in parsed):
        raise ConfigError(
            f"invalid mask file-name pattern {pattern!r}: it must contain {{id}} (the image id) and no "
            "other {...} field, conversion (!r) or format (:...), e.g. '{id}_segmentation.png'; without "
            "the whole id every image would get one mask"
        )
    if "/" in pattern or "\\" in pattern:
        raise ConfigError(
            f"invalid mask file-name pattern {pattern!r}: it is a file name inside the masks folder, "
            "without a folder part; give the folder as the masks folder "
            "(--masks / data.options.masks) and the name alone as the pattern, e.g. '{id}_mask.png'"
        )


def mask_name(pattern: str, image_id: str) -> str:
    """File name of the mask of `image_id` (its extension, if any, dropped) under `pattern`."""
    stem = Path(image_id).stem if Path(image_id).suffix.lower() in IMAGE_SUFFIXES else image_id
    try:
        return pattern.format(id=stem)
    except (KeyError, IndexError, ValueError) as e:
        raise ConfigError(
            f"invalid mask file-name pattern {pattern!r}: use {{id}} for the image id, "
            "e.g. '{id}_segmentation.png'"
        ) from e


def make_dataset(
    name: str, task: str, classes: list[str], records: list[Record], **extra: Any
) -> LabeledDataset:
    """LabeledDataset, turning a duplicate id (a data problem) into a DataError, after refusing leakage
    between splits (`check_splits`). `extra` goes to LabeledDataset (positive class, labels file...)."""
    check_splits(records, extra.get("labels_file"))
    try:
        return LabeledDataset(name, task, classes, records, **extra)
    except ValueError as e:
        raise DataError(f"{e}: each image may appear only once; remove the duplicate row or file") from e


def check_splits(records: Sequence[Record], labels_file: Path | None = None) -> None:
    """DataError if one image file is listed twice (e.g. as `a` and `a.jpg`) or one group (a patient, a
    lesion) has images in more than one split: either would put the same lesion in training and test,
    and the test numbers would be too good. Names the first offenders."""
    where = f" in {labels_file}" if labels_file else ""
    by_file: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_file[os.path.abspath(r.image_path)].append(r)
    repeated = [rs for rs in by_file.values() if len(rs) > 1]
    if repeated:
        shown = [
            f"{Path(rs[0].image_path).name} as " + " and ".join(f"{r.id!r} ({r.split})" for r in rs)
            for rs in repeated
        ]
        raise DataError(
            f"{len(repeated)} image file(s) listed more than once{where}: {listed(shown, _SHOWN)}; "
            "keep one row per file"
        )
    splits_of: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.group is not None:
            splits_of[r.group][r.split].append(r.id)
    split_groups = {g: s for g, s in splits_of.items() if len(s) > 1}
    if split_groups:
        shown = [
            f"{g!r} (" + "; ".join(f"{split}: {', '.join(ids[:2])}" for split, ids in s.items()) + ")"
            for g, s in split_groups.items()
        ]
        raise DataError(
            f"{len(split_groups)} group(s) have images in more than one split{where}, so the same patient "
            f"or lesion would be both trained on and evaluated: {listed(shown, _SHOWN)}. "
            "Put all images of a group in one split."
        )


def stratified_group_holdout(
    labels: Sequence[int | None], groups: Sequence[str | None], fraction: float, seed: int
) -> np.ndarray:
    """Boolean mask of a held-out ~`fraction` of rows, stratified by label, whole groups on one side.

    StratifiedGroupKFold gives folds of 1/k; taking m of k folds (k <= 20 chosen so m/k is closest to
    `fraction`) hits fractions like 0.15 exactly while each fold stays stratified.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(set(groups))
    if n_groups < 2:
        raise DataError(f"cannot hold out a validation fraction from {n_groups} group(s): add more images")
    if fraction < 1 / 20:
        k, m = round(1 / fraction), 1
    else:
        k, m = min(
            ((k, max(1, round(fraction * k))) for k in range(2, 21)),
            key=lambda km: abs(km[1] / km[0] - fraction),
        )
    if k > n_groups:
        k, m = n_groups, max(1, min(n_groups - 1, round(fraction * n_groups)))
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    held = np.zeros(len(labels), dtype=bool)
    with warnings.catch_warnings():
        # Rare classes with fewer members than folds are expected here (e.g. 60 df images, 20 folds).
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for fold, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
            if fold == m:
                break
            held[test] = True
    return held
