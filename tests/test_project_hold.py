"""Holding an image while working on it (`POST /api/hold`, `ProjectStore.hold`): a lease that lapsed while an
annotator was still drawing handed the image to someone else, whose answer filled the last slot, and the
first annotator's save was then refused (409): their work could not be stored. The page now renews its
lease while the person works; these tests pin the server's rules for that renewal."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from sqlalchemy import select, update

from lesionlab.project.models import Lease, utcnow
from test_project_team import clients, first, label, team_project


def lapse(project, person: str) -> None:
    """`person`'s lease runs out (as after LEASE_SECONDS without a renewal)."""
    with project.store.session() as s:
        s.execute(
            update(Lease).where(Lease.person == person).values(expires_at=utcnow() - timedelta(seconds=1))
        )


def lease_end(project, person: str):
    with project.store.session() as s:
        return s.scalar(select(Lease.expires_at).where(Lease.person == person))


def hold(client, image_id: str) -> dict:
    reply = client.post("/api/hold", json={"image_id": image_id})
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_a_renewed_lease_keeps_the_image_from_others_and_the_save_is_taken(tmp_path: Path) -> None:
    with team_project(tmp_path, n=2, overlap=1) as p:
        c = clients(p, ("ana", "annotator"), ("ben", "annotator"))
        image = first(c["ana"])
        lapse(p, "ana")  # ana drew for longer than the lease ...
        assert p.store.holds("ana", image) is False
        live = c["ana"].get("/api/live", params={"image": image}).json()
        assert live["open"] is True and live["held"] is False  # ... the page learns it lapsed
        got = hold(c["ana"], image)  # ... and, as she is still drawing, takes it again
        assert got["held"] is True and got["until"] is not None
        assert p.store.holds("ana", image) is True
        assert first(c["ben"]) != image  # ben is not handed her image
        assert label(c["ana"], image, 0).status_code == 201


def test_without_a_renewal_the_lapsed_image_goes_to_another_and_cannot_be_held_back(tmp_path: Path) -> None:
    with team_project(tmp_path, n=2, overlap=1) as p:
        c = clients(p, ("ana", "annotator"), ("ben", "annotator"))
        image = first(c["ana"])
        lapse(p, "ana")  # an idle page: nothing renews the lease
        assert first(c["ben"]) == image
        got = hold(c["ana"], image)
        assert got == {"image_id": image, "held": False, "until": None}
        assert p.store.holds("ben", image) is True and p.store.holds("ana", image) is False
        live = c["ana"].get("/api/live", params={"image": image}).json()
        assert live["open"] is False  # the page keeps unsaved work and says so (test_page_review_live)


def test_hold_renews_a_live_lease_and_ends_the_callers_other_leases(tmp_path: Path) -> None:
    with team_project(tmp_path, n=3, overlap=1) as p:
        c = clients(p, ("ana", "annotator"), ("ben", "annotator"))
        image = first(c["ana"])
        before = lease_end(p, "ana")
        assert hold(c["ana"], image)["held"] is True
        assert lease_end(p, "ana") >= before
        other = next(i for i in p.store.image_ids() if i != image)
        assert hold(c["ana"], other)["held"] is True  # one lease at a time: the first image is free again
        assert p.store.holds("ana", image) is False
        assert first(c["ben"]) == image


def test_a_skipped_or_unknown_image_cannot_be_held(tmp_path: Path) -> None:
    with team_project(tmp_path, n=2, overlap=1) as p:
        c = clients(p, ("ana", "annotator"))
        image = first(c["ana"])
        assert c["ana"].post("/api/skip", json={"image_id": image}).status_code == 200
        assert hold(c["ana"], image)["held"] is False
        missing = c["ana"].post("/api/hold", json={"image_id": "no-such-image"})
        assert missing.status_code == 404
