"""What an annotator does: take the next image (leased to them), label it or draw its mask, undo their own
work, skip an image. The person always comes from the token (`Caller`), never from the request.
"""

from __future__ import annotations

from pathlib import Path
from statistics import median
from typing import Any

from lesionlab.project import mask_files
from lesionlab.project.exceptions import Conflict, Invalid, NotFound
from lesionlab.project.people import Caller
from lesionlab.project.project import Project
from lesionlab.project.service import waiting
from lesionlab.project.service.images import showable_row


def _prediction(project: Project, probs: list[float] | None) -> dict[str, float] | None:
    if not probs or len(probs) != len(project.classes):
        return None
    return dict(zip(project.classes, probs, strict=True))


_usable = showable_row  # nothing the page could not show is annotated


def progress(project: Project, standing: dict | None = None) -> dict[str, int]:
    """Proposed images, how many have their `overlap` annotations, and how many wait for a reviewer."""
    from lesionlab.project.service.review import needs_review

    kind = project.store.kind
    standing = standing or {kind: project.store.standing(kind)}
    usable = set(project.store.image_ids())
    proposed = {i for i in project.store.proposed_ids() if i in usable}
    done = {
        iid
        for iid, st in standing[kind].items()
        if len(st.raters) >= project.config.overlap or st.adjudication is not None
    }
    return {
        "proposed": len(proposed),
        "complete": len(proposed & done),
        "adjudication": sum(needs_review(project, st) for st in standing[kind].values()),
    }


def mine(project: Project, caller: Caller, standing: dict | None = None) -> dict[str, Any]:
    """The caller's standing expert annotations (images with a label or a mask of theirs) and their median
    seconds per annotation."""
    standing = standing or {k: project.store.standing(k) for k in ("label", "mask")}
    images, times = set(), []
    for by_image in standing.values():
        for iid, st in by_image.items():
            a = st.raters.get(caller.name)
            if a is not None and a.source == "expert":
                images.add(iid)
                if a.seconds is not None:
                    times.append(float(a.seconds))
    return {
        "annotations": len(images),
        "median_seconds": round(median(times), 1) if times else None,
    }


def queue(project: Project, caller: Caller, limit: int = 20, first: str | None = None) -> dict[str, Any]:
    """The images the caller may annotate now, the first one leased to them; `first` (an image the page
    shows next, e.g. one just taken back by undo) comes first and is the one leased, if it is free."""
    items = project.store.take(caller.name, first)
    page = items[: max(1, min(limit, 200))]
    rows = {r.key: r for r in project.store.images_by_key([p.image_key for p, _ in page])}
    shown = []
    version_of = {r.id: r.model_version_id for r in project.store.rounds()}  # the model that predicted
    for proposal, image_id in page:
        row = rows[proposal.image_key]
        shown.append(
            {
                "image_id": image_id,
                "width": row.width,
                "height": row.height,
                "prediction": _prediction(project, proposal.prediction),
                "model_version": version_of.get(proposal.round_id) if proposal.prediction else None,
                "round": proposal.round_id,
                "rank": proposal.rank,
                "score": proposal.score,
            }
        )
    standing = {k: project.store.standing(k) for k in ("label", "mask")}  # read once for both
    return {
        "items": shown,
        "remaining": len(items),
        "progress": progress(project, standing),
        "mine": mine(project, caller, standing),
        "empty": None if shown else waiting.nothing_now(project, caller),  # why: the page says it
    }


def add_label(
    project: Project,
    caller: Caller,
    image_id: str,
    label: str | int,
    request_id: str,
    unsure: bool = False,
    comment: str | None = None,
) -> dict:
    """Store the caller's class label (with their doubt and comment, if any); refused (Conflict) when
    `overlap` others stand on the image."""
    _usable(project, image_id)
    index = project.class_index(label)
    annotation_id, new = project.store.add_annotation(
        image_id,
        index,
        caller.name,
        "expert",
        request_id,
        overlap=project.config.overlap,
        unsure=unsure,
        comment=comment,
    )
    return {
        "annotation_id": annotation_id,
        "new": new,
        "image_id": image_id,
        "label": project.classes[index],
    }


