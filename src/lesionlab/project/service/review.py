"""What a reviewer does: audit flags (keep or change a suspicious label), the adjudication queue (images
whose annotators disagree) and its decisions, and the team's agreement figures.

A decision is an annotation of source "adjudication": it is then the image's consensus, whatever the
annotators said (their answers stay in the history and in the agreement figures).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import numpy as np

from lesionlab.data.preprocess import open_mask
from lesionlab.project import mask_files
from lesionlab.project.agreement import agreement_summary
from lesionlab.project.consensus import class_consensus
from lesionlab.project.exceptions import Conflict, Forbidden, Invalid, NotFound
from lesionlab.project.people import Caller
from lesionlab.project.project import Project
from lesionlab.project.service.images import showable_row


def notes(st: Any) -> list[dict[str, Any]]:
    """The standing annotators' doubts and comments on an image (only those who left one)."""
    rows = [] if st is None else sorted(st.raters.items())
    return [
        {"annotator": name, "unsure": bool(a.unsure), "comment": a.comment}
        for name, a in rows
        if a.unsure or a.comment
    ]


def flags(project: Project, pending: bool = True) -> list[dict[str, Any]]:
    """Audit flags, each with the image's labels now and what its annotators said of their doubt."""
    labels = project.store.labels()
    standing = project.store.standing("label")
    out = []
    for flag, image_id in project.store.flags(pending_only=pending):
        current = labels.get(image_id)
        suggested = flag.suggested_label
        out.append(
            {
                "id": flag.id,
                "image_id": image_id,
                "score": flag.score,
                "reason": flag.reason,
                "label": None if current is None else project.classes[current],
                "suggested": None if suggested is None else project.classes[suggested],
                "outcome": flag.outcome,
                "reviewed_by": flag.reviewed_by,
                "notes": notes(standing.get(image_id)),
            }
        )
    return out


def review_flag(
    project: Project,
    caller: Caller,
    flag_id: int,
    outcome: str,
    label: str | int | None,
    shown: tuple[str | None] | None = None,
) -> dict[str, Any]:
    """Keep or change a flagged label. `shown` (a 1-tuple: the label name the reviewer was shown, None
    for none) refuses the decision (Conflict) when the label changed since: keeping a label that is no
    longer the image's, or changing one another reviewer has just decided, overrules what was not seen."""
    image_id = next((iid for f, iid in project.store.flags(pending_only=False) if f.id == flag_id), None)
    if image_id is not None:
        showable_row(project, image_id)  # the reviewer saw the image before deciding on it
        now = project.store.labels(image_id).get(image_id)
        name = None if now is None else project.classes[now]
        if shown is not None and shown[0] != name:
            raise Conflict(
                f"the label of {image_id!r} is now {name or 'none'}, not the {shown[0] or 'none'} you were "
                "shown (changed since); reload the Review tab and decide again"
            )
    index = None
    if outcome == "change":
        if label is None:
            raise Invalid("changing a flagged label needs the new label")
        index = project.class_index(label)
    if image_id is not None:  # neither keeps nor makes the reviewer's own answer the image's label
        _not_own_label(project, caller, image_id, now if outcome == "keep" else index)
    seen = () if shown is None or image_id is None else (now,)  # checked again where it is stored
    flag = project.store.review_flag(flag_id, outcome, caller.name, index, seen)
    return {"id": flag.id, "outcome": flag.outcome, "new_annotation_id": flag.new_annotation_id}


def _not_own_label(project: Project, caller: Caller, image_id: str, label: int | None) -> None:
    """Forbidden when the reviewer gave `label` on the image themselves (their standing answer, or their
    own earlier decision): keeping it, or deciding a dispute for it, counts their answer twice, once as
    an answer and once as its review, and overrules the colleague who said otherwise. Conceding (a
    change, another's answer) stays theirs to give."""
    if label is None or not _another_reviewer(project, caller):
        return
    st = project.store.standing("label", image_id).get(image_id)
    mine = None if st is None else st.raters.get(caller.name)
    decided = st is not None and st.adjudication is not None and st.adjudication.annotator == caller.name
    if (mine is not None and mine.label == label) or (decided and st.adjudication.label == label):
        raise Forbidden(
            f"{caller.name} gave {image_id!r} its label {project.classes[label]} themselves: another "
            "reviewer decides it (or change your own answer)"
        )


