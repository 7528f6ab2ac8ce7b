"""Why the queue is empty, said by the server in the queue's own terms (issue 33, "nothing for you now").

Before: the page showed "every proposed image is labelled" whenever /api/queue came back empty, also
after a skip with 29 of 30 images done; the queue said nothing about why it was empty. Now /api/queue
carries `empty` (None while there is work) counted by the same rules as the queue itself."""

from __future__ import annotations

from itertools import count
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from lesionlab.project import init_project
from lesionlab.project.app import create_app
from lesionlab.project.people import invite
from project_fixtures import BACKENDS, CLASSES, database_url, make_images


def project_of(tmp_path: Path, n: int = 4, proposed: int = 3, overlap: int = 1, database=None):
    make_images(tmp_path / "images", n=n)
    project = init_project(
        tmp_path / "proj",
        tmp_path / "images",
        CLASSES,
        database=database,
        overlap=overlap,
        show_progress=False,
    )
    ids = project.store.image_ids()
    if proposed:
        project.store.add_round("coreset", None, proposed, 0, [(i, None, None) for i in ids[:proposed]])
    return project, ids


def client(project, name: str) -> TestClient:
    token = invite(project, name, "annotator")
    return TestClient(create_app(project), headers={"Authorization": f"Bearer {token}"})


REQUESTS = count()  # request ids are unique across people


def label_all(c: TestClient, skip_last: bool = False) -> dict:
    """Label every image the queue gives (skipping the last one if asked); returns the final queue."""
    while True:
        data = c.get("/api/queue").json()
        if not data["items"]:
            return data
        image_id = data["items"][0]["image_id"]
        if skip_last and data["remaining"] == 1:
            assert c.post("/api/skip", json={"image_id": image_id}).status_code == 200
        else:
            body = {"image_id": image_id, "label": 0, "request_id": f"request-{next(REQUESTS):04d}"}
            assert c.post("/api/labels", json=body).status_code == 201


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_skip_is_not_all_done_and_the_skipped_image_can_be_revisited(tmp_path: Path, backend: str) -> None:
    with database_url(backend) as url, project_of(tmp_path, n=4, proposed=3, database=url)[0] as project:
        ids = project.store.image_ids()
        ana = client(project, "ana")
        data = label_all(ana, skip_last=True)
        assert data["progress"] == {"proposed": 3, "complete": 2, "adjudication": 0}
        assert data["empty"]["state"] == "skipped"
        assert data["empty"]["skipped"] == 1
        assert ana.post("/api/skipped/revisit").json() == {"revisited": 1}
        data = ana.get("/api/queue").json()
        assert [i["image_id"] for i in data["items"]] == [ids[2]] and data["empty"] is None


def test_open_in_another_page_then_waiting_for_proposals_then_all_done(tmp_path: Path) -> None:
    project, ids = project_of(tmp_path, n=3, proposed=2)
    with project:
        ana, ben = client(project, "ana"), client(project, "ben")
        assert ana.get("/api/queue").json()["items"][0]["image_id"] == ids[0]  # leased to ana now
        data = label_all(ben)  # ben labels ids[1]; ids[0] is open in ana's page
        assert data["empty"]["state"] == "others"
        assert data["empty"]["open_elsewhere"] == 1 and data["empty"]["lease_ends"]
        data = label_all(ana)
        assert data["empty"]["state"] == "waiting_proposals"  # ids[2] was never proposed
        assert data["empty"]["unproposed"] == 1
        project.store.add_round("coreset", None, 1, 2, [(ids[2], None, None)])
        assert label_all(ben)["empty"]["state"] == "all_done"


def test_overlap_waiting_for_other_annotators(tmp_path: Path) -> None:
    project, _ = project_of(tmp_path, n=2, proposed=2, overlap=2)
    with project:
        data = label_all(client(project, "ana"))
        assert data["empty"]["state"] == "others"
        assert data["empty"]["yours_waiting_for_others"] == 2 and data["empty"]["open_elsewhere"] == 0


def test_nothing_proposed_yet(tmp_path: Path) -> None:
    project, _ = project_of(tmp_path, n=2, proposed=0)
    with project:
        data = client(project, "ana").get("/api/queue").json()
        assert data["items"] == [] and data["empty"]["state"] == "no_proposals"
