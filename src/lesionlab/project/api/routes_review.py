"""A reviewer's routes: audit flags and the adjudication queue (403 for annotators)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from lesionlab.project.api.deps import ProjectDep, Reviewer
from lesionlab.project.service import review

router = APIRouter(prefix="/api")


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: str = Field(pattern="^(keep|change)$")
    label: StrictStr | StrictInt | None = None
    shown: StrictStr | None = None  # the label the reviewer was shown (null: none); given: checked


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_id: str = Field(min_length=1, max_length=512)
    request_id: str = Field(min_length=8, max_length=64)
    label: StrictStr | StrictInt | None = None
    annotation_id: int | None = None
    fused: bool = False
    seen: list[int] | None = Field(default=None, max_length=1000)  # the annotation ids shown


@router.get("/flags")
def flags(project: ProjectDep, _caller: Reviewer, pending: bool = True) -> dict[str, Any]:
    return {"flags": review.flags(project, pending)}


@router.post("/flags/{flag_id}/review")
def review_flag(flag_id: int, body: ReviewIn, project: ProjectDep, caller: Reviewer) -> dict[str, Any]:
    shown = (body.shown,) if "shown" in body.model_fields_set else None
    return review.review_flag(project, caller, flag_id, body.outcome, body.label, shown)


@router.get("/adjudication")
def adjudication(project: ProjectDep, _caller: Reviewer) -> dict[str, Any]:
    return {"items": review.adjudication_queue(project)}


@router.post("/adjudication", status_code=201)
def decide(body: DecisionIn, project: ProjectDep, caller: Reviewer) -> dict[str, Any]:
    return review.adjudicate(
        project,
        caller,
        body.image_id,
        body.request_id,
        body.label,
        body.annotation_id,
        body.fused,
        body.seen,
    )


@router.get("/adjudication/masks/{annotation_id}")
def annotator_mask(annotation_id: int, project: ProjectDep, _caller: Reviewer) -> FileResponse:
    return FileResponse(review.annotation_mask(project, annotation_id), media_type="image/png")


@router.get("/adjudication/fused/{image_id:path}")
def fused(image_id: str, project: ProjectDep, _caller: Reviewer) -> Response:
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    mask = review.fused_mask(project, image_id)
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(buf, format="PNG")
    return Response(buf.getvalue(), media_type="image/png")
