"""Export and import of a project's labels: ISIC-style CSV, Label Studio JSON and mask PNGs.

ISIC-style CSV is the ISIC challenges' ground-truth layout: `image_id` then one column per class holding
1.0 for the image's class and 0.0 otherwise. The import also reads the plain `image_id,label` CSV that
`lesionlab`'s folder source uses, and Label Studio's JSON export of an image-classification project (the
last annotation's first `choices` result of each task). Masks are exported as `<image_id>_segmentation.png`
(ISIC 2017's naming).

Export writes each image's consensus (the majority label, the fused mask, or a reviewer's decision): what
training uses. Images whose annotators disagree without a reviewer's decision, or that still wait for
their `overlap` annotations, are left out and counted (`left_out`).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

from lesionlab.errors import DataError
from lesionlab.io import write_text
from lesionlab.project.exceptions import Conflict
from lesionlab.project.project import Project

FORMATS = ("isic", "labelstudio", "masks")


def export_isic_csv(project: Project, path: Path) -> int:
    """One row per labelled image; returns the number of rows."""
    entries = project.store.label_entries()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["image_id", *project.classes])
    for image_id in sorted(entries):
        label = entries[image_id].label
        writer.writerow([image_id, *("1.0" if k == label else "0.0" for k in range(len(project.classes)))])
    write_text(path, buf.getvalue())
    return len(entries)


def export_labelstudio(project: Project, path: Path) -> int:
    """Label Studio tasks (image path + one `choices` annotation) for every labelled image."""
    entries = project.store.label_entries()
    root = project.images_dir
    paths = {row.image_id: row.path for row in project.store.images(status="ok")}
    tasks = []
    for n, image_id in enumerate(sorted(entries), start=1):
        entry = entries[image_id]
        tasks.append(
            {
                "id": n,
                "data": {"image": str(root / paths[image_id]), "image_id": image_id},
                "annotations": [
                    {
                        "result": [
                            {
                                "from_name": "label",
                                "to_name": "image",
                                "type": "choices",
                                "value": {"choices": [project.classes[entry.label]]},
                            }
                        ],
                        "completed_by": entry.annotator,
                        "created_at": entry.created_at.isoformat(),
                        "lesionlab_source": entry.source,
                    }
                ],
            }
        )
    write_text(path, json.dumps(tasks, indent=1))
    return len(tasks)


def export_masks(project: Project, folder: Path) -> int:
    """Copy each image's consensus mask to `folder/<image_id>_segmentation.png`."""
    written = 0
    for image_id in sorted(project.store.masked_ids()):
        source = project.mask_path(image_id)
        if source is None:
            continue
        target = folder / f"{image_id}_segmentation.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written += 1
    return written


