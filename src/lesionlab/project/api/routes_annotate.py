"""An annotator's routes: the queue, labels, undo, skip, holding an image while working on it, an image's
history and the live progress a page polls (masks and images have their own routers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from lesionlab.project.api.deps import Anyone, ProjectDep
from lesionlab.project.service import activity, annotate

router = APIRouter(prefix="/api")
RequestId = Field(min_length=8, max_length=64)
COMMENT_CHARS = 2000  # a remark, not a report


class Body(BaseModel):
    """Request bodies name no annotator (the token does): an unknown field, `annotator` included, is 422."""

    model_config = ConfigDict(extra="forbid")


class LabelIn(Body):
    image_id: str = Field(min_length=1, max_length=512)
    label: StrictStr | StrictInt  # a class name or index; a JSON true is neither
    request_id: str = RequestId
    unsure: StrictBool = False
    comment: str | None = Field(default=None, max_length=COMMENT_CHARS)


class UndoIn(Body):
    annotation_id: int


class SkipIn(Body):  # also the body of /hold: an image id
    image_id: str = Field(min_length=1, max_length=512)


@router.get("/queue")
def queue(
    project: ProjectDep,
    caller: Anyone,
    limit: int = Query(20, ge=1, le=200),
    first: str | None = Query(None, max_length=512),
) -> dict[str, Any]:
    return annotate.queue(project, caller, limit, first)


@router.post("/labels", status_code=201)
def add_label(body: LabelIn, project: ProjectDep, caller: Anyone) -> dict[str, Any]:
    return annotate.add_label(
        project, caller, body.image_id, body.label, body.request_id, body.unsure, body.comment
    )


@router.post("/undo")
def undo(body: UndoIn, project: ProjectDep, caller: Anyone) -> dict[str, Any]:
    return annotate.undo(project, caller, body.annotation_id)


@router.post("/skip")
def skip(body: SkipIn, project: ProjectDep, caller: Anyone) -> dict[str, Any]:
    return annotate.skip(project, caller, body.image_id)


@router.post("/hold")
def hold(body: SkipIn, project: ProjectDep, caller: Anyone) -> dict[str, Any]:
    return annotate.hold(project, caller, body.image_id)


@router.get("/history/{image_id:path}")
def history(image_id: str, project: ProjectDep, caller: Anyone) -> dict[str, Any]:
    return activity.history(project, caller, image_id)


@router.get("/live")
def live(
    project: ProjectDep,
    caller: Anyone,
    since: str | None = Query(None, max_length=200),
    image: str | None = Query(None, max_length=512),
) -> dict[str, Any]:
    return activity.live(project, caller, since, image)
