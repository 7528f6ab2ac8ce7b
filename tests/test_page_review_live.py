"""Second reading of issue 33's page, in headless Chromium: live progress must never take away a drawing
or a comment the annotator has not saved. When the image on screen leaves their queue (their lease ran
out and another annotator opened it, or a reviewer decided it), the server still accepts their save; the
page used to move on by itself and throw the unsaved strokes away.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import numpy as np
import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect

from page_harness import iou, launch_browser, open_page, paint_rect, served, stored_mask, wait_shown

pytestmark = pytest.mark.slow

TEAM = {"ana": "annotator", "ben": "annotator"}
SIZE = 96
LIVE_TIMEOUT_MS = 10_000  # a few polls


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def expire_leases(project_dir, person: str) -> None:
    """`person`'s lease runs out (as after LEASE_SECONDS of drawing)."""
    from sqlalchemy import update

    from lesionlab.project import open_project
    from lesionlab.project.models import Lease, utcnow

    with open_project(project_dir) as project, project.store.session() as s:
        past = utcnow() - timedelta(seconds=1)
        s.execute(update(Lease).where(Lease.person == person).values(expires_at=past))


def test_an_unsaved_drawing_stays_when_the_image_leaves_the_queue(browser, tmp_path) -> None:
    with served(tmp_path, TEAM, task="segmentation", n=2) as (server, ids):
        ana = open_page(browser, server, "ana")
        wait_shown(ana, ids[0])
        want = paint_rect(ana, (20, 20, 70, 60), SIZE, SIZE)
        ana.get_by_test_id("comment").fill("border unclear")
        ana.get_by_test_id("comment").blur()
        # ana drew for longer than her lease: ben opens the image meanwhile (it leaves ana's queue)
        expire_leases(server.project_dir, "ana")
        got = httpx.get(f"{server.url}/api/queue", headers=server.auth(server.tokens["ben"])).json()
        assert got["items"][0]["image_id"] == ids[0]
        expect(ana.get_by_test_id("message")).to_contain_text(
            f"{ids[0]} no longer needs your annotation", timeout=LIVE_TIMEOUT_MS
        )
        ana.wait_for_timeout(500)
        expect(ana.get_by_test_id("image-id")).to_have_text(ids[0])  # not moved on: the drawing is kept
        expect(ana.get_by_test_id("comment")).to_have_value("border unclear")
        ana.keyboard.press("Enter")
        expect(ana.get_by_test_id("message")).to_have_text(f"mask saved for {ids[0]}")
        wait_shown(ana, ids[1])
        ana.context.close()
    mask = stored_mask(tmp_path / "proj", ids[0], "ana")
    assert mask is not None and iou(mask, want) > 0.9
    assert np.array_equal(mask.shape, want.shape)


def test_with_nothing_drawn_the_page_still_moves_on(browser, tmp_path) -> None:
    with served(tmp_path, TEAM, task="segmentation", n=2) as (server, ids):
        ana = open_page(browser, server, "ana")
        wait_shown(ana, ids[0])
        expire_leases(server.project_dir, "ana")
        httpx.get(f"{server.url}/api/queue", headers=server.auth(server.tokens["ben"]))
        wait_shown(ana, ids[1])
        ana.context.close()


def test_drawing_renews_a_lapsed_lease_so_the_image_is_not_handed_to_another(browser, tmp_path) -> None:
    """A careful outline outlasting the lease: the image went to ben, whose save filled its only slot, and
    ana's save was then refused (409), her drawing lost. While she draws, the page renews her lease."""
    from lesionlab.project import open_project

    with served(tmp_path, TEAM, task="segmentation", n=2) as (server, ids):
        ana = open_page(browser, server, "ana")
        wait_shown(ana, ids[0])
        paint_rect(ana, (20, 20, 50, 50), SIZE, SIZE)
        expire_leases(server.project_dir, "ana")  # her lease lapses while she is still at work ...
        want = paint_rect(ana, (20, 20, 70, 60), SIZE, SIZE)  # ... and she keeps drawing

        def held() -> bool:
            with open_project(server.project_dir) as project:
                return project.store.holds("ana", ids[0])

        deadline = ana.evaluate("Date.now()") + LIVE_TIMEOUT_MS
        while not held() and ana.evaluate("Date.now()") < deadline:
            ana.wait_for_timeout(250)
        assert held(), "the page did not take its lapsed lease again"
        got = httpx.get(f"{server.url}/api/queue", headers=server.auth(server.tokens["ben"])).json()
        assert [i["image_id"] for i in got["items"]] == [ids[1]]  # ben is not handed ana's image
        ana.keyboard.press("Enter")
        expect(ana.get_by_test_id("message")).to_have_text(f"mask saved for {ids[0]}")
        ana.context.close()
    mask = stored_mask(tmp_path / "proj", ids[0], "ana")
    assert mask is not None and iou(mask, want) > 0.9
