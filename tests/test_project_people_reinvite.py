"""Third reading of the people of a project: a revoked name is never handed to someone else unsaid.

Found: `invite NAME --new-token` over a revoked person let anyone back in under that name, and answers
are recorded by name, so a different person invited under a departed colleague's name took over their
answers: the page showed them as their own, and `POST /api/undo` retracted them. Re-admitting a revoked
person now needs `--same-person` (one line naming it and the other way, another name); the old answers
stay the original person's, never lost.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lesionlab.cli import app as cli
from lesionlab.project.app import create_app
from lesionlab.project.exceptions import Conflict
from lesionlab.project.people import invite, people, revoke
from test_project_team import label, team_project


def _client(app, token: str) -> TestClient:
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def test_a_revoked_name_is_not_reinvited_as_someone_else(tmp_path: Path) -> None:
    with team_project(tmp_path, overlap=1) as p:
        app = create_app(p)
        bob = _client(app, invite(p, "bob", "annotator"))
        saved = label(bob, "img_000", 1)
        assert saved.status_code == 201
        answer = saved.json()["annotation_id"]
        revoke(p, "bob")  # bob left the team
        for name in ("bob", "Bob "):  # a newcomer also called Bob
            with pytest.raises(Conflict, match=r"'bob' was revoked.*--same-person.*another name"):
                invite(p, name, "annotator", new_token=True)
            with pytest.raises(Conflict, match=r"--same-person"):
                invite(p, name, "annotator")
        assert people(p) == [{**people(p)[0], "name": "bob", "revoked": True}]
        row = p.store.annotation(answer)
        assert row is not None and row.annotator == "bob" and row.retracted_at is None  # kept, still bob's


def test_same_person_readmits_them_with_their_answers_theirs(tmp_path: Path) -> None:
    with team_project(tmp_path, overlap=1) as p:
        app = create_app(p)
        answer = label(_client(app, invite(p, "bob", "annotator")), "img_000", 1).json()["annotation_id"]
        revoke(p, "bob")
        back = _client(app, invite(p, "bob", "annotator", same_person=True))
        assert not people(p)[0]["revoked"]
        undone = back.post("/api/undo", json={"annotation_id": answer})
        assert undone.status_code == 200 and undone.json()["annotation_id"] == answer


def test_the_cli_refuses_in_one_line_and_same_person_readmits(tmp_path: Path) -> None:
    with team_project(tmp_path, overlap=1) as p:
        invite(p, "bob", "annotator")
        revoke(p, "bob")
    proj = str(tmp_path / "proj")
    refused = CliRunner().invoke(cli, ["project", "invite", proj, "bob", "--new-token"])
    assert refused.exit_code != 0
    message = str(refused.exception)  # the CLI's main prints a DataError as this one line
    assert isinstance(refused.exception, Conflict) and "\n" not in message and "--same-person" in message
    readmitted = CliRunner().invoke(cli, ["project", "invite", proj, "bob", "--same-person"])
    assert readmitted.exit_code == 0, readmitted.output
    assert "?token=" in readmitted.output


def test_a_live_persons_lost_link_is_still_replaced_with_new_token(tmp_path: Path) -> None:
    with team_project(tmp_path, overlap=1) as p:
        app = create_app(p)
        old = invite(p, "ana", "annotator")
        fresh = invite(p, "ana", "annotator", new_token=True)
        assert _client(app, fresh).get("/api/queue").status_code == 200
        assert _client(app, old).get("/api/queue").status_code == 401


def test_a_new_token_keeps_the_persons_role_unless_one_is_given(tmp_path: Path) -> None:
    """Found: `invite NAME --new-token` without `--role` set the person's role to annotator, so replacing
    a reviewer's lost link silently took their review rights (and an admin's)."""
    with team_project(tmp_path, overlap=1) as p:
        invite(p, "Rev", "reviewer")
        project_dir = str(p.dir)
    out = CliRunner().invoke(cli, ["project", "invite", project_dir, "rev", "--new-token"])
    assert out.exit_code == 0, out.output
    assert "Rev (reviewer): " in out.output  # the stored spelling and the role kept
    out = CliRunner().invoke(
        cli, ["project", "invite", project_dir, "rev", "--new-token", "--role", "annotator"]
    )
    assert out.exit_code == 0 and "Rev (annotator): " in out.output
    new = CliRunner().invoke(cli, ["project", "invite", project_dir, "ana"])
    assert new.exit_code == 0 and "ana (annotator): " in new.output
    from lesionlab.project import open_project

    with open_project(Path(project_dir)) as q:
        assert {r["name"]: r["role"] for r in people(q)} == {"Rev": "annotator", "ana": "annotator"}
