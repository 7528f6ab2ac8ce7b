"""The annotation page never stores what the expert did not mean (issue 30, items 2-5 and 10), one test per
class of fault, each through real keys and mouse in headless Chromium against `lesionlab project serve`:

- stale canvas: Enter (or a class key) while the next image is still loading saves nothing (the drawing
  was bound to the image it was drawn on, and the new image's canvas starts empty);
- double save / false undo: one action is one stored annotation (Enter twice, a clicked Save then Enter,
  Enter on a focused Save, a retry after a lost answer), an empty mask needs No lesion, and "undone" is
  said only after the server retracted it;
- focus: keys typed into a field, or Space/Enter after clicking a class, never label an image; canvas
  undo (per stroke) is not label undo;
- undisplayable images: nothing can be labelled that the page could not show; Skip still works;
- refused actions: every 4xx answer's own sentence is shown in the message, never swallowed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect

from page_harness import (
    expert,
    hold_route,
    iou,
    launch_browser,
    open_page,
    paint_rect,
    release,
    served,
    standing,
    stored_mask,
    wait_held,
    wait_shown,
)

pytestmark = pytest.mark.slow

SEG = "segmentation"
SIZE = 96  # the tiny images' width and height


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def message(page):
    return page.get_by_test_id("message")


def test_enter_while_the_next_image_loads_saves_nothing_on_it(browser, tmp_path: Path) -> None:
    with served(tmp_path, {"ann": "annotator"}, task=SEG) as (server, ids):
        page = open_page(browser, server, "ann")
        first = wait_shown(page, ids[0])
        paint_rect(page, (20, 20, 70, 60), SIZE, SIZE)
        held = hold_route(page, "**/api/images/**")  # the next image "still loading"
        page.keyboard.press("Enter")
        expect(message(page)).to_have_text(f"mask saved for {first}")
        wait_held(page, held)
        expect(page.get_by_test_id("image-id")).to_have_text(ids[1])
        for key in ("Enter", "Enter", "n"):  # save, save again, "no lesion": none may act yet
            page.keyboard.press(key)
        box = page.get_by_test_id("stage").bounding_box()
        page.mouse.move(box["x"] + 50, box["y"] + 50)
        page.mouse.down()
        page.mouse.move(box["x"] + 150, box["y"] + 120, steps=5)
        page.mouse.up()
        expect(page.get_by_test_id("save")).to_be_disabled()
        release(page, "**/api/images/**", held)
        wait_shown(page, ids[1])
        page.keyboard.press("Enter")  # the new image's canvas is empty: the old drawing did not come along
        expect(message(page)).to_contain_text("No lesion")
        expect(message(page)).to_have_class("error")
        page.context.close()
        assert expert(server.project_dir, ids[1]) == []
        assert [a.annotator for a in expert(server.project_dir, first)] == ["ann"]


def test_a_class_key_while_the_next_image_loads_labels_nothing(browser, tmp_path: Path) -> None:
    with served(tmp_path, {"ann": "annotator"}) as (server, ids):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        held = hold_route(page, "**/api/images/**")
        page.keyboard.press("1")
        expect(message(page)).to_have_text(f"{ids[0]}: other")
        wait_held(page, held)
        page.keyboard.press("2")  # the next image is not on screen yet: nothing may label it
        expect(page.get_by_test_id("class-melanoma")).to_be_disabled()
        release(page, "**/api/images/**", held)
        wait_shown(page, ids[1])
        expect(message(page)).to_have_text(f"{ids[0]}: other")
        page.context.close()
        assert [a.image_id for a in expert(server.project_dir)] == [ids[0]]


def tab_to(page, testid: str, presses: int = 60) -> None:
    """Move the keyboard focus to an element with the Tab key, as a keyboard user does."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.dataset.testid") == testid:
            return
    raise AssertionError(f"Tab never reached {testid}")


