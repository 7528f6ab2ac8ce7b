"""The annotation project: an expert team's own images, a database of their labels, proposals of what to
label next, models trained on those labels, and a browser page to label with (`lesionlab project ...`).

Needs the `project` extra (`pip install "lesionlab[project]"`): SQLAlchemy, Alembic, FastAPI, uvicorn.
See docs/annotation.md.
"""

from lesionlab.project.project import Project, init_project, open_project

__all__ = ["Project", "init_project", "open_project"]
