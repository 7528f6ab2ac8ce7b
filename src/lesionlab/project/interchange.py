"""Export and import of a project's labels: ISIC-style CSV, Label Studio JSON and mask PNGs.

ISIC-style CSV is the ISIC challenges' ground-truth layout: `image_id` then one column per class holding
1.0 for the image's class and 0.0 otherwise. The import reads the data sets' other layouts too
(`isic_csv`: ISIC 2017's implicit nevus, ISIC 2018's one-hot, HAM10000's `dx`, `image_id,label`) and
Label Studio JSON (`label_studio`: choices, or brush masks in a segmentation project). Masks are exported
as `<image_id>_segmentation.png` (ISIC 2017's naming). An import is all or nothing: the whole file is
checked first, a bad row or task stops it with its line or index, then it is stored in one transaction.

The CSV and mask exports write each image's consensus (the majority label, the fused mask, or a
reviewer's decision): what training uses. Images whose annotators disagree without a reviewer's decision,
or that still wait for their `overlap` annotations, are left out and counted (`left_out`). The Label
Studio export writes every person's annotation with its author (`label_studio`).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from lesionlab.data.mask_stats import WARN_NEARLY_FULL
from lesionlab.data.preprocess import open_mask
from lesionlab.errors import DataError
from lesionlab.io import write_text
from lesionlab.project import label_studio, mask_files
from lesionlab.project.isic_csv import read_csv_labels
from lesionlab.project.mask_files import write_png
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


def export_labelstudio(
    project: Project,
    folder: Path,
    images_url: str | None = None,
    local_root: Path | None = None,
    domain: str = label_studio.EMAIL_DOMAIN,
) -> dict[str, Any]:
    """Label Studio tasks (every person's annotation, with its author), the labelling config they need
    and the people's e-mails, into `folder` (see `lesionlab.project.label_studio`)."""
    tasks, emails, with_masks = label_studio.build_tasks(project, images_url, local_root, domain)
    path = folder / label_studio.TASKS_NAME
    write_text(path, json.dumps(tasks, indent=1))
    write_text(folder / label_studio.CONFIG_NAME, label_studio.labelling_config(project, with_masks))
    people = [{"name": name, "email": email} for name, email in sorted(emails.items())]
    write_text(folder / label_studio.PEOPLE_NAME, json.dumps(people, indent=1))
    return {
        "path": str(path),
        "tasks": len(tasks),
        "annotations": sum(len(t["annotations"]) for t in tasks),
        "config": str(folder / label_studio.CONFIG_NAME),
        "people": str(folder / label_studio.PEOPLE_NAME),
    }


def labelstudio_options(image_urls: str) -> dict[str, Any]:
    """`export_labelstudio`'s options from `--image-urls`: `local-files` (Label Studio serves the images
    folder, its LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT), `local-files:ROOT` (a document root above it), or
    the http(s) URL under which a web server serves the images folder."""
    value = image_urls.strip()
    if value.startswith(("http://", "https://")):
        return {"images_url": value}
    if value == "local-files":
        return {}
    if value.startswith("local-files:"):
        return {"local_root": Path(value.split(":", 1)[1]).expanduser()}
    raise DataError(
        f"--image-urls {image_urls!r}: give local-files, local-files:/path/to/document/root, or an "
        "http(s):// URL under which the images folder is served"
    )


def export_masks(project: Project, folder: Path) -> int:
    """Copy each image's consensus mask to `folder/<image_id>_segmentation.png`.

    Ids that differ only in case (`ISIC_1`, `isic_1`) name one file on a case-insensitive file system
    (macOS, Windows): the later copy would replace the earlier, so such an export stops before writing."""
    todo = [(i, project.mask_path(i)) for i in sorted(project.store.masked_ids())]
    todo = [(i, source) for i, source in todo if source is not None]
    folder.mkdir(parents=True, exist_ok=True)
    mask_files.refuse_case_clashes(folder, [i for i, _ in todo])
    for image_id, source in todo:
        target = folder / f"{image_id}_segmentation.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return len(todo)


def export_project(
    project: Project,
    out: Path,
    formats: tuple[str, ...] = FORMATS,
    labelstudio: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the chosen formats into `out`; returns what was written where. `labelstudio` holds
    `export_labelstudio`'s options (images_url, local_root, domain)."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise DataError(f"unknown export format(s) {sorted(unknown)}; choose from {', '.join(FORMATS)}")
    out.mkdir(parents=True, exist_ok=True)
    project.check_images()  # an image replaced since its masks were drawn is left out, as in training
    if "masks" in formats:  # before any format is written: a refused export leaves no partial folder
        mask_files.refuse_case_clashes(out, sorted(project.store.masked_ids()))
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
        written["labelstudio"] = export_labelstudio(project, out, **(labelstudio or {}))
    if "masks" in formats:
        written["masks"] = {"path": str(out / "masks"), "files": export_masks(project, out / "masks")}
    return written


# ---------------------------------------------------------------------- import
def read_labels(project: Project, path: Path) -> dict[str, int]:
    """`{image_id: class index}` of a ground-truth CSV (`isic_csv`'s layouts) or Label Studio JSON (tasks
    whose annotators disagree are left out: `import_labels` lists them)."""
    return _read(project, Path(path))[0]


def _read(project: Project, path: Path, masks: bool = False) -> tuple[dict[str, Any], list[str]]:
    if not path.is_file():
        raise DataError(f"labels file {path} does not exist")
    if path.suffix.lower() == ".json":
        return label_studio.read_tasks(project, path, masks)
    if masks:
        raise DataError(
            f"{path}: a segmentation project imports masks: a folder of <image_id>_segmentation.png "
            "files or Label Studio JSON with brush masks"
        )
    return read_csv_labels(project, path), []


def _check_known(values: dict[str, Any], known: set[str], path: Path) -> list[str]:
    """Ids of `values` not in the project (a ground truth of more images than the project is fine); an
    import none of whose ids is an image of the project is refused (the wrong file or images folder)."""
    unknown = sorted(set(values) - known)
    if values and len(unknown) == len(values):
        raise DataError(
            f"{path}: none of its {len(values)} image ids is an image of this project (e.g. "
            f"{', '.join(unknown[:3])}); is it the labels of this images folder?"
        )
    return unknown


def check_importer(project: Project, annotator: str) -> str:
    """The import's name, stripped. An import is credited to one name, and a name's newest answer is its
    standing one: importing under an invited person's name, or a name with answers from the page, would
    replace that expert's answers with the file's (and credit them with labels several people may have
    given); under another spelling of an earlier import's name (`Dr_Smith` after `dr_smith`) both files'
    answers would stand, as two people agreeing. Refused before reading."""
    import unicodedata

    from sqlalchemy import select

    from lesionlab.project.models import Annotation, Person
    from lesionlab.project.people import name_key

    clean = unicodedata.normalize("NFC", annotator.strip())
    if not clean:
        raise DataError("--annotator is empty; name the import (e.g. --annotator import)")
    same = name_key(clean)  # as `invite` compares names: "Alice" is alice, "ÉLODIE" élodie
    with project.store.session() as s:
        invited = next((n for n in s.scalars(select(Person.name)) if name_key(n) == same), None)
        names = s.execute(select(Annotation.annotator, Annotation.source).distinct()).all()
    named = [(n, source) for n, source in names if name_key(n) == same]
    answered = next((n for n, source in named if source != "import"), None)
    spelled = next((n for n, source in named if source == "import" and n != clean), None)
    if spelled is not None and unicodedata.normalize("NFC", spelled.strip()) == clean:
        return spelled  # stored before names were stripped and normalised: the same name, replaced
    if invited is not None or answered is not None:
        who = "an invited person" if invited is not None else "an annotator with answers from the page"
        raise DataError(
            f"--annotator {annotator!r} is {who}: an import under that name would replace their answers; "
            "import under a name of its own (e.g. --annotator import or --annotator labelstudio)"
        )
    if spelled is not None:
        raise DataError(
            f"--annotator {annotator!r}: labels were imported under {spelled!r}; give --annotator "
            f"{spelled.strip()} to replace them, or a name of its own (two spellings stand as two people)"
        )
    return clean


def import_labels(
    project: Project, path: Path, annotator: str = "import", source: str = "import"
) -> dict[str, Any]:
    """Store the labels of `path` (source "import"), all of them or none: the whole file is read and
    checked first (a bad row stops it with its line), then stored in one transaction. Ids not in the
    project are counted, not stored. The importer is one annotator: an image that has its `overlap`
    annotations from others already is left out and listed (`full`), never given a k+1-th vote that would
    outvote or settle the experts' answers. A segmentation project reads Label Studio brush masks."""
    path = Path(path)
    annotator = check_importer(project, annotator)
    if not project.task.class_labels:
        if path.suffix.lower() != ".json":
            raise DataError(
                f"cannot import class labels from {path}: this is a {project.task.name} project, its "
                f"annotations are {project.task.target}s; import a folder of <image_id>_segmentation.png "
                "masks or Label Studio JSON with brush masks instead"
            )
        return import_labelstudio_masks(project, path, annotator)
    labels, disagree = _read(project, path)
    known = set(project.store.image_ids())
    unknown = _check_known(labels, known, path)
    current = project.store.labels()
    todo = [(i, k, None) for i, k in labels.items() if i in known and current.get(i) != k]
    full = project.store.add_many(todo, annotator, source, project.config.overlap)
    stored = len(todo) - len(full)
    return {
        "read": len(labels),
        "stored": stored,
        "unchanged": len(labels) - stored - len(unknown) - len(full),
        "unknown": unknown,
        "full": full,
        "disagree": disagree,
    }


def import_labelstudio_masks(project: Project, path: Path, annotator: str = "import") -> dict[str, Any]:
    """The brush masks of a Label Studio JSON file, each checked against its image's size, stored like a
    masks folder (all of them or none)."""
    masks, disagree = _read(project, path, masks=True)
    known = set(project.store.image_ids())
    unknown = _check_known(masks, known, path)
    todo, unchanged = [], 0
    for image_id in sorted(set(masks) & known):
        current = project.mask_path(image_id)
        if current is not None and np.array_equal(open_mask(current), masks[image_id]):
            unchanged += 1
        else:
            todo.append((image_id, masks[image_id]))
    done = _store_masks(project, todo, annotator)
    nearly = [i for i in sorted(set(masks) & known) if _nearly_full(masks[i])]
    return {
        **done,
        "read": len(masks),
        "unchanged": unchanged,
        "unknown": unknown,
        "disagree": disagree,
        "nearly_full": nearly,
    }


def _store_masks(project: Project, todo: list[tuple[str, np.ndarray]], annotator: str) -> dict[str, Any]:
    """Write the mask files, then record them in one transaction; on any failure no file stays behind."""
    files = []
    try:
        for image_id, mask in todo:
            row = project.store.image(image_id)
            target = project.new_mask_file(row.key)
            write_png(target, mask)
            files.append((image_id, None, target.relative_to(project.dir).as_posix()))
        full = project.store.add_many(files, annotator, "import", project.config.overlap)
    except BaseException:
        for _, _, rel in files:
            (project.dir / rel).unlink(missing_ok=True)
        raise
    for image_id, _, rel in files:  # left out: their files are not kept
        if image_id in full:
            (project.dir / rel).unlink(missing_ok=True)
    return {"stored": len(files) - len(full), "full": full}


def left_out_note(done: dict[str, Any]) -> str:
    """The import line's note on what was read but not stored: images that have all their annotations
    already, and Label Studio tasks whose annotators disagree with none marked ground truth (decide them in
    Label Studio, or label them here)."""
    text = ""
    if done.get("full"):
        ids = done["full"]
        text += (
            f"; {len(ids)} left out (their images have all their annotations already): {', '.join(ids[:5])}"
        )
    if done.get("disagree"):
        ids = done["disagree"]
        text += (
            f"; {len(ids)} left out (their annotations disagree, none is ground truth): {', '.join(ids[:5])}"
        )
    return text


MASK_SUFFIX = "_segmentation.png"  # matched in any case: ISIC 2016 writes `_Segmentation.png`
# A mask covering more than this share of its image is listed by an import (an inverted mask, lesion dark
# on white, decodes as nearly full): stored as read, but never without a word. As `describe` names them.
NEARLY_FULL = WARN_NEARLY_FULL


def _nearly_full(mask: np.ndarray) -> bool:
    return bool(mask.size) and float(mask.mean()) > NEARLY_FULL


def nearly_full_note(done: dict[str, Any]) -> str | None:
    """The warning line an import prints when masks it read cover nearly all of their image."""
    names = done.get("nearly_full") or []
    if not names:
        return None
    return (
        f"warning: {len(names)} mask(s) cover more than {NEARLY_FULL * 100:.0f} % of their image (inverted? "
        f"lesions must be the bright part): {', '.join(names[:10])}"
        + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    )


def import_masks(project: Project, folder: Path, annotator: str = "import") -> dict[str, Any]:
    """Store the masks `<image_id>_segmentation.png` of `folder` and its sub-folders (what `export` writes,
    ISIC 2017's naming; the suffix in any case, as ISIC 2016's `_Segmentation.png`; the id is the path
    under `folder`, so `sub/img_segmentation.png` is `sub/img`), each checked like an upload; a mask equal
    to the image's standing one is not stored again. Ids not in the project are returned as `unknown`,
    other files as `ignored`, masks covering nearly all of their image as `nearly_full` (inverted masks
    decode so; stored as read, the command warns). Every mask is decoded before any is
    stored: a file that does not decode (or has the wrong size) stops the import with its name, and
    nothing is stored, as with a bad line of a CSV; the rest are stored in one transaction."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"masks folder {folder} does not exist")
    annotator = check_importer(project, annotator)
    known = set(project.store.image_ids())
    unchanged, unknown, ignored, nearly = 0, [], [], []
    todo: list[tuple[str, np.ndarray]] = []
    seen: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if not rel.lower().endswith(MASK_SUFFIX):
            ignored.append(rel)
            continue
        image_id = rel[: -len(MASK_SUFFIX)]
        if image_id not in known:
            unknown.append(image_id)
            continue
        if image_id in seen:  # `a_Segmentation.png` and `a_segmentation.png`: which one is meant?
            raise DataError(
                f"{folder}: {seen[image_id]} and {rel} are both masks of image {image_id!r}; keep one "
                "and import again (nothing was imported)"
            )
        seen[image_id] = rel
        try:
            new = project.decode_mask(image_id, path.read_bytes())
        except (OSError, DataError) as exc:
            raise DataError(
                f"{path}: {exc}; nothing was imported (fix or remove it and import again)"
            ) from exc
        if _nearly_full(new):
            nearly.append(rel)
        current = project.mask_path(image_id)
        if current is not None and np.array_equal(open_mask(current), new):  # the one mask rule
            unchanged += 1
            continue
        todo.append((image_id, new))
    done = _store_masks(project, todo, annotator)
    return {
        **done,
        "read": done["stored"] + unchanged + len(unknown) + len(done["full"]),
        "unchanged": unchanged,
        "unknown": unknown,
        "ignored": ignored,
        "nearly_full": nearly,
    }