def _another_reviewer(project: Project, caller: Caller) -> bool:
    """Whether someone else invited and not revoked may review: only then is a reviewer's own answer
    left to them. A reviewer working alone (a solo clinician checking the audit's flags on their own
    labels) still decides, or nobody could."""
    from lesionlab.project.people import ROLES, name_key, people

    me = name_key(caller.name)
    return any(
        not p["revoked"] and name_key(p["name"]) != me and ROLES.index(p["role"]) >= ROLES.index("reviewer")
        for p in people(project)
    )


# ---------------------------------------------------------------------- adjudication
def _mask_queue(project: Project) -> dict[str, tuple[Any, Any]]:
    out = {}
    for iid, st in project.store.standing("mask").items():
        found = mask_files.consensus_of(project, st)
        if found.consensus.needs_review:
            out[iid] = (found.consensus, st)
    return out


def _label_queue(project: Project) -> dict[str, tuple[Any, Any]]:
    return {iid: v for iid, v in project.store.label_consensus().items() if v[0].needs_review}


def needs_review(project: Project, st: Any) -> bool:
    """Whether one image's standing annotations (of the task's kind) wait for a reviewer."""
    if project.store.kind == "mask":
        return mask_files.consensus_of(project, st).consensus.needs_review
    labels = {a.label for a in st.raters.values()}
    if st.adjudication is not None or len(st.raters) < project.config.overlap or len(labels) == 1:
        return False  # decided, incomplete or unanimous: the common cases, without building a Consensus
    answers = [a.label for a in st.raters.values()]
    return class_consensus(answers, project.config.overlap).needs_review


def adjudication_queue(project: Project) -> list[dict[str, Any]]:
    """Unresolved images first, then majorities with a dissenting vote, each with everyone's answer."""
    segmentation = project.store.kind == "mask"
    waiting = _mask_queue(project) if segmentation else _label_queue(project)
    rows = {r.image_id: r for r in project.store.images(status="ok")}
    items = []
    for iid, (cons, st) in waiting.items():
        answers = []
        for name, a in sorted(st.raters.items()):
            answer: dict[str, Any] = {
                "annotation_id": a.id,
                "annotator": name,
                "unsure": bool(a.unsure),
                "comment": a.comment,
            }
            if segmentation:
                answer["mask_url"] = f"/api/adjudication/masks/{a.id}"
            else:
                answer["label"] = project.classes[a.label]
            answers.append(answer)
        item = {
            "image_id": iid,
            "width": rows[iid].width,
            "height": rows[iid].height,
            "status": cons.status,
            "reason": cons.reason,
            "annotations": answers,
        }
        if segmentation:
            item["fused_mask_url"] = f"/api/adjudication/fused/{quote(iid)}"
            item["dice"] = _mean_dice(project, st)
        items.append(item)
    items.sort(key=lambda x: (x["status"] != "unresolved", x["image_id"]))
    return items


def _mean_dice(project: Project, st: Any) -> float | None:
    """Mean pairwise Dice of the image's standing masks (None for fewer than two)."""
    from lesionlab.project.consensus import mean_pairwise_dice

    files = [mask_files.inside_masks(project, a.mask_path) for a in st.raters.values()]
    return mean_pairwise_dice([open_mask(f) for f in files if f is not None])


def annotation_mask(project: Project, annotation_id: int):
    """Any annotator's mask file, by annotation id (reviewers compare them)."""
    row = project.store.annotation(annotation_id)
    path = mask_files.inside_masks(project, row.mask_path if row is not None else None)
    if path is None:
        raise NotFound(f"annotation {annotation_id} has no mask")
    return path


def fused_mask(project: Project, image_id: str) -> np.ndarray:
    """The pixel vote of the image's standing masks (shown to reviewers even when they disagree)."""
    from lesionlab.project.consensus import fuse_masks

    st = project.store.standing("mask", image_id).get(image_id)
    files = [mask_files.inside_masks(project, a.mask_path) for a in (st.raters.values() if st else [])]
    masks = [open_mask(f) for f in files if f is not None]
    if not masks:
        raise NotFound(f"image {image_id!r} has no masks to fuse")
    return fuse_masks(masks)


