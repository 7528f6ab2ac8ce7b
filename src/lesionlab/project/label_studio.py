"""Label Studio export: tasks a real Label Studio imports, with the labelling config they need.

Why each piece: Label Studio loads an image by URL in the browser, so a task's `data.image` is either its
local-files URL (`/data/local-files/?d=<path under LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT>`, served by
Label Studio itself once a local-files source storage points at the images folder) or a URL under a web
server the user names (`images_url`). Label Studio keeps one annotation per person and resolves
`completed_by: {"email": ...}` to its user of that e-mail (the users must exist before the import: their
e-mails are written to `labelstudio_people.json`). Each person's standing class label is a `choices`
result, their mask a `brushlabels` result in Label Studio's brush RLE (`brush_rle`), their "unsure" flag a
second `choices` and their comment a `textarea`; a reviewer's decision is an annotation marked
`ground_truth`; the model's newest class prediction is a Label Studio prediction with its model version.
The labelling config (`labelstudio_config.xml`) names exactly those controls.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from lesionlab.data.preprocess import open_mask
from lesionlab.errors import DataError
from lesionlab.project import brush_rle, ls_brush
from lesionlab.project.leases import aware
from lesionlab.project.mask_files import inside_masks
from lesionlab.project.project import Project

TASKS_NAME = "labels_labelstudio.json"
CONFIG_NAME = "labelstudio_config.xml"
PEOPLE_NAME = "labelstudio_people.json"
EMAIL_DOMAIN = "lesionlab.local"
LOCAL_FILES = "/data/local-files/?d="
# the control names of the config; the importer reads results by these (and by type, for other configs)
LABEL, MASK, UNSURE, COMMENT, IMAGE = "label", "mask", "unsure", "comment", "image"


def mask_label(project: Project) -> str:
    """The brush label of a lesion: a segmentation project's foreground class (its last), else 'lesion'."""
    return project.classes[-1] if not project.task.class_labels and project.classes else "lesion"


def labelling_config(project: Project, with_masks: bool) -> str:
    """The Label Studio labelling config (XML) whose controls the exported results name."""
    lines = ["<View>", f'  <Image name="{IMAGE}" value="$image" zoom="true" zoomControl="true"/>']
    if project.task.class_labels:
        lines.append(f'  <Choices name="{LABEL}" toName="{IMAGE}" choice="single" showInline="true">')
        lines += [f"    <Choice value={quoteattr(c)}/>" for c in project.classes]
        lines.append("  </Choices>")
    if with_masks:
        lines.append(f'  <BrushLabels name="{MASK}" toName="{IMAGE}">')
        lines.append(f'    <Label value={quoteattr(mask_label(project))} background="#ff0000"/>')
        lines.append("  </BrushLabels>")
    lines += [
        f'  <Choices name="{UNSURE}" toName="{IMAGE}" choice="multiple" showInline="true">',
        '    <Choice value="unsure"/>',
        "  </Choices>",
        f'  <TextArea name="{COMMENT}" toName="{IMAGE}" placeholder="comment" maxSubmissions="1" '
        'editable="true"/>',
        "</View>",
    ]
    return "\n".join(lines) + "\n"


def email_of(name: str, domain: str = EMAIL_DOMAIN) -> str:
    """The e-mail a person's Label Studio user has: the name itself if it is one, else name@domain."""
    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", name):
        return name
    local = re.sub(r"[^a-z0-9._+-]+", "-", name.strip().lower()).strip("-.") or "annotator"
    return f"{local}@{domain}"


def image_url(project: Project, rel: str, images_url: str | None, local_root: Path | None) -> str:
    """How Label Studio reaches the image `rel` (its path under the images folder)."""
    if images_url:
        return images_url.rstrip("/") + "/" + quote(rel)
    root = Path(local_root).resolve() if local_root is not None else project.images_dir.resolve()
    path = (project.images_dir / rel).resolve()
    if not path.is_relative_to(root):
        raise DataError(
            f"image folder {project.images_dir} is not under the local-files root {root}; give a "
            "--local-files-root that contains it (Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT)"
        )
    return LOCAL_FILES + quote(path.relative_to(root).as_posix(), safe="/")


