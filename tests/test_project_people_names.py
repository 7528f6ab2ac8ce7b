"""Fourth reading of the people of a project: one person, one name, however it is spelled.

Found:
- `revoke` matched names exactly while `invite` ignores case: revoking "alice" for the invited "Alice" said
  nobody was called so, and Alice's link kept working. It now finds the person as `invite` does and
  answers with the stored name.
- names were compared by the database's lower(), which folds ASCII only on SQLite: "Élodie" and "élodie"
  were invited as two people (two tokens, two raters filling two overlap slots with one person's answers),
  as were a composed and a decomposed "José" (identical on screen); an import under "ÉLODIE" passed the
  check that refuses an invited élodie's name. Names are compared NFKC-normalised and case-folded.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from lesionlab.errors import DataError
from lesionlab.project.app import create_app
from lesionlab.project.exceptions import Conflict, NotFound
from lesionlab.project.interchange import import_labels
from lesionlab.project.models import Person
from lesionlab.project.people import hash_token, invite, people, revoke
from test_project_team import team_project

NFD_JOSE = unicodedata.normalize("NFD", "José")


def _client(app, token: str) -> TestClient:
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("spelling", ["alice", " ALICE ", "Alice"])
def test_revoke_acts_on_the_person_invite_would_find(tmp_path: Path, spelling: str) -> None:
    with team_project(tmp_path, overlap=1) as p:
        app = create_app(p)
        alice = _client(app, invite(p, "Alice", "annotator"))
        assert alice.get("/api/queue").status_code == 200
        assert revoke(p, spelling) == "Alice"
        assert alice.get("/api/queue").status_code == 401
        assert people(p)[0]["revoked"]


def test_the_api_revoke_answers_with_the_stored_name(tmp_path: Path) -> None:
    with team_project(tmp_path, overlap=1) as p:
        app = create_app(p)
        admin = _client(app, invite(p, "root", "admin"))
        ana = _client(app, invite(p, "Ana", "annotator"))
        answer = admin.post("/api/people/ana/revoke")
        assert answer.status_code == 200 and answer.json() == {"name": "Ana", "revoked": True}
        assert ana.get("/api/queue").status_code == 401
        assert admin.post("/api/people/nobody/revoke").status_code == 404


@pytest.mark.parametrize(
    ("first", "second"), [("Élodie", "élodie"), ("ÉLODIE", "élodie"), ("José", NFD_JOSE)]
)
def test_two_spellings_of_one_name_are_one_person(tmp_path: Path, first: str, second: str) -> None:
    with team_project(tmp_path, overlap=2) as p:
        invite(p, first, "annotator")
        with pytest.raises(Conflict, match="invited already"):
            invite(p, second, "annotator")
        assert len(people(p)) == 1
        assert revoke(p, second) == unicodedata.normalize("NFC", first)


def test_an_import_never_takes_an_invited_non_ascii_name(tmp_path: Path) -> None:
    with team_project(tmp_path, overlap=2) as p:
        invite(p, "élodie", "annotator")
        csv = tmp_path / "gt.csv"
        csv.write_text("image_id,melanoma\nimg_000,1.0\n")
        for name in ("ÉLODIE", unicodedata.normalize("NFD", "élodie")):
            with pytest.raises(DataError, match="is an invited person"):
                import_labels(p, csv, annotator=name)
        import_labels(p, csv, annotator="José")
        csv.write_text("image_id,melanoma\nimg_000,0.0\n")
        import_labels(p, csv, annotator=NFD_JOSE)  # the same name: it replaces, never a second rater
        assert list(p.store.standing("label")["img_000"].raters) == ["José"]


def test_two_spellings_stored_before_need_the_exact_name(tmp_path: Path) -> None:
    with team_project(tmp_path, overlap=2) as p:
        with p.store.session() as s:  # a database from before the rule: two people differing in case
            s.add(Person(name="Sam", role="annotator", token_sha256=hash_token("t1")))
            s.add(Person(name="sam", role="annotator", token_sha256=hash_token("t2")))
        with pytest.raises(Conflict, match=r"'SAM' may be any of 'Sam', 'sam'; give the exact name"):
            revoke(p, "SAM")
        assert revoke(p, "sam") == "sam"
        assert [x["revoked"] for x in people(p)] == [False, True]
        with pytest.raises(NotFound):
            revoke(p, "samuel")


def test_the_cli_revoke_names_the_stored_spelling(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lesionlab.cli import app as cli

    with team_project(tmp_path, overlap=1) as p:
        invite(p, "Alice", "annotator")
    done = CliRunner().invoke(cli, ["project", "people", str(tmp_path / "proj"), "--revoke", "alice"])
    assert done.exit_code == 0, done.output
    assert "revoked Alice:" in done.output and "Alice  annotator  (revoked)" in done.output


def test_revoking_someone_frees_the_image_they_held(tmp_path: Path) -> None:
    """Found: a revoked person's lease held the image's slot for up to ten minutes more (at overlap 1,
    nobody else was offered it); their leases now end with their token."""
    with team_project(tmp_path, overlap=1) as p:
        app = create_app(p)
        bob = _client(app, invite(p, "bob", "annotator"))
        ana = _client(app, invite(p, "ana", "annotator"))
        assert bob.get("/api/queue").json()["items"][0]["image_id"] == "img_000"
        assert ana.get("/api/queue").json()["items"][0]["image_id"] == "img_001"  # bob holds img_000
        revoke(p, "bob")
        assert ana.get("/api/queue").json()["items"][0]["image_id"] == "img_000"


@pytest.mark.parametrize("stored", [" dr_smith", NFD_JOSE])
def test_an_import_name_stored_before_stripping_can_be_replaced(tmp_path: Path, stored: str) -> None:
    """Found: an import stored under " dr_smith" (or a decomposed "José") before names were stripped and
    normalised was refused as another spelling, and the name the refusal offered was refused again."""
    with team_project(tmp_path, overlap=2) as p:
        p.store.add_annotation("img_000", 1, stored, source="import")
        csv = tmp_path / "gt.csv"
        csv.write_text("image_id,melanoma\nimg_000,0.0\n")
        import_labels(p, csv, annotator=unicodedata.normalize("NFC", stored.strip()))
        assert list(p.store.standing("label")["img_000"].raters) == [stored]  # replaced, one rater
        assert p.store.standing("label")["img_000"].raters[stored].label == 0