def put_mask(
    project: Project,
    caller: Caller,
    image_id: str,
    data: bytes,
    size: tuple[int, int],
    no_lesion: bool,
    request_id: str,
    unsure: bool = False,
    comment: str | None = None,
) -> dict:
    """Store the caller's mask of `image_id`, drawn on a `size` (width, height) image.

    A size other than the image's oriented size means the page showed another version of the image
    (Conflict). An empty mask needs the explicit "no lesion" action, and that action an empty mask."""
    row = _usable(project, image_id)
    if tuple(size) != (row.width, row.height):
        raise Conflict(
            f"the page drew on a {size[0]}x{size[1]} image but {image_id!r} is {row.width}x{row.height}: "
            "the page showed another version of this image; reload"
        )
    mask = mask_files.decode_png(data, row)
    if not mask.any() and not no_lesion:
        raise Invalid("an empty mask needs the No lesion action (nothing was drawn)")
    if mask.any() and no_lesion:
        raise Invalid(f"No lesion was sent with a mask of {int(mask.sum())} lesion pixels; clear it first")
    accepted = _accepted_proposal(project, image_id, mask)
    annotation_id, new = project.save_mask(
        image_id,
        mask,
        caller.name,
        request_id,
        overlap=project.config.overlap,
        unsure=unsure,
        comment=comment,
        accepted=accepted,
    )
    if not new:  # a retry: what was recorded then, whatever the proposal is now
        accepted = project.store.annotation(annotation_id).accepted
    return {"annotation_id": annotation_id, "new": new, "image_id": image_id, "accepted": accepted}


def _accepted_proposal(project: Project, image_id: str, mask) -> str | None:
    """ "model vN" when `mask` is that model's proposal for the image pixel for pixel (the expert saved it
    untouched: accepted, not drawn; the image's history says so), else None. A proposal file that cannot
    be read never blocks the expert's answer: it is then recorded as drawn."""
    import numpy as np

    from lesionlab.data.preprocess import open_mask
    from lesionlab.errors import DataError

    found = project.store.model_mask(image_id)
    path = mask_files.inside_masks(project, found[0]) if found else None
    if path is None or not mask.any():
        return None
    try:
        proposal = open_mask(path)
    except (DataError, OSError, ValueError):
        return None
    return found[1] if proposal.shape == mask.shape and np.array_equal(proposal, mask) else None


def own_mask(project: Project, caller: Caller, image_id: str) -> tuple[Path, str, str | None]:
    """The caller's own standing mask, else the model's proposal; never another annotator's. Returns
    (file, "mine" or "model", the model that proposed it as "model vN", or None)."""
    _usable(project, image_id)
    path = project.mask_path(image_id, person=caller.name)
    if path is not None:
        return path, "mine", None
    found = project.store.model_mask(image_id)
    path = mask_files.inside_masks(project, found[0]) if found else None
    if path is not None:
        return path, "model", found[1]
    raise NotFound(f"image {image_id!r} has no mask of yours nor a model's proposal yet")


def undo(project: Project, caller: Caller, annotation_id: int) -> dict:
    """Retract the caller's own annotation: the image is back in their queue, no longer done by them."""
    done = project.store.retract(annotation_id, caller.name)
    row = project.store.annotation(annotation_id)
    image = next(r for r in project.store.images() if r.key == row.image_key)
    standing = any(
        caller.name in st.raters or (st.adjudication is not None and st.adjudication.annotator == caller.name)
        for kind in ("label", "mask")
        for st in project.store.standing(kind, image.image_id).values()
    )
    return {
        "annotation_id": annotation_id,
        "undone": done,
        "image_id": image.image_id,
        "standing": standing,
    }


def skip(project: Project, caller: Caller, image_id: str) -> dict:
    project.store.skip(image_id, caller.name)
    return {"image_id": image_id, "skipped": True}


def hold(project: Project, caller: Caller, image_id: str) -> dict[str, Any]:
    """Renew the caller's lease on the image they are working on; `held` false when it cannot be theirs."""
    ends = project.store.hold(caller.name, image_id)
    return {"image_id": image_id, "held": ends is not None, "until": ends.isoformat() if ends else None}
