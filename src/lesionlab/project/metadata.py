"""Per-image metadata (age, sex, site ...) from a CSV, shown beside the image on the page.

`project init --metadata CSV` reads the CSV once and keeps each image's row in `DIR/metadata.json`
(`{"columns": [...], "images": {image_id: {column: value}}}`), so the page needs no file outside the
project. Columns that could give the answer away (`dx`, `diagnosis`, `label`, `benign_malignant`, a
column named like one of the project's classes ...) are left out: the annotators label blind.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from lesionlab.data.files import IMAGE_SUFFIXES
from lesionlab.errors import DataError
from lesionlab.io import write_json

METADATA_NAME = "metadata.json"
ID_COLUMNS = ("image_id", "image", "isic_id", "image_name", "filename", "file", "name", "id")
ANSWER_COLUMNS = {
    "dx", "dx_type", "diagnosis", "label", "labels", "class", "target", "benign_malignant",
    "ground_truth", "melanoma", "seborrheic_keratosis",
}  # fmt: skip
_cache: dict[Path, tuple[float, dict[str, Any]]] = {}


def _id_of(value: str) -> str:
    value = value.strip().replace("\\", "/")
    suffix = Path(value).suffix
    return value[: -len(suffix)] if suffix.lower() in IMAGE_SUFFIXES else value


def read_metadata_csv(path: Path) -> tuple[str, list[str], list[dict[str, str]]]:
    """(id column, columns, rows) of a metadata CSV; DataError naming the file when it has no id column."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            columns = [c for c in (reader.fieldnames or []) if c]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"--metadata {path}: cannot read it as a CSV ({exc})") from exc
    by_name = {c.strip().casefold(): c for c in columns}
    id_column = next((by_name[n] for n in ID_COLUMNS if n in by_name), None)
    if id_column is None:
        raise DataError(
            f"--metadata {path}: no image id column; name one of {', '.join(ID_COLUMNS[:4])} "
            f"(columns found: {', '.join(columns) or 'none'})"
        )
    return id_column, columns, rows


def import_metadata(project_dir: Path, csv_path: Path, image_ids: list[str], classes: list[str]) -> dict:
    """Keep each known image's row of `csv_path` in the project; returns what was kept and left out.

    A row's id matches an image id exactly, or by file name when the image sits in a sub-folder
    (`ISIC_0000001` -> `site_b/ISIC_0000001`, if only one image has that name); a file suffix is ignored."""
    id_column, columns, rows = read_metadata_csv(Path(csv_path))
    answers = ANSWER_COLUMNS | {c.casefold() for c in classes}
    left_out = [c for c in columns if c != id_column and c.strip().casefold() in answers]
    shown = [c for c in columns if c != id_column and c not in left_out]
    known = set(image_ids)
    names: dict[str, list[str]] = {}
    for iid in image_ids:
        names.setdefault(iid.rsplit("/", 1)[-1], []).append(iid)
    images: dict[str, dict[str, str]] = {}
    unknown: list[str] = []
    for row in rows:
        rid = _id_of(row.get(id_column) or "")
        match = rid if rid in known else next(iter(names.get(rid, [])), None)
        if match is None or (len(names.get(rid, [])) > 1 and rid not in known):
            unknown.append(rid)
            continue
        values = {c: (row.get(c) or "").strip() for c in shown}
        images[match] = {c: v for c, v in values.items() if v}
    write_json(Path(project_dir) / METADATA_NAME, {"columns": shown, "images": images})
    return {"images": len(images), "columns": shown, "left_out": left_out, "unknown": unknown}


def image_metadata(project_dir: Path, image_id: str) -> dict[str, str]:
    """The image's metadata in the CSV's column order ({} without a metadata file or row)."""
    path = Path(project_dir) / METADATA_NAME
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {}
    cached = _cache.get(path)
    if cached is None or cached[0] != mtime:
        try:
            cached = (mtime, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return {}
        _cache[path] = cached
    data = cached[1]
    row = data.get("images", {}).get(image_id, {})
    return {c: row[c] for c in data.get("columns", []) if c in row}
