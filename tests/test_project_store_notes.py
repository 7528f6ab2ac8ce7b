"""Issue 33, section 2: an annotator's "unsure" flag and comment on each annotation, an image's history
(answers, replacements, undos, skips, decisions, flag reviews), the change stamp live pages poll, and the
upgrade of a store written at the previous schema (revision 0002) with every row kept. SQLite and
PostgreSQL."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

from lesionlab.project import init_project
from lesionlab.project.store import ProjectStore
from project_fixtures import BACKENDS, CLASSES, database_url, make_images


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def project(tmp_path: Path, backend: str):
    make_images(tmp_path / "images", n=4)
    with database_url(backend) as url:
        p = init_project(tmp_path / "proj", tmp_path / "images", CLASSES, database=url, show_progress=False)
        ids = p.store.image_ids()
        p.store.add_round("coreset", None, len(ids), 0, [(i, None, None) for i in ids])
        yield p
        p.close()


def test_unsure_and_comment_are_stored_with_the_annotation_and_a_blank_comment_is_none(project) -> None:
    store = project.store
    a, _ = store.add_annotation("img_000", 1, "ana", request_id="r-000001", unsure=True, comment=" blurry ")
    b, _ = store.add_annotation("img_001", 0, "ana", comment="   ")
    c, _ = store.add_annotation("img_002", 0, "ana")
    assert (store.annotation(a).unsure, store.annotation(a).comment) == (True, "blurry")
    assert (store.annotation(b).unsure, store.annotation(b).comment) == (False, None)
    assert (store.annotation(c).unsure, store.annotation(c).comment) == (False, None)
    # a retry of the same request stores nothing new, whatever it carries
    assert store.add_annotation("img_000", 1, "ana", request_id="r-000001", comment="other") == (a, False)
    assert store.annotation(a).comment == "blurry"
    # a mask carries its notes too
    mask = np.zeros((32, 32), dtype=bool)
    mask[4:20, 6:18] = True
    m, _ = project.save_mask("img_003", mask, "ana", "r-000002", unsure=True, comment="two lesions?")
    assert (store.annotation(m).unsure, store.annotation(m).comment) == (True, "two lesions?")


def test_history_lists_answers_replacements_undos_skips_decisions_and_flag_reviews(project) -> None:
    store = project.store
    first, _ = store.add_annotation("img_000", 0, "ana", comment="first look")
    second, _ = store.add_annotation("img_000", 1, "ana", unsure=True)  # replaces her first answer
    store.retract(second, "ana")  # and takes it back
    store.skip("img_000", "bob")
    store.add_annotation("img_000", 1, "bob")
    store.add_annotation("img_000", 0, "rev", source="adjudication")
    store.add_flags([("img_000", 0.9, "far from its class", 1)])
    flag = store.flags()[0][0]
    store.review_flag(flag.id, "keep", "rev")
    events = store.history("img_000")
    got = [(e["action"], e["who"], e.get("label")) for e in events]
    assert got == [
        ("expert", "ana", "other"),
        ("expert", "ana", "melanoma"),
        ("replaced", "ana", "other"),
        ("undo", "ana", "melanoma"),
        ("skip", "bob", None),
        ("expert", "bob", "melanoma"),
        ("adjudication", "rev", "other"),
        ("flag review", "rev", None),
    ]
    assert events[0]["comment"] == "first look" and events[0]["annotation_id"] == first
    assert events[1]["unsure"] is True and events[-1]["outcome"] == "keep"
    assert all(e["at"] <= later["at"] for e, later in itertools.pairwise(events))
    assert store.history("img_001") == []


def test_the_change_stamp_moves_with_every_kind_of_change_and_only_then(project) -> None:
    store = project.store
    stamps = [store.change_stamp()]
    assert store.change_stamp() == stamps[0]  # reading changes nothing
    (aid, _) = store.add_annotation("img_000", 0, "ana")
    stamps.append(store.change_stamp())
    store.retract(aid, "ana")
    stamps.append(store.change_stamp())
    store.skip("img_001", "ana")
    stamps.append(store.change_stamp())
    store.take("bob")  # a lease
    stamps.append(store.change_stamp())
    store.add_round("coreset", None, 1, 0, [("img_002", None, None)])
    stamps.append(store.change_stamp())
    assert len(set(stamps)) == len(stamps), stamps


def test_a_store_of_the_previous_schema_upgrades_with_every_row_kept(tmp_path: Path, backend: str) -> None:
    """A database at revision 0002 (people, leases, timed annotations, a retraction, a skip, a flag) opens
    at the newest revision: every row and value as it was, old annotations not unsure and uncommented."""
    from alembic import command

    from lesionlab.project.database import _alembic_config, make_engine

    with database_url(backend) as url:
        url = url or f"sqlite:///{tmp_path / 'old.db'}"
        engine = make_engine(url)
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "0002")
            for sql in (
                "INSERT INTO images (key, image_id, path, status, added_at, width, height) VALUES "
                "(1, 'img_000', 'img_000.jpg', 'ok', '2026-01-01 00:00:00', 32, 32), "
                "(2, 'img_001', 'img_001.jpg', 'ok', '2026-01-01 00:00:00', 32, 32)",
                "INSERT INTO people (name, role, token_sha256, created_at) VALUES "
                "('ana', 'annotator', 'aa', '2026-01-01 00:00:00'), "
                "('rev', 'reviewer', 'bb', '2026-01-01 00:00:00')",
                "INSERT INTO annotations (image_key, label, annotator, source, created_at, request_id, "
                "seconds, retracted_at, retracted_by) VALUES "
                "(1, 1, 'ana', 'expert', '2026-01-01 10:00:00', 'req-old-1', 12.5, NULL, NULL), "
                "(2, 0, 'ana', 'expert', '2026-01-01 10:01:00', 'req-old-2', 3.0, "
                "'2026-01-01 10:02:00', 'ana'), "
                "(2, 1, 'rev', 'adjudication', '2026-01-01 11:00:00', NULL, NULL, NULL, NULL)",
                "INSERT INTO skips (image_key, annotator, created_at) "
                "VALUES (2, 'ana', '2026-01-01 10:03:00')",
                "INSERT INTO audit_flags (image_key, annotation_id, score, reason, created_at) "
                "VALUES (1, 1, 0.7, 'odd', '2026-01-01 12:00:00')",
            ):
                conn.exec_driver_sql(sql)
        engine.dispose()
        store = ProjectStore(url, CLASSES)
        try:
            assert store.revision == "0004"
            assert store.labels() == {"img_000": 1, "img_001": 1}
            rows = [store.annotation(i) for i in (1, 2, 3)]
            assert [(r.label, r.annotator, r.source, r.request_id, r.seconds) for r in rows] == [
                (1, "ana", "expert", "req-old-1", 12.5),
                (0, "ana", "expert", "req-old-2", 3.0),
                (1, "rev", "adjudication", None, None),
            ]
            assert rows[1].retracted_by == "ana" and rows[1].retracted_at is not None
            assert all(r.unsure is False and r.comment is None and r.accepted is None for r in rows)
            with store.engine.connect() as conn:
                people = conn.exec_driver_sql("SELECT name, role FROM people ORDER BY name").all()
            assert [tuple(p) for p in people] == [("ana", "annotator"), ("rev", "reviewer")]
            assert [(f.score, f.reason) for f, _ in store.flags()] == [(0.7, "odd")]
            assert [e["action"] for e in store.history("img_001")] == [
                "expert",
                "undo",
                "skip",
                "adjudication",
            ]
            # and the new columns work on the upgraded store
            new, _ = store.add_annotation("img_000", 0, "rev", unsure=True, comment="after upgrade")
            assert (store.annotation(new).unsure, store.annotation(new).comment) == (True, "after upgrade")
        finally:
            store.close()


# ---------------------------------------------------------------------- through the API
@pytest.fixture
def team(tmp_path: Path):
    pytest.importorskip("fastapi")
    from lesionlab.project.people import invite

    make_images(tmp_path / "images", n=3)
    with init_project(tmp_path / "proj", tmp_path / "images", CLASSES, overlap=2, show_progress=False) as p:
        ids = p.store.image_ids()
        p.store.add_round("coreset", None, len(ids), 0, [(i, None, None) for i in ids])
        people = {"ana": "annotator", "ben": "annotator", "rev": "reviewer"}
        p.tokens = {name: invite(p, name, role) for name, role in people.items()}
        yield p


def client(project, name: str):
    from fastapi.testclient import TestClient

    from lesionlab.project.app import create_app

    return TestClient(create_app(project), headers={"Authorization": f"Bearer {project.tokens[name]}"})


def test_notes_are_checked_and_others_answers_are_hidden_until_one_has_answered(team) -> None:
    ana, ben, rev = (client(team, n) for n in ("ana", "ben", "rev"))
    body = {"image_id": "img_000", "label": 1, "request_id": "req-0000001"}
    assert ana.post("/api/labels", json={**body, "unsure": "yes"}).status_code == 422
    assert ana.post("/api/labels", json={**body, "comment": "x" * 2001}).status_code == 422
    stored = ana.post("/api/labels", json={**body, "unsure": True, "comment": "pigment network?"})
    assert stored.status_code == 201
    assert team.store.annotation(stored.json()["annotation_id"]).comment == "pigment network?"
    (seen,) = ben.get("/api/history/img_000").json()["events"]
    assert seen["hidden"] and seen["who"] == "ana"
    assert seen["label"] is seen["comment"] is seen["unsure"] is None
    (full,) = rev.get("/api/history/img_000").json()["events"]
    assert (full["label"], full["unsure"], full["comment"]) == ("melanoma", True, "pigment network?")
    ben.post("/api/labels", json={"image_id": "img_000", "label": 0, "request_id": "req-0000002"})
    after = ben.get("/api/history/img_000").json()
    assert not after["blind"] and after["events"][0]["comment"] == "pigment network?"
    (answer,) = [a for a in rev.get("/api/adjudication").json()["items"][0]["annotations"] if a["unsure"]]
    assert (answer["annotator"], answer["comment"]) == ("ana", "pigment network?")
    team.store.add_flags([("img_000", 0.8, "far from its class", 0)])
    (flag,) = rev.get("/api/flags").json()["flags"]
    assert flag["notes"] == [{"annotator": "ana", "unsure": True, "comment": "pigment network?"}]
    assert ben.get("/api/history/nope").status_code == 404


def test_live_answers_unchanged_until_someone_works_then_in_full(team) -> None:
    ana, ben = client(team, "ana"), client(team, "ben")
    first = ana.get("/api/live", params={"image": "img_000"}).json()
    assert first["changed"] and first["open"] and first["remaining"] == 3
    assert first["next"] == ["img_001", "img_002"] and first["progress"]["complete"] == 0
    assert ana.get("/api/live", params={"since": first["stamp"]}).json() == {
        "stamp": first["stamp"],
        "changed": False,
    }
    ben.post("/api/labels", json={"image_id": "img_001", "label": 0, "request_id": "req-0000003"})
    later = ana.get("/api/live", params={"since": first["stamp"], "image": "img_000"}).json()
    assert later["changed"] and later["stamp"] != first["stamp"] and later["remaining"] == 3  # overlap 2
    ana.post("/api/labels", json={"image_id": "img_001", "label": 0, "request_id": "req-0000004"})
    done = ana.get("/api/live", params={"since": later["stamp"]}).json()
    assert done["progress"]["complete"] == 1 and done["mine"]["annotations"] == 1 and done["remaining"] == 2
