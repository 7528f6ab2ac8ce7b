"""Issue 33, section 2, annotating in a team, through real keys and mouse in headless Chromium: the "unsure"
flag (Q) and a comment go with the label into the store and reach the reviewer; the current image's
history says who did what and when (others' answers hidden until one has answered: blind annotation);
others' work appears without a reload (progress counts, the images waiting, the next ones), and an image
a reviewer decides meanwhile leaves the page of the annotator who has it open.
"""

from __future__ import annotations

import uuid

import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

import httpx
from playwright.sync_api import expect

import page_view_shots
from page_harness import annotations, launch_browser, open_page, served, wait_shown

pytestmark = pytest.mark.slow

TEAM = {"ana": "annotator", "ben": "annotator", "rev": "reviewer"}
LIVE_TIMEOUT_MS = 10_000  # a few polls


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def message(page):
    return page.get_by_test_id("message")


def post_as(server, name: str, path: str, body: dict) -> dict:
    body = {**body, "request_id": uuid.uuid4().hex}
    response = httpx.post(f"{server.url}{path}", json=body, headers=server.auth(server.tokens[name]))
    assert response.status_code == 201, response.text
    return response.json()


def test_unsure_and_comment_are_stored_shown_in_the_history_and_to_the_reviewer(browser, tmp_path) -> None:
    with served(tmp_path, TEAM, n=2, overlap=2) as (server, ids):
        ana = open_page(browser, server, "ana")
        wait_shown(ana, ids[0])
        ana.keyboard.press("q")
        expect(ana.get_by_test_id("unsure")).to_be_checked()
        comment = ana.get_by_test_id("comment")
        comment.click()
        ana.keyboard.type("2 colours, 1 dot?")  # keys typed in the comment never label the image
        comment.blur()
        assert annotations(server.project_dir) == []
        ana.keyboard.press("2")
        expect(message(ana)).to_have_text(f"{ids[0]}: melanoma")
        expect(ana.get_by_test_id("unsure")).not_to_be_checked()  # the next image starts sure
        expect(comment).to_have_value("")
        ana.context.close()

        ben = open_page(browser, server, "ben")
        wait_shown(ben, ids[0])
        events = ben.get_by_test_id("history-event")
        expect(events).to_have_count(1)
        expect(events.first).to_contain_text("ana answered (hidden until you have answered)")
        ben.keyboard.press("q")
        ben.keyboard.press("1")
        expect(message(ben)).to_have_text(f"{ids[0]}: other")
        ben.keyboard.press("u")  # back to ids[0]: ben's answer and its undo are in the history
        expect(message(ben)).to_have_text(f"undone: {ids[0]}")
        wait_shown(ben, ids[0])
        expect(ben.get_by_test_id("unsure")).to_be_checked()  # the answer taken back comes with its notes
        expect(events).to_have_count(3)
        expect(events.nth(1)).to_contain_text("ben answered: other")
        expect(events.nth(2)).to_contain_text("ben took back: other")
        expect(events.nth(0)).to_contain_text("hidden")  # ben stands on nothing again: still blind
        page_view_shots.shot(ben.locator("aside"), tmp_path, "history")
        ben.keyboard.press("q")  # sure now
        ben.keyboard.press("1")
        expect(message(ben)).to_have_text(f"{ids[0]}: other")
        ben.context.close()

        stored = [(a.annotator, a.label, a.retracted) for a in annotations(server.project_dir, ids[0])]
        assert stored == [("ana", 1, False), ("ben", 0, True), ("ben", 0, False)]
        from lesionlab.project import open_project

        with open_project(server.project_dir) as project:
            events = project.store.history(ids[0])
        notes = {(e["who"], e["action"]): (e.get("unsure"), e.get("comment")) for e in events}
        assert notes["ana", "expert"] == (True, "2 colours, 1 dot?")
        assert notes["ben", "expert"] == (False, None)  # his newer answer (the one taken back was unsure)

        rev = open_page(browser, server, "rev")
        rev.get_by_test_id("tab-adjudicate").click()
        votes = rev.get_by_test_id("dispute").get_by_test_id("vote")
        expect(votes).to_have_text(["ana: melanoma unsure 2 colours, 1 dot?", "ben: other"])
        rev.wait_for_function("[...document.images].every((i) => i.complete)")
        page_view_shots.shot(rev.get_by_test_id("dispute"), tmp_path, "notes")
        rev.context.close()


def test_others_work_appears_without_reload_and_a_decided_image_leaves_the_page(browser, tmp_path) -> None:
    with served(tmp_path, TEAM, n=4) as (server, ids):
        ana = open_page(browser, server, "ana")
        wait_shown(ana, ids[0])
        progress = ana.get_by_test_id("progress")
        up_next = ana.get_by_test_id("up-next")
        expect(progress).to_contain_text("0 of 4 proposed images annotated")
        expect(progress).to_contain_text("4 waiting for you")
        expect(up_next).to_have_text(f"next for you: {ids[1]}, {ids[2]}, {ids[3]}")
        # ben labels ids[1] and ids[2] (overlap 1: they are done, and leave ana's queue)
        post_as(server, "ben", "/api/labels", {"image_id": ids[1], "label": 0})
        post_as(server, "ben", "/api/labels", {"image_id": ids[2], "label": 1})
        expect(progress).to_contain_text("2 of 4 proposed images annotated", timeout=LIVE_TIMEOUT_MS)
        expect(progress).to_contain_text("2 waiting for you")
        expect(up_next).to_have_text(f"next for you: {ids[3]}")
        page_view_shots.shot(ana.locator("#label-view"), tmp_path, "live")
        # a reviewer decides the image ana has open: her page moves on by itself
        post_as(server, "rev", "/api/adjudication", {"image_id": ids[0], "label": 1})
        expect(message(ana)).to_have_text(
            f"{ids[0]} no longer needs your annotation (others completed it, or a reviewer decided it)",
            timeout=LIVE_TIMEOUT_MS,
        )
        wait_shown(ana, ids[3])
        expect(progress).to_contain_text("3 of 4 proposed images annotated")
        ana.context.close()