def test_one_action_stores_one_annotation_and_undo_is_said_only_once_done(browser, tmp_path: Path) -> None:
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=5) as (server, ids):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        paint_rect(page, (10, 10, 60, 50), SIZE, SIZE)
        page.keyboard.press("Enter")
        page.keyboard.press("Enter")  # pressed twice: one mask
        expect(message(page)).to_have_text(f"mask saved for {ids[0]}")
        wait_shown(page, ids[1])
        paint_rect(page, (30, 30, 80, 80), SIZE, SIZE)
        page.get_by_test_id("save").click()  # the mouse on Save, then Enter: still one mask
        page.keyboard.press("Enter")
        wait_shown(page, ids[2])
        paint_rect(page, (20, 30, 80, 70), SIZE, SIZE)
        tab_to(page, "save")  # Enter on a Save button that has the focus: its click, once
        page.keyboard.press("Enter")
        page.keyboard.press("Enter")
        wait_shown(page, ids[3])
        for image_id in ids[:3]:
            assert len(expert(server.project_dir, image_id)) == 1, image_id
        assert expert(server.project_dir, ids[3]) == []

        page.keyboard.press("Enter")  # nothing drawn: an empty mask is not saved by accident
        expect(message(page)).to_contain_text("No lesion (N)")
        assert expert(server.project_dir, ids[3]) == []
        page.keyboard.press("n")
        expect(message(page)).to_have_text(f"no lesion saved for {ids[3]}")
        (none,) = expert(server.project_dir, ids[3])
        assert none.has_mask and not stored_mask(server.project_dir, ids[3], "ann").any()

        held = hold_route(page, "**/api/undo")
        page.keyboard.press("u")
        wait_held(page, held)
        expect(message(page)).to_have_text(f"no lesion saved for {ids[3]}")  # not "undone" before the answer
        release(page, "**/api/undo", held)
        expect(message(page)).to_have_text(f"undone: {ids[3]}")
        wait_shown(page, ids[3])  # back on screen, to annotate again
        page.keyboard.press("u")
        expect(message(page)).to_have_text(f"undone: {ids[2]}")
        page.context.close()
        masks = standing(server.project_dir, "mask")
        assert "ann" not in masks.get(ids[3], {}) and "ann" not in masks.get(ids[2], {})
        assert "ann" in masks[ids[0]] and "ann" in masks[ids[1]]
        assert [a.retracted for a in expert(server.project_dir, ids[2])] == [True]


def test_a_save_whose_answer_was_lost_is_retried_as_the_same_action(browser, tmp_path: Path) -> None:
    def lose_answer(route) -> None:  # the server gets the mask and stores it; its answer never arrives
        if route.request.method == "PUT":
            route.fetch()
            route.abort()
        else:
            route.continue_()

    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=2) as (server, ids):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        paint_rect(page, (10, 10, 60, 50), SIZE, SIZE)
        page.route("**/api/masks/**", lose_answer)
        page.keyboard.press("Enter")
        expect(message(page)).to_contain_text("did not answer")
        page.unroute("**/api/masks/**")
        assert len(expert(server.project_dir, ids[0])) == 1  # stored, though the page never heard
        page.keyboard.press("Enter")  # the retry: the same request id, so the same annotation
        expect(message(page)).to_have_text(f"mask saved for {ids[0]}")
        wait_shown(page, ids[1])
        page.context.close()
        assert len(expert(server.project_dir, ids[0])) == 1


def test_keys_in_a_field_or_after_clicking_a_class_never_label(browser, tmp_path: Path) -> None:
    with served(tmp_path, {"ann": "annotator"}, n=4) as (server, ids):
        page = open_page(browser, server, "ann")
        expect(page.get_by_test_id("whoami")).to_have_text("signed in as ann (annotator)")
        expect(page.locator("#annotator")).to_have_count(0)  # no name field: the token says who
        expect(page.get_by_test_id("tab-adjudicate")).to_be_hidden()
        expect(page.get_by_test_id("tab-review")).to_be_hidden()
        wait_shown(page, ids[0])
        zoom = page.get_by_test_id("zoom-level")
        zoom.click(click_count=3)
        page.keyboard.type("125")  # digits typed into a field are the field's, not class keys
        page.keyboard.press("Control+z")  # the field's own undo
        expect(zoom).to_have_value("100 %")
        page.keyboard.type("150")
        page.keyboard.press("Enter")
        expect(zoom).to_have_value("150 %")
        assert expert(server.project_dir) == []

        page.keyboard.press("2")  # the field let go of the focus: keys label again
        expect(message(page)).to_have_text(f"{ids[0]}: melanoma")
        wait_shown(page, ids[1])
        page.get_by_test_id("class-other").click()
        expect(message(page)).to_have_text(f"{ids[1]}: other")
        wait_shown(page, ids[2])
        page.keyboard.press(" ")  # Space and Enter after a click must not press the class again
        page.keyboard.press("Enter")
        page.keyboard.press("2")
        expect(message(page)).to_have_text(f"{ids[2]}: melanoma")
        wait_shown(page, ids[3])
        page.context.close()
        given = {a.image_id: a.label for a in expert(server.project_dir)}
        assert given == {ids[0]: 1, ids[1]: 0, ids[2]: 1}


def test_canvas_undo_takes_back_a_stroke_not_a_saved_label(browser, tmp_path: Path) -> None:
    with served(tmp_path, {"ann": "annotator"}, task=SEG) as (server, ids):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        paint_rect(page, (20, 20, 70, 70), SIZE, SIZE)
        page.keyboard.press("Enter")
        expect(message(page)).to_have_text(f"mask saved for {ids[0]}")
        wait_shown(page, ids[1])
        kept = paint_rect(page, (8, 8, 44, 44), SIZE, SIZE)
        paint_rect(page, (52, 52, 90, 90), SIZE, SIZE)
        page.keyboard.press("Control+z")  # the last stroke goes; the saved mask of ids[0] stays
        page.keyboard.press("Enter")
        expect(message(page)).to_have_text(f"mask saved for {ids[1]}")
        assert iou(stored_mask(server.project_dir, ids[1], "ann"), kept) >= 0.95
        assert "ann" in standing(server.project_dir, "mask")[ids[0]]

        page.keyboard.press("u")  # label undo: the newest saved mask
        expect(message(page)).to_have_text(f"undone: {ids[1]}")
        wait_shown(page, ids[1])
        paint_rect(page, (8, 8, 44, 44), SIZE, SIZE)
        page.get_by_test_id("canvas-undo").click()
        page.get_by_test_id("canvas-undo").click()  # the mask taken back came back as one stroke: it goes too
        expect(page.get_by_test_id("canvas-undo")).to_be_disabled()  # no stroke left
        page.keyboard.press("Enter")
        expect(message(page)).to_contain_text("No lesion")
        page.context.close()
        masks = standing(server.project_dir, "mask")
        assert "ann" in masks[ids[0]] and "ann" not in masks.get(ids[1], {})