def adjudicate(
    project: Project,
    caller: Caller,
    image_id: str,
    request_id: str,
    label: str | int | None = None,
    annotation_id: int | None = None,
    fused: bool = False,
    seen: list[int] | None = None,
) -> dict[str, Any]:
    """Decide an image: a class, one annotator's mask, or the fused mask. Exactly one must be given.

    `seen` are the ids of the annotations the reviewer was shown; if what stands on the image changed
    since (an annotator took theirs back or replaced it, another reviewer decided), the decision is
    refused (Conflict), since it was made on answers that no longer stand."""
    if sum(x is not None and x is not False for x in (label, annotation_id, fused or None)) != 1:
        raise Invalid("an adjudication gives exactly one of label, annotation_id or fused")
    by_mask = project.task.target == "mask"
    if by_mask == (label is not None):  # a class decision stored in a mask project would decide nothing
        raise Invalid(
            "a segmentation project's image is decided by a mask: give annotation_id or fused"
            if by_mask
            else "a classification project's image is decided by a label: give label"
        )
    showable_row(project, image_id)
    index = None if label is None else project.class_index(label)
    kind = "mask" if index is None else "label"
    earlier = project.store.by_request(request_id, caller.name, image_id, index, kind)
    if earlier is not None:  # a retried decision: stored once, whatever stands now
        return {"annotation_id": earlier, "new": False, "image_id": image_id}
    standing_now = _current(project, image_id, seen)
    if index is not None:
        _not_own_label(project, caller, image_id, index)
        new_id, new = project.store.add_annotation(
            image_id, index, caller.name, "adjudication", request_id, seen=standing_now
        )
        return {"annotation_id": new_id, "new": new, "image_id": image_id, "label": project.classes[index]}
    if fused:
        mask = fused_mask(project, image_id)
    else:
        chosen = project.store.annotation(int(annotation_id))
        image = project.store.image(image_id)
        if chosen is None or chosen.image_key != image.key or chosen.mask_path is None:
            raise NotFound(f"annotation {annotation_id} is not a mask of {image_id!r}")
        mine = chosen.annotator == caller.name and chosen.source != "adjudication"
        if mine and _another_reviewer(project, caller):
            raise Forbidden(
                f"annotation {chosen.id} is {caller.name}'s own mask of {image_id!r}: another reviewer "
                "decides between it and the others (or take the fused mask, or another's)"
            )
        if chosen.id not in standing_now:  # a mask its annotator took back is no answer
            raise Conflict(
                f"annotation {chosen.id} no longer stands on {image_id!r} (taken back or replaced); "
                "reload the Adjudicate tab"
            )
        mask = open_mask(annotation_mask(project, int(annotation_id)))
    new_id, new = project.save_mask(
        image_id, mask, caller.name, request_id, source="adjudication", seen=standing_now
    )
    return {"annotation_id": new_id, "new": new, "image_id": image_id}


def _current(project: Project, image_id: str, seen: list[int] | None) -> list[int]:
    """The ids of what stands on the image now (answers and a decision); Conflict if the reviewer was
    shown something else (`seen`): a decision made on answers that no longer stand is refused."""
    st = project.store.standing(project.store.kind, image_id).get(image_id)
    now = [] if st is None else [a.id for a in st.raters.values()]
    if st is not None and st.adjudication is not None:
        now.append(st.adjudication.id)
    if seen is not None and sorted(seen) != sorted(now):
        raise Conflict(
            f"the annotations of {image_id!r} changed since they were shown to you; reload the Adjudicate "
            "tab and decide again"
        )
    return now


# ---------------------------------------------------------------------- agreement
def agreement(project: Project) -> dict[str, Any]:
    """Cohen's kappa per pair, Fleiss' kappa, Dice between annotators' masks, each annotator against the
    consensus, and per-annotator counts and median seconds (`lesionlab.project.agreement`)."""
    store = project.store
    ratings: dict[str, dict[str, int]] = {}
    for iid, (_, st) in store.label_consensus().items():
        for name, a in st.raters.items():
            ratings.setdefault(name, {})[iid] = int(a.label)
    masks: dict[str, dict[str, np.ndarray]] = {}
    for iid, st in store.standing("mask").items():
        for name, a in st.raters.items():
            path = mask_files.inside_masks(project, a.mask_path)
            if path is not None:
                masks.setdefault(name, {})[iid] = open_mask(path)
    fused = {
        iid: open_mask(m.path)
        for iid, m in mask_files.mask_consensus_all(project).items()
        if m.path is not None and m.consensus.usable
    }
    summary = agreement_summary(
        ratings, store.labels(), len(project.classes), masks, fused, store.seconds_by_annotator()
    )
    summary["overlap"] = project.config.overlap
    return summary