def _choices(name: str, rid: str, values: list[str]) -> dict[str, Any]:
    return {
        "id": rid,
        "from_name": name,
        "to_name": IMAGE,
        "type": "choices",
        "origin": "manual",
        "value": {"choices": values},
    }


def _results(project: Project, rows: list[Any], size: tuple[int, int]) -> list[dict[str, Any]]:
    """One person's results on one image: their label and/or mask, unsure flag and comment."""
    out: list[dict[str, Any]] = []
    for row in rows:
        rid = f"a{row.id}"
        if row.label is not None:
            out.append(_choices(LABEL, rid, [project.classes[row.label]]))
        path = inside_masks(project, row.mask_path)
        if path is not None:
            mask = open_mask(path)
            out.append(
                {
                    "id": rid + "m",
                    "from_name": MASK,
                    "to_name": IMAGE,
                    "type": "brushlabels",
                    "origin": "manual",
                    "original_width": size[0],
                    "original_height": size[1],
                    "image_rotation": 0,
                    "value": {
                        "format": "rle",
                        "rle": brush_rle.encode_mask(mask),
                        "brushlabels": [mask_label(project)],
                    },
                }
            )
    if any(getattr(r, "unsure", False) for r in rows):
        out.append(_choices(UNSURE, f"a{rows[-1].id}u", ["unsure"]))
    comments = [r.comment for r in rows if getattr(r, "comment", None)]
    if comments:
        value = {"text": ["\n".join(dict.fromkeys(comments))]}
        out.append(
            {"id": f"a{rows[-1].id}c", "from_name": COMMENT, "to_name": IMAGE, "type": "textarea"}
            | {"origin": "manual", "value": value}
        )
    return out


def _annotation(project: Project, rows: list[Any], size: tuple[int, int], email: str, gt: bool) -> dict:
    newest = max(rows, key=lambda r: r.id)
    seconds = [r.seconds for r in rows if r.seconds is not None]
    return {
        "completed_by": {"email": email},
        "result": _results(project, rows, size),
        "was_cancelled": False,
        "ground_truth": gt,
        "created_at": aware(newest.created_at).isoformat(),
        "lead_time": float(sum(seconds)) if seconds else None,
    }


def model_predictions(project: Project, ids: set[str]) -> dict[str, dict[str, Any]]:
    """Label Studio `predictions` (pre-annotations, shown with their model version) of the model's newest
    class prediction of each image in `ids`, the one its proposal stored."""
    versions = {r.id: r.model_version_id for r in project.store.rounds()}
    newest: dict[str, Any] = {}
    for proposal, iid in project.store.proposals():  # round order: a later round replaces an earlier one
        if iid in ids and proposal.prediction and versions.get(proposal.round_id) is not None:
            newest[iid] = proposal
    out = {}
    for iid, proposal in newest.items():
        probs = list(proposal.prediction)
        k = max(range(len(probs)), key=probs.__getitem__)
        if k < len(project.classes):
            out[iid] = {
                "model_version": f"v{versions[proposal.round_id]}",
                "score": float(probs[k]),
                "result": [_choices(LABEL, f"p{proposal.id}", [project.classes[k]])],
            }
    return out


