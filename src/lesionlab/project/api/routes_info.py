"""The page entry, who am I, the project's settings, its status and agreement, and its people (admin)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from lesionlab.project import people as people_service
from lesionlab.project.api.deps import Admin, Anyone, ProjectDep, Reviewer
from lesionlab.project.api.middleware import COOKIE
from lesionlab.project.service import waiting
from lesionlab.project.service.review import agreement as agreement_service
from lesionlab.project.status import project_status

STATIC = Path(__file__).resolve().parents[1] / "static"
router = APIRouter()


@router.get("/")
def index(request: Request) -> FileResponse:
    """The page; opened at `/?token=...` it sets the httpOnly cookie the page's requests then carry."""
    response = FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})
    token = request.query_params.get("token")
    if token:
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
    return response


@router.get("/api/me")
def me(caller: Anyone) -> dict[str, str]:
    return {"name": caller.name, "role": caller.role}


@router.get("/api/project")
def project_info(project: ProjectDep, _caller: Anyone) -> dict[str, Any]:
    return {
        "name": project.config.name,
        "task": project.config.task,
        "target": project.task.target,
        "classes": project.classes,
        "overlap": project.config.overlap,
        "max_upload_mb": project.config.max_upload_mb,
    }


@router.post("/api/skipped/revisit")
def revisit_skipped(project: ProjectDep, caller: Anyone) -> dict[str, Any]:
    """The caller's skipped images come back to their queue (offered when nothing else waits for them)."""
    return waiting.revisit_skipped(project, caller)


@router.get("/api/status")
def status(project: ProjectDep, caller: Anyone) -> dict[str, Any]:
    """`project status --json`; the agreement figures only for reviewers and admins (as /api/agreement)."""
    return project_status(project, check_images=False, agreement=caller.may("reviewer"))


@router.get("/api/agreement")
def agreement(project: ProjectDep, _caller: Reviewer) -> dict[str, Any]:
    return agreement_service(project)


@router.get("/api/people")
def people(project: ProjectDep, _caller: Admin) -> dict[str, Any]:
    return {"people": people_service.people(project)}


@router.post("/api/people/{name}/revoke")
def revoke(project: ProjectDep, _caller: Admin, name: str) -> dict[str, Any]:
    return {"name": people_service.revoke(project, name), "revoked": True}  # the stored spelling
