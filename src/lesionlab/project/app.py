"""The annotation server: a FastAPI app over one project, and the static page experts label with.

Every request needs the token printed at start (header `Authorization: Bearer TOKEN`, or the cookie the
page receives when opened at `/?token=TOKEN`, the only URL that may carry it); without it, or with a wrong
one, the answer is 401. An annotator may undo only their own expert annotations (403 otherwise). Images
are served only by id from the database and only from inside the images folder (anything else is 404,
and nothing outside is read); mask uploads are size-limited (413) and checked before they are written;
a label must name one of the project's classes (422). A corrupt or vanished image is a 404 for that image,
never an error of the server.
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, StrictInt, StrictStr, StringConstraints

from lesionlab.errors import DataError
from lesionlab.project.project import Project
from lesionlab.project.status import project_status
from lesionlab.project.store import AlreadyReviewed, NotYours

STATIC = Path(__file__).parent / "static"
COOKIE = "lesionlab_token"
VIEW_LEASE_S = 120  # an image someone has open goes to the back of the others' queues for this long


# A name, stripped; one of only spaces is refused (it would be stored as "", nobody's).
Annotator = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class LabelIn(BaseModel):
    image_id: str = Field(min_length=1, max_length=512)
    label: StrictStr | StrictInt  # a class name or index; a JSON true is neither
    annotator: Annotator
    request_id: str | None = Field(None, min_length=8, max_length=64)


class UndoIn(BaseModel):
    annotation_id: int
    annotator: Annotator


class SkipIn(BaseModel):
    image_id: str = Field(min_length=1, max_length=512)
    annotator: Annotator


class ReviewIn(BaseModel):
    outcome: str = Field(pattern="^(keep|change)$")
    label: StrictStr | StrictInt | None = None
    annotator: Annotator


def _token_of(request: Request) -> str | None:
    """The token of a request: the Bearer header, the page's cookie, or `?token=` on the page entry `/`
    alone (a token in other URLs would end up in access logs and the browser history)."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return (
        request.headers.get("x-lesionlab-token")
        or request.cookies.get(COOKIE)
        or (request.query_params.get("token") if request.url.path == "/" else None)
    )


