"""The annotation server: a FastAPI app over one project and the static page experts annotate with.

Put together here from `project.api`: the token check (401), body limits (413) as middleware, one router
per resource over the service layer (`project.service`), and domain errors mapped to status codes once.
Images are served only by id from the database and only from inside the images folder; a corrupt or
vanished image is a 404 for that image, never an error of the server.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from lesionlab.project.api import handlers, routes_annotate, routes_images, routes_info, routes_review
from lesionlab.project.api.middleware import JSON_LIMIT, BodyLimit, TokenAuth
from lesionlab.project.api.routes_info import STATIC
from lesionlab.project.project import Project


def create_app(project: Project) -> FastAPI:
    """The app for `project`; every request needs an invited person's token."""
    app = FastAPI(
        title=f"lesionlab project {project.config.name}", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.project = project
    upload = int(project.config.max_upload_mb * 1024 * 1024)

    def limit_for(scope: Scope) -> int:
        is_upload = scope["method"] == "PUT" and scope["path"].startswith("/api/masks/")
        return upload if is_upload else JSON_LIMIT

    handlers.install(app)
    for module in (routes_info, routes_annotate, routes_images, routes_review):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, limit_for=limit_for)
    app.add_middleware(TokenAuth, store=project.store)  # added last: runs first, before any body is read
    return app
