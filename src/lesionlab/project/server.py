"""`project serve`: run the annotation server for one project (uvicorn), after checking its images.

The token is new on every start unless `$LESIONLAB_PROJECT_TOKEN` sets it (scripts, tests, a team that
keeps one). It listens on 127.0.0.1 unless told otherwise: put it behind a TLS proxy before opening it to a
network, since the token travels with every request.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from lesionlab.project.app import create_app, new_token
from lesionlab.project.project import open_project

TOKEN_ENV = "LESIONLAB_PROJECT_TOKEN"


def serve(
    project_dir: Path, host: str = "127.0.0.1", port: int = 8765, say: Callable[[str], None] = print
) -> None:
    import uvicorn

    project = open_project(project_dir)
    problems = project.check_images()
    for p in problems:
        say(f"skipped {p['image_id']}: {p['status']} ({p.get('problem') or ''})")
    token = os.environ.get(TOKEN_ENV) or new_token()
    app = create_app(project, token)
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    say(f"lesionlab project {project.config.name}: open http://{shown}:{port}/?token={token}")
    say(f"token: {token}")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        project.close()