def export_project(project: Project, out: Path, formats: tuple[str, ...] = FORMATS) -> dict[str, Any]:
    """Write the chosen formats into `out`; returns what was written where."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise DataError(f"unknown export format(s) {sorted(unknown)}; choose from {', '.join(FORMATS)}")
    out.mkdir(parents=True, exist_ok=True)
    counts = project.consensus_counts()
    written: dict[str, Any] = {
        "left_out": {k: counts.get(k, 0) for k in ("unresolved", "incomplete")},
    }
    if "isic" in formats:
        written["isic"] = {
            "path": str(out / "labels_isic.csv"),
            "rows": export_isic_csv(project, out / "labels_isic.csv"),
        }
    if "labelstudio" in formats:
        path = out / "labels_labelstudio.json"
        written["labelstudio"] = {"path": str(path), "tasks": export_labelstudio(project, path)}
    if "masks" in formats:
        written["masks"] = {"path": str(out / "masks"), "files": export_masks(project, out / "masks")}
    return written


# ---------------------------------------------------------------------- import
def read_labels(project: Project, path: Path) -> dict[str, int]:
    """`{image_id: class index}` from an ISIC-style CSV, an `image_id,label` CSV or Label Studio JSON."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"labels file {path} does not exist")
    if path.suffix.lower() == ".json":
        return _read_labelstudio(project, path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        header = [h.strip() for h in reader.fieldnames or []]
    if "image_id" not in header and "image" in header:  # ISIC 2018 / HAM10000 name the column "image"
        rows = [{**r, "image_id": r["image"]} for r in rows]
        header = ["image_id", *header]
    if "image_id" not in header:
        raise DataError(
            f"{path}: no image_id column; expected image_id,label or image_id,<one column per class>"
        )
    labels: dict[str, int] = {}
    one_hot = [c for c in project.classes if c in header]
    for line, row in enumerate(rows, start=2):
        image_id = (row.get("image_id") or "").strip()
        if not image_id:
            continue
        if "label" in header:
            value = (row.get("label") or "").strip()
            if not value:
                continue
            try:
                labels[image_id] = project.class_index(value)
            except DataError as exc:
                raise DataError(f"{path}, line {line}: {exc}") from exc
        elif one_hot:
            hot = [c for c in one_hot if _truthy(row.get(c))]
            if len(hot) != 1:
                raise DataError(
                    f"{path}, line {line}: {image_id} has {len(hot)} classes marked; expected one"
                )
            labels[image_id] = project.class_index(hot[0])
        else:
            raise DataError(
                f"{path}: neither a label column nor a column per class ({', '.join(project.classes)})"
            )
    return labels


def _truthy(value: str | None) -> bool:
    try:
        return float(value or 0) >= 0.5
    except ValueError:
        return str(value).strip().lower() in ("true", "yes")


def _read_labelstudio(project: Project, path: Path) -> dict[str, int]:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(tasks, list):
        raise DataError(f"{path}: expected a list of Label Studio tasks")
    known = set(project.store.image_ids())
    labels: dict[str, int] = {}
    for task in tasks:
        data = task.get("data", {})
        image_id = data.get("image_id") or _id_from_path(str(data.get("image", "")), known)
        annotations = [a for a in task.get("annotations", []) if not a.get("was_cancelled")]
        choices = [
            r["value"]["choices"][0]
            for a in annotations[-1:]
            for r in a.get("result", [])
            if r.get("type") == "choices" and r.get("value", {}).get("choices")
        ]
        if image_id and choices:
            labels[image_id] = project.class_index(choices[0])
    return labels


def _id_from_path(image: str, known: set[str]) -> str | None:
    """The project image id a Label Studio image URL or path names, built as the scan builds ids (the path
    under the images folder without its suffix, so `sub/img.jpg` is `sub/img`): the longest trailing part
    of the path that is a known id. An unmatched path is returned as given, to be reported as unknown."""
    raw = unquote(image.split("?d=")[-1]).replace("\\", "/")
    if not raw:
        return None
    parts = PurePosixPath(raw).with_suffix("").parts
    for start in range(len(parts)):
        candidate = "/".join(p for p in parts[start:] if p != "/")
        if candidate in known:
            return candidate
    return raw


def import_labels(
    project: Project, path: Path, annotator: str = "import", source: str = "import"
) -> dict[str, Any]:
    """Store the labels of `path` (source "import"); ids not in the project are counted, not stored. The
    importer is one annotator: an image that has its `overlap` annotations from others already is left out
    and listed (`full`), never given a k+1-th vote that would outvote or settle the experts' answers."""
    if not project.task.class_labels:
        raise DataError(
            f"cannot import class labels from {path}: this is a {project.task.name} project, its "
            f"annotations are {project.task.target}s; import a folder of <image_id>_segmentation.png masks "
            "instead"
        )
    labels = read_labels(project, path)
    known = set(project.store.image_ids())
    unknown = sorted(set(labels) - known)
    stored, full = 0, []
    current = project.store.labels()
    for image_id, label in labels.items():
        if image_id in known and current.get(image_id) != label:
            try:
                project.store.add_annotation(
                    image_id, label, annotator, source, overlap=project.config.overlap
                )
            except Conflict:
                full.append(image_id)
                continue
            stored += 1
    return {
        "read": len(labels),
        "stored": stored,
        "unchanged": len(labels) - stored - len(unknown) - len(full),
        "unknown": unknown,
        "full": full,
    }


MASK_SUFFIX = "_segmentation.png"


def import_masks(project: Project, folder: Path, annotator: str = "import") -> dict[str, Any]:
    """Store the masks `<image_id>_segmentation.png` of `folder` and its sub-folders (what `export` writes,
    ISIC 2017's naming; the id is the path under `folder`, so `sub/img_segmentation.png` is `sub/img`),
    each checked like an upload; a mask equal to the image's standing one is not stored again. Ids not in
    the project are returned as `unknown`, other files as `ignored`. Every mask is decoded before any is
    stored: a file that does not decode (or has the wrong size) stops the import with its name, and
    nothing is stored, as with a bad line of a CSV."""
    import numpy as np

    from lesionlab.data.preprocess import open_mask

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"masks folder {folder} does not exist")
    known = set(project.store.image_ids())
    stored, unchanged, unknown, ignored, full = 0, 0, [], [], []
    todo: list[tuple[str, np.ndarray]] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if not rel.endswith(MASK_SUFFIX):
            ignored.append(rel)
            continue
        image_id = rel[: -len(MASK_SUFFIX)]
        if image_id not in known:
            unknown.append(image_id)
            continue
        try:
            new = project.decode_mask(image_id, path.read_bytes())
        except (OSError, DataError) as exc:
            raise DataError(
                f"{path}: {exc}; nothing was imported (fix or remove it and import again)"
            ) from exc
        current = project.mask_path(image_id)
        if current is not None and np.array_equal(open_mask(current), new):  # the one mask rule
            unchanged += 1
            continue
        todo.append((image_id, new))
    for image_id, mask in todo:  # every file decoded: store them (like a CSV, all of it or none)
        try:  # ... except on images that have their `overlap` masks from others (as for labels)
            project.store_mask(image_id, mask, annotator, source="import", overlap=project.config.overlap)
        except Conflict:
            full.append(image_id)
            continue
        stored += 1
    return {
        "full": full,
        "read": stored + unchanged + len(unknown) + len(full),
        "stored": stored,
        "unchanged": unchanged,
        "unknown": unknown,
        "ignored": ignored,
    }
