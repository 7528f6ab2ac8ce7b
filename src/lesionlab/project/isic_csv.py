"""Reading class labels from the ground-truth CSVs dermatology data sets ship, and from `image_id,label`.

Layouts read (each checked row by row; a bad row stops the import with its line and the fix):
- one column per class, 1 for the image's class (ISIC 2018 task 3: `image,MEL,NV,BCC,AKIEC,BKL,DF,VASC`;
  lesionlab's own export). ISIC 2017 part 3 (`image_id,melanoma,seborrheic_keratosis`) has no nevus
  column: a row with no class marked is the one project class the file has no column for (nevus), so
  the file imports into a melanoma / nevus / seborrheic keratosis project as the challenge meant it;
- a label column: `label` (lesionlab's folder source), `dx` (HAM10000's metadata, codes mel, nv, bkl, ...)
  or `diagnosis` (the ISIC archive's metadata); ISIC 2016 part 3's `ISIC_0000000,benign` without a header
  row is `image_id,label`.
Class names match the project's case-insensitively and through the data sets' names for one diagnosis
(MEL = melanoma, NV = nevus = naevus, ...). A diagnosis the project has no class for goes to its catch-all
class (`other` or `rest`) when it has one, e.g. HAM10000's seven diagnoses into melanoma / other;
otherwise it is an error naming the row, never a silent guess.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from lesionlab.errors import DataError
from lesionlab.project.project import Project

ID_COLUMNS = ("image_id", "image", "isic_id", "image_name")
LABEL_COLUMNS = ("label", "dx", "diagnosis")
CATCH_ALL = ("other", "others", "rest")
# each diagnosis's names in the ISIC challenges (2016-2019), HAM10000 and common spelling
SYNONYMS = {
    "mel": ("melanoma",),
    "nv": ("nevus", "naevus", "nevi", "naevi", "melanocytic nevus", "melanocytic nevi", "melanocytic naevus"),
    "sk": ("seborrheic keratosis", "seborrhoeic keratosis"),
    "bkl": ("benign keratosis", "benign keratosis-like lesions", "benign keratosis like lesions"),
    "bcc": ("basal cell carcinoma",),
    "akiec": (
        "actinic keratosis",
        "actinic keratoses",
        "ak",
        "actinic keratoses and intraepithelial carcinoma",
    ),
    "df": ("dermatofibroma",),
    "vasc": ("vascular lesion", "vascular lesions"),
    "scc": ("squamous cell carcinoma",),
    "unk": ("unknown",),
}
_CODE = {name: code for code, names in SYNONYMS.items() for name in (code, *names)}


def norm(name: str) -> str:
    """A class name as compared: case-folded, `_` and `-` and runs of blanks as one space."""
    return re.sub(r"[\s_]+", " ", str(name).strip().casefold())


def code(name: str) -> str:
    """The diagnosis a name stands for (its ISIC code), or the name itself."""
    n = norm(name)
    return _CODE.get(n, _CODE.get(n.replace("-", " "), n))


class ClassMap:
    """File class names to project class indices, with the catch-all class for other diagnoses."""

    def __init__(self, project: Project) -> None:
        self.classes = project.classes
        self.index = {code(c): k for k, c in enumerate(self.classes)}
        rest = [k for k, c in enumerate(self.classes) if norm(c) in CATCH_ALL]
        self.catch_all = rest[0] if len(rest) == 1 else None

    def known(self, name: str) -> bool:
        """Whether a column names a class: the project's, or a diagnosis of a data set."""
        return code(name) in self.index or norm(name) in _CODE

    def __call__(self, name: str, where: str) -> int:
        k = self.index.get(code(name))
        if k is not None:
            return k
        if self.catch_all is not None and norm(name) in _CODE:  # a diagnosis, never a typo, goes there
            return self.catch_all
        if norm(name) in _CODE:
            raise DataError(
                f"{where}: {name!r} is not a class of this project ({', '.join(self.classes)}); add it to "
                "the project's classes, add a catch-all class 'other', or drop these rows"
            )
        raise DataError(
            f"{where}: unknown class {name!r}; this project's classes are {', '.join(self.classes)}"
        )


def read_csv_labels(project: Project, path: Path) -> dict[str, int]:
    """`{image_id: class index}` of a ground-truth CSV (see the module's layouts)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        rows = list(reader)
    if len(header) == 2 and re.fullmatch(r"ISIC_\d+", header[0]):  # ISIC 2016 part 3: no header row
        header, rows = ["image_id", "label"], [header, *rows]
    lower = [h.casefold() for h in header]
    id_col = next((lower.index(c) for c in ID_COLUMNS if c in lower), None)
    if id_col is None:
        raise DataError(
            f"{path}: no image id column ({', '.join(ID_COLUMNS)}); expected image_id,label or "
            "image_id,<one column per class>"
        )
    classes = ClassMap(project)
    label_col = next((lower.index(c) for c in LABEL_COLUMNS if c in lower), None)
    hot_cols = [k for k, h in enumerate(header) if k != id_col and classes.known(h)]
    if label_col is None and not hot_cols:
        raise DataError(
            f"{path}: neither a label column ({', '.join(LABEL_COLUMNS)}) nor a column per class "
            f"({', '.join(project.classes)})"
        )
    implicit = _implicit_class(project, classes, [header[k] for k in hot_cols]) if label_col is None else None
    labels: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{path}, line {line}: {len(row)} fields, but the header has {len(header)}")
        image_id = row[id_col].strip()
        if not image_id:
            raise DataError(f"{path}, line {line}: no image id; fill it in or delete the row")
        where = f"{path}, line {line}"
        if label_col is not None:
            value = row[label_col].strip()
            if not value:
                continue  # an unlabelled row
            label = classes(value, where)
        else:
            label = _one_hot(row, header, hot_cols, classes, implicit, where)
        if labels.get(image_id, label) != label:
            raise DataError(f"{where}: {image_id} appears twice with different classes; keep one row")
        labels[image_id] = label
    return labels


def _implicit_class(project: Project, classes: ClassMap, columns: list[str]) -> int | None:
    """The one project class the file has no column for (ISIC 2017's nevus), or None."""
    named = {classes.index.get(code(c)) for c in columns}
    missing = [k for k in range(len(project.classes)) if k not in named]
    return missing[0] if len(missing) == 1 else None


def _one_hot(
    row: list[str], header: list[str], cols: list[int], classes: ClassMap, implicit: int | None, where: str
) -> int:
    hot = []
    for k in cols:
        cell = row[k].strip()
        try:
            value = float(cell) if cell else 0.0
        except ValueError:
            if cell.casefold() not in ("true", "false", "yes", "no"):
                raise DataError(f"{where}: column {header[k]} holds {cell!r}; expected 0 or 1") from None
            value = 1.0 if cell.casefold() in ("true", "yes") else 0.0
        if value >= 0.5:
            hot.append(header[k])
    if len(hot) > 1:
        raise DataError(f"{where}: {len(hot)} classes marked ({', '.join(hot)}); expected one")
    if hot:
        return classes(hot[0], where)
    if implicit is None:
        raise DataError(
            f"{where}: no class marked (a row with none is read as the one class the file has no column "
            "for, and this file has none or several such classes); mark one class per row"
        )
    return implicit
