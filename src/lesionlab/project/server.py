"""`project serve`: run the annotation server for one project (uvicorn), after checking its images.

Each person opens their own link (`lesionlab project invite`); a server nobody is invited to is refused.
Uvicorn's access log is off, so no address (the page entry may carry a token) is ever logged. It listens on
127.0.0.1 unless told otherwise: put it behind a TLS proxy before opening it to a network, since the token
travels with every request.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lesionlab.project.app import create_app
from lesionlab.project.people import people, require_someone
from lesionlab.project.project import open_project


def serve(
    project_dir: Path, host: str = "127.0.0.1", port: int = 8765, say: Callable[[str], None] = print
) -> None:
    import uvicorn

    project = open_project(project_dir)
    try:
        require_someone(project, project_dir)
        problems = project.check_images()
        for p in problems:
            say(f"skipped {p['image_id']}: {p['status']} ({p.get('problem') or ''})")
        app = create_app(project)
        shown = "localhost" if host in ("127.0.0.1", "::1") else host
        team = [p for p in people(project) if not p["revoked"]]
        say(
            f"lesionlab project {project.config.name}: serving http://{shown}:{port}/ for "
            f"{len(team)} invited people (each opens their own link from `lesionlab project invite`)"
        )
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        project.close()