def build_tasks(
    project: Project,
    images_url: str | None = None,
    local_root: Path | None = None,
    domain: str = EMAIL_DOMAIN,
) -> tuple[list[dict[str, Any]], dict[str, str], bool]:
    """(tasks, {person: e-mail}, whether any mask is exported): one task per image someone annotated,
    one annotation per person standing on it (label and mask together) and one for a reviewer's decision."""
    store = project.store
    by_image: dict[str, dict[tuple[str, bool], list[Any]]] = {}
    for kind in ("label", "mask"):
        for iid, st in store.standing(kind).items():
            people = by_image.setdefault(iid, {})
            for name, row in st.raters.items():
                people.setdefault((name, False), []).append(row)
            if st.adjudication is not None:
                people.setdefault((st.adjudication.annotator, True), []).append(st.adjudication)
    emails: dict[str, str] = {}
    taken: dict[str, str] = {}
    for name, _ in sorted({k for people in by_image.values() for k in people}):
        base = email = email_of(name, domain)
        n = 1
        while taken.get(email, name) != name:  # two names, one e-mail: number the later one
            local, at = base.split("@", 1)
            email, n = f"{local}+{n}@{at}", n + 1
        emails[name], taken[email] = email, name
    rows = {r.image_id: r for r in store.images(status="ok")}
    predicted = model_predictions(project, set(by_image))
    tasks, with_masks = [], False
    for iid in sorted(by_image):
        row = rows[iid]
        size = (int(row.width or 0), int(row.height or 0))
        annotations = []
        for (name, gt), group in sorted(by_image[iid].items(), key=lambda kv: (kv[0][1], kv[0][0])):
            annotations.append(_annotation(project, group, size, emails[name], gt))
            with_masks = with_masks or any(r.mask_path is not None for r in group)
        data = {IMAGE: image_url(project, row.path, images_url, local_root), "image_id": iid}
        task = {"data": data, "annotations": annotations}
        if iid in predicted:
            task["predictions"] = [predicted[iid]]
        tasks.append(task)
    return tasks, emails, with_masks or not project.task.class_labels


# ---------------------------------------------------------------------- reading Label Studio JSON
def _task_list(raw: Any, path: Path) -> list[Any]:
    if isinstance(raw, dict) and ("data" in raw or "annotations" in raw):
        return [raw]  # one task, as Label Studio's import also takes
    if not isinstance(raw, list):
        raise DataError(
            f"{path}: expected a list of Label Studio tasks "
            f'([{{"data": {{"image": ...}}, "annotations": [...]}}, ...]), got a JSON {type(raw).__name__}'
        )
    return raw


def _where(path: Path, n: int, task: Any) -> str:
    tid = task.get("id") if isinstance(task, dict) else None
    return f"{path}, task {n}" + (f" (id {tid})" if tid is not None else "")


def _image_of(task: dict, known: set[str], where: str) -> str:
    data = task.get("data", {k: v for k, v in task.items() if k not in ("annotations", "predictions")})
    if not isinstance(data, dict):
        raise DataError(
            f'{where}: "data" must be an object holding the image, e.g. {{"image": "/data/local-files/?d='
            f'img.jpg"}}, got a {type(data).__name__}'
        )
    image_id, image = data.get("image_id"), data.get(IMAGE)
    if isinstance(image_id, str) and image_id.strip():
        return image_id.strip()
    if isinstance(image, str) and image.strip():
        return id_from_path(image, known) or image
    raise DataError(
        f'{where}: "data" names no image (keys: {", ".join(map(str, data)) or "none"}); put its URL '
        "or path in data.image"
    )


def id_from_path(image: str, known: set[str]) -> str | None:
    """The project image id a Label Studio image URL or path names, built as the scan builds ids (the path
    under the images folder without its suffix, so `sub/img.jpg` is `sub/img`): the longest trailing part
    of the path that is a known id. An unmatched path is returned as given, to be reported as unknown."""
    from pathlib import PurePosixPath
    from urllib.parse import unquote

    raw = unquote(image.split("?d=")[-1]).replace("\\", "/")
    if not raw:
        return None
    parts = PurePosixPath(raw).with_suffix("").parts
    for start in range(len(parts)):
        candidate = "/".join(p for p in parts[start:] if p != "/")
        if candidate in known:
            return candidate
    return raw


def _result_list(annotation: Any, where: str) -> list[dict]:
    if not isinstance(annotation, dict):
        raise DataError(
            f"{where}: an annotation must be an object with a result list, got {annotation!r:.60}"
        )
    result = annotation.get("result", [])
    if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
        raise DataError(f'{where}: "result" must be a list of objects, got {result!r:.60}')
    return result