def create_app(project: Project, token: str) -> FastAPI:
    """The app for `project`; `token` must accompany every request."""
    if len(token) < 16:
        raise ValueError("the server token must be at least 16 characters")
    app = FastAPI(
        title=f"lesionlab project {project.config.name}", docs_url=None, redoc_url=None, openapi_url=None
    )
    limit = int(project.config.max_upload_mb * 1024 * 1024)
    viewing: dict[str, tuple[str, float]] = {}
    lock = threading.Lock()

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        given = _token_of(request)
        if given is None or not secrets.compare_digest(given.encode(), token.encode()):
            return JSONResponse(
                {"detail": "missing or wrong token (see the address `project serve` printed)"}, 401
            )
        response = await call_next(request)
        if request.query_params.get("token") and request.url.path == "/":
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    def known_image(image_id: str):
        row = project.store.image(image_id)
        if row is None:
            raise HTTPException(404, f"no image {image_id!r} in this project")
        return row

    def class_index(label: str | int) -> int:
        try:
            return project.class_index(label)
        except DataError as exc:
            raise HTTPException(422, str(exc)) from exc

    def prediction(probs: list[float] | None) -> dict[str, float] | None:
        if not probs or len(probs) != len(project.classes):
            return None
        return dict(zip(project.classes, probs, strict=True))

    @app.get("/api/project")
    def project_info() -> dict[str, Any]:
        return {
            "name": project.config.name,
            "task": project.config.task,
            "classes": project.classes,
            "max_upload_mb": project.config.max_upload_mb,
        }

    @app.get("/api/queue")
    def queue(annotator: str, limit_items: int = 20) -> dict[str, Any]:
        items = project.store.queue(annotator)
        now = time.monotonic()
        with lock:
            busy = {i for i, (who, t) in viewing.items() if who != annotator and now - t < VIEW_LEASE_S}
            ordered = [x for x in items if x[1] not in busy] + [x for x in items if x[1] in busy]
            if ordered:
                viewing[ordered[0][1]] = (annotator, now)
        proposed = {image_id for _, image_id in project.store.proposals()}
        labelled = project.store.annotated_ids()
        return {
            "items": [
                {
                    "image_id": image_id,
                    "round": p.round_id,
                    "rank": p.rank,
                    "score": p.score,
                    "prediction": prediction(p.prediction),
                }
                for p, image_id in ordered[: max(1, min(limit_items, 200))]
            ],
            "remaining": len(items),
            "progress": {"proposed": len(proposed), "labelled": len(proposed & labelled)},
            "mine": project.store.annotators().get(annotator, 0),
        }

    @app.get("/api/images/{image_id:path}")
    def image(image_id: str) -> FileResponse:
        path = project.image_path(image_id)
        if path is None:
            raise HTTPException(404, f"no usable image {image_id!r} in this project")
        return FileResponse(path)

    @app.get("/api/predictions/{image_id:path}")
    def image_prediction(image_id: str) -> dict[str, Any]:
        known_image(image_id)
        return {
            "image_id": image_id,
            "prediction": prediction(project.store.latest_prediction(image_id)),
            "label": project.store.get_label(image_id),
        }

    @app.post("/api/labels", status_code=201)
    def add_label(body: LabelIn) -> dict[str, Any]:
        row = known_image(body.image_id)
        if row.status != "ok":
            raise HTTPException(404, f"image {body.image_id!r} is {row.status} and cannot be labelled")
        label = class_index(body.label)
        annotation_id, new = project.store.add_annotation(
            body.image_id, label, body.annotator, "expert", body.request_id
        )
        with lock:
            viewing.pop(body.image_id, None)
        return {
            "annotation_id": annotation_id,
            "new": new,
            "image_id": body.image_id,
            "label": project.classes[label],
        }

    @app.post("/api/undo")
    def undo(body: UndoIn) -> dict[str, Any]:
        annotation = project.store.annotation(body.annotation_id)
        if annotation is None:
            raise HTTPException(404, f"no annotation {body.annotation_id}")
        try:
            done = project.store.retract(body.annotation_id, body.annotator)
        except NotYours as exc:
            raise HTTPException(403, str(exc)) from exc
        return {"annotation_id": body.annotation_id, "undone": done}

    @app.post("/api/skip")
    def skip(body: SkipIn) -> dict[str, Any]:
        known_image(body.image_id)
        project.store.skip(body.image_id, body.annotator)
        with lock:
            viewing.pop(body.image_id, None)
        return {"image_id": body.image_id, "skipped": True}

    @app.get("/api/masks/{image_id:path}")
    def get_mask(image_id: str) -> FileResponse:
        known_image(image_id)
        path, source = project.mask_path(image_id), "expert"
        if path is None:  # nobody has drawn one: the model's proposal, to edit
            path, source = project.mask_path(image_id, model=True), "model"
        if path is None:
            raise HTTPException(404, f"image {image_id!r} has no mask yet")
        return FileResponse(path, media_type="image/png", headers={"X-Mask-Source": source})

    @app.put("/api/masks/{image_id:path}", status_code=201)
    async def put_mask(image_id: str, request: Request, annotator: str, request_id: str | None = None):
        known_image(image_id)
        annotator = annotator.strip()
        if not annotator or len(annotator) > 128:
            raise HTTPException(422, "annotator must be a name (1-128 characters, not only spaces)")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise HTTPException(413, f"the upload is larger than {project.config.max_upload_mb} MB")
        data = bytearray()
        async for chunk in request.stream():
            data.extend(chunk)
            if len(data) > limit:
                raise HTTPException(413, f"the upload is larger than {project.config.max_upload_mb} MB")
        try:
            annotation_id = project.write_mask(image_id, bytes(data), annotator, request_id)
        except DataError as exc:
            raise HTTPException(422, str(exc)) from exc
        return {"annotation_id": annotation_id, "image_id": image_id}

    @app.get("/api/flags")
    def flags(pending: bool = True) -> dict[str, Any]:
        labels = project.store.labels()
        out = []
        for flag, image_id in project.store.flags(pending_only=pending):
            current = labels.get(image_id)
            out.append(
                {
                    "id": flag.id,
                    "image_id": image_id,
                    "score": flag.score,
                    "reason": flag.reason,
                    "label": None if current is None else project.classes[current],
                    "suggested": None
                    if flag.suggested_label is None
                    else project.classes[flag.suggested_label],
                    "outcome": flag.outcome,
                    "reviewed_by": flag.reviewed_by,
                }
            )
        return {"flags": out}

    @app.post("/api/flags/{flag_id}/review")
    def review(flag_id: int, body: ReviewIn) -> dict[str, Any]:
        label = class_index(body.label) if body.outcome == "change" and body.label is not None else None
        if body.outcome == "change" and label is None:
            raise HTTPException(422, "changing a flagged label needs the new label")
        try:
            flag = project.store.review_flag(flag_id, body.outcome, body.annotator, label)
        except AlreadyReviewed as exc:
            raise HTTPException(409, str(exc)) from exc
        except DataError as exc:
            raise HTTPException(404 if "no audit flag" in str(exc) else 422, str(exc)) from exc
        return {"id": flag.id, "outcome": flag.outcome, "new_annotation_id": flag.new_annotation_id}

    @app.get("/api/status")
    def status() -> dict[str, Any]:
        return project_status(project, check_images=False)

    @app.exception_handler(DataError)
    async def data_error(_request: Request, exc: DataError) -> Response:
        return JSONResponse({"detail": str(exc)}, 422)

    return app


def new_token() -> str:
    return secrets.token_urlsafe(24)