def test_an_image_the_page_cannot_show_cannot_be_labelled(browser, tmp_path: Path) -> None:
    with served(tmp_path, {"ann": "annotator"}, n=3) as (server, ids):
        context = browser.new_context()
        page = context.new_page()
        held = hold_route(page, f"**/api/images/{ids[0]}")
        page.goto(f"{server.url}/?token={server.tokens['ann']}")
        wait_held(page, held)
        (tmp_path / "images" / f"{ids[0]}.jpg").unlink()  # deleted while on the queue: the server's 404
        release(page, f"**/api/images/{ids[0]}", held)
        # and one that arrives but does not decode in the browser
        page.route(f"**/api/images/{ids[1]}", lambda route: route.fulfill(body=b"not an image at all"))
        for image_id in ids[:2]:
            expect(page.get_by_test_id("image-id")).to_have_text(image_id)
            expect(page.get_by_test_id("image-error")).to_contain_text("cannot be shown")
            expect(message(page)).to_have_class("error")
            for name in ("other", "melanoma"):
                expect(page.get_by_test_id(f"class-{name}")).to_be_disabled()
            page.keyboard.press("1")
            page.keyboard.press("2")
            expect(page.get_by_test_id("skip")).to_be_enabled()
            page.keyboard.press("s")
            expect(page.get_by_test_id("image-id")).not_to_have_text(image_id)
        wait_shown(page, ids[2])
        page.keyboard.press("1")
        expect(message(page)).to_have_text(f"{ids[2]}: other")
        context.close()
        assert [a.image_id for a in expert(server.project_dir)] == [ids[2]]


def refuse(status: int, detail: str):
    """A route handler answering like the server refuses: the status and its one-sentence detail."""
    body = json.dumps({"detail": detail})
    return lambda route: route.fulfill(status=status, content_type="application/json", body=body)


def test_every_refused_action_shows_the_servers_reason(browser, tmp_path: Path) -> None:
    import httpx

    people = {"ann": "annotator", "bob": "annotator", "rev": "reviewer", "rita": "reviewer"}
    with served(tmp_path, people, n=4) as (server, _ids):
        page = open_page(browser, server, "ann")
        shown = wait_shown(page)
        # bob labels the image ann has open (overlap 1): it is complete, ann's label is refused (409)
        answer = httpx.post(
            f"{server.url}/api/labels",
            json={"image_id": shown, "label": 1, "request_id": "bob-label-0001"},
            headers=server.auth(server.tokens["bob"]),
        )
        assert answer.status_code == 201, answer.text
        page.keyboard.press("1")
        expect(message(page)).to_contain_text("(409)")
        expect(message(page)).to_have_class("error")
        assert [a.annotator for a in expert(server.project_dir, shown)] == ["bob"]

        # 403, 413 and 422 with their own sentences: the page shows each, whatever the action
        for status, detail in [
            (403, "needs the reviewer role"),
            (413, "body over 1 MB"),
            (422, "no class 7"),
        ]:
            current = wait_shown(page)
            page.route("**/api/labels", refuse(status, detail))
            page.keyboard.press("2")
            expect(message(page)).to_have_text(f"could not save the label ({status}): {detail}")
            expect(message(page)).to_have_class("error")
            page.unroute("**/api/labels")
            expect(page.get_by_test_id("image-id")).to_have_text(current)  # still there to label
        page.context.close()

        # a flag another reviewer decided first: 409, naming who
        from lesionlab.project import open_project

        with open_project(server.project_dir) as project:
            project.store.add_flags([(shown, 0.9, "test flag", 0)])
            ((flag, _),) = project.store.flags()
        review = open_page(browser, server, "rev")
        review.get_by_test_id("tab-review").click()
        expect(review.get_by_test_id("flag")).to_have_count(1)
        answer = httpx.post(
            f"{server.url}/api/flags/{flag.id}/review",
            json={"outcome": "keep"},
            headers=server.auth(server.tokens["rita"]),
        )
        assert answer.status_code == 200, answer.text
        review.get_by_test_id("flag").get_by_role("button", name="Keep").click()
        expect(message(review)).to_contain_text("(409)")
        expect(message(review)).to_contain_text("rita")
        review.context.close()