def _choice(result: list[dict], project: Project, where: str) -> int | None:
    """The class an annotation's choices result names (the `label` control, or the only other one)."""
    found = [r for r in result if r.get("type") == "choices" and r.get("from_name") != UNSURE]
    if len({r.get("from_name") for r in found}) > 1:  # several controls: ours, else the one naming a class
        found = (
            [r for r in found if r.get("from_name") == LABEL]
            or [r for r in found if _names_a_class(r, project)]
            or found[:1]
        )
    if not found:
        return None
    value = found[0].get("value")
    choices = value.get("choices") if isinstance(value, dict) else None
    if isinstance(choices, str):
        raise DataError(
            f'{where}: value.choices must be a list such as ["{choices}"], got the string {choices!r}'
        )
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], str):
        raise DataError(
            f'{where}: value.choices must hold one class name, as ["{project.classes[0]}"], got '
            f"{choices!r:.60}"
        )
    try:
        return project.class_index(choices[0])
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from exc


def _names_a_class(result: dict, project: Project) -> bool:
    value = result.get("value")
    choices = value.get("choices") if isinstance(value, dict) else None
    names = {c.casefold() for c in project.classes}
    return isinstance(choices, list) and any(str(c).strip().casefold() in names for c in choices)


def read_tasks(project: Project, path: Path, masks: bool = False) -> tuple[dict[str, Any], list[str]]:
    """({image id: class index, or with `masks` a boolean mask}, images whose annotations disagree) of a
    Label Studio JSON file; every task is checked before anything is returned. Per image (all its tasks
    together), its `ground_truth` annotations win if they agree; otherwise its (not cancelled) annotations
    must agree, or the image is listed."""
    import json

    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from exc
    known = set(project.store.image_ids())
    sizes = {r.image_id: (int(r.width or 0), int(r.height or 0)) for r in project.store.images(status="ok")}
    answers_of: dict[str, list[Any]] = {}
    truths_of: dict[str, list[Any]] = {}
    tasks = _task_list(raw, Path(path))
    lesion = ls_brush.lesion_names(mask_label(project), tasks, Path(path)) if masks else None
    for n, task in enumerate(tasks):
        where = _where(Path(path), n, task)
        if not isinstance(task, dict):
            raise DataError(
                f'{where}: expected an object {{"data": ..., "annotations": [...]}}, got {task!r:.60}'
            )
        image_id = _image_of(task, known, where)
        where += f" ({image_id})"
        annotations = task.get("annotations", task.get("completions", []))
        if not isinstance(annotations, list):
            raise DataError(f'{where}: "annotations" must be a list, got {annotations!r:.60}')
        answers, truths = answers_of.setdefault(image_id, []), truths_of.setdefault(image_id, [])
        for k, ann in enumerate(annotations):
            result = _result_list(ann, f"{where}, annotation {k}")
            if ann.get("was_cancelled"):
                continue
            if masks and image_id in sizes:
                value = ls_brush.brush_mask(result, sizes[image_id], f"{where}, annotation {k}", lesion)
            else:
                value = _choice(result, project, f"{where}, annotation {k}")
            if value is None:
                continue
            (truths if ann.get("ground_truth") else answers).append(value)
    return _agreed(answers_of, truths_of)


def _agreed(answers_of: dict[str, list[Any]], truths_of: dict[str, list[Any]]) -> tuple[dict, list[str]]:
    """Each image's ground truths if it has any, else its answers, when they agree; otherwise it is listed.
    All of an image's tasks count together: an image imported twice into Label Studio has two tasks, and
    the later one's answer silently replaced the earlier one's (as did a second ground truth)."""
    import numpy as np

    out: dict[str, Any] = {}
    disagree: list[str] = []
    for image_id, answers in answers_of.items():
        values = truths_of[image_id] or answers
        if values and all(np.array_equal(v, values[0]) for v in values):
            out[image_id] = values[0]
        elif values:
            disagree.append(image_id)
    return out, disagree
