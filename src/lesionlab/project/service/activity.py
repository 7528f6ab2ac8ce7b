"""What the page shows of everyone's work: one image's history, and the live progress a page polls for.

Annotation here is blind, as agreement figures need (Cohen 1960, "A coefficient of agreement for nominal
scales", assumes independent raters): an annotator sees who worked on an image and when, but another
person's answer, doubt and comment only once they stand on the image themselves. Reviewers and admins see
everything.
"""

from __future__ import annotations

from typing import Any

from lesionlab.project.people import Caller
from lesionlab.project.project import Project
from lesionlab.project.service.annotate import mine, progress
from lesionlab.project.service.images import showable_row

HIDDEN = ("label", "unsure", "comment", "outcome", "reason", "accepted")
NEXT_SHOWN = 5  # how many of the caller's next images the page lists


def _answered(project: Project, caller: Caller, image_id: str) -> bool:
    """Whether the caller stands on the image with an answer of their own (of either kind)."""
    return any(
        caller.name in st.raters or (st.adjudication is not None and st.adjudication.annotator == caller.name)
        for kind in ("label", "mask")
        for st in project.store.standing(kind, image_id).values()
    )


def history(project: Project, caller: Caller, image_id: str) -> dict[str, Any]:
    """The image's events, oldest first; others' answers hidden from an annotator who has not answered."""
    showable_row(project, image_id)
    events = project.store.history(image_id)
    blind = not caller.may("reviewer") and not _answered(project, caller, image_id)
    if blind:
        for e in events:
            if e["who"] != caller.name and e["action"] != "model":
                e.update({k: None for k in HIDDEN if k in e}, hidden=True)
    return {"image_id": image_id, "events": events, "blind": blind}


def live(project: Project, caller: Caller, since: str | None, image_id: str | None) -> dict[str, Any]:
    """Progress, the caller's counts and next images, and whether `image_id` (the one on their screen) is
    still theirs to annotate; only the stamp when nothing changed since `since` (the last poll's stamp)."""
    stamp = project.store.change_stamp()
    if since is not None and since == stamp:
        return {"stamp": stamp, "changed": False}
    store = project.store
    items = store.queue(caller.name)
    standing = {k: store.standing(k) for k in ("label", "mask")}
    ids = [iid for _, iid in items]
    out: dict[str, Any] = {
        "stamp": stamp,
        "changed": True,
        "remaining": len(items),
        "next": [iid for iid in ids if iid != image_id][:NEXT_SHOWN],
        "progress": progress(project, standing),
        "mine": mine(project, caller, standing),
    }
    if image_id is not None:
        out["open"] = image_id in ids
        out["held"] = store.holds(caller.name, image_id)  # false: the lease lapsed, the page renews it
    return out
