"""Images as the model sees them (EXIF applied), and masks: the caller's own, uploads with their geometry."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from lesionlab.project.api.deps import Anyone, ProjectDep
from lesionlab.project.service import annotate
from lesionlab.project.service.images import image_details, lossless_image, served_image

router = APIRouter(prefix="/api")


@router.get("/images/{image_id:path}")
def image(image_id: str, project: ProjectDep, _caller: Anyone, full: bool = False) -> FileResponse:
    """The image as the model sees it; `full=1`: the same pixels losslessly (PNG), for the 1:1 view."""
    served = lossless_image(project, image_id) if full else served_image(project, image_id)
    headers = {
        "X-Image-Width": str(served.width),
        "X-Image-Height": str(served.height),
        "X-Image-Lossless": "1" if served.lossless else "0",
        "Cache-Control": "private, no-cache",
    }
    return FileResponse(served.path, media_type=served.media_type, headers=headers)


@router.get("/details/{image_id:path}")
def details(image_id: str, project: ProjectDep, _caller: Anyone) -> dict[str, Any]:
    """Size, file, lossless or not, and the metadata row of an image (the page's details box)."""
    return image_details(project, image_id)


@router.get("/masks/{image_id:path}")
def own_mask(image_id: str, project: ProjectDep, caller: Anyone) -> FileResponse:
    path, source, model = annotate.own_mask(project, caller, image_id)
    headers = {"X-Mask-Source": source, "Cache-Control": "no-store"}
    if model is not None:
        headers["X-Mask-Model"] = model  # "model vN": the version the page names beside the mask
    return FileResponse(path, media_type="image/png", headers=headers)


@router.put("/masks/{image_id:path}", status_code=201)
async def put_mask(
    image_id: str,
    request: Request,
    project: ProjectDep,
    caller: Anyone,
    request_id: str = Query(min_length=8, max_length=64),
    width: int = Query(ge=1),
    height: int = Query(ge=1),
    no_lesion: bool = False,
    unsure: bool = False,
    comment: str | None = Query(None, max_length=2000),
) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    data = await request.body()  # already counted and limited by BodyLimit
    return await run_in_threadpool(
        annotate.put_mask,
        project,
        caller,
        image_id,
        data,
        (width, height),
        no_lesion,
        request_id,
        unsure,
        comment,
    )
