"""Further instances of issue 30's fault classes, tried after it was implemented, each through real mouse
and keys in headless Chromium against `lesionlab project serve` (each failed on the code before its fix):

- double action (class 3): the second click of a double-click lands on the NEXT image, which the same
  button then labelled unseen; the second click of any action button acts on nothing; Enter pressed
  twice stored the model's proposal for the next image as the expert's mask (a key within 400 ms of an
  image appearing is now refused, with a message); S pressed twice skipped the next image unseen;
- false undo (class 3): an undo whose answer was lost, retried, said "not undone ... still has a standing
  annotation" although nothing of the annotator's stood any more;
- tokens (class 9): a re-issued personal link opened in a browser still holding the revoked token's cookie
  was a 401, so the person could not sign in at all;
- undisplayable images and stale views (classes 5 and 2) in the adjudication tab: a reviewer could decide
  a disagreement on an image the page could not show, or on answers that had changed since shown.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect

from lesionlab.project import open_project
from lesionlab.project.people import invite
from page_harness import (
    annotations,
    expert,
    hold_route,
    launch_browser,
    open_page,
    paint_rect,
    release,
    served,
    standing,
    wait_held,
    wait_shown,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def message(page):
    return page.get_by_test_id("message")


def double_click(page, testid: str, next_id: str) -> None:
    """Two clicks on one spot, the second with detail 2 as in a double-click, landing once the next
    image (`next_id`) is on screen and actionable (a slow double-click, or a fast server)."""
    box = page.get_by_test_id(testid).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down(click_count=1)
    page.mouse.up(click_count=1)
    wait_shown(page, next_id)
    page.mouse.down(click_count=2)
    page.mouse.up(click_count=2)


def test_the_second_click_of_a_double_click_acts_on_nothing(browser, tmp_path: Path) -> None:
    with served(tmp_path, {"ann": "annotator"}, n=4) as (server, ids):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        double_click(page, "class-melanoma", ids[1])
        expect(message(page)).to_contain_text("a double-click counts once")
        double_click(page, "skip", ids[2])
        expect(message(page)).to_contain_text("a double-click counts once")
        page.get_by_test_id("class-other").click()  # a single click still acts
        wait_shown(page, ids[3])
        page.context.close()
        assert [(a.image_id, a.label) for a in expert(server.project_dir)] == [(ids[0], 1), (ids[2], 0)]


def test_an_undo_retried_after_its_answer_was_lost_says_undone(browser, tmp_path: Path) -> None:
    def lose_answer(route) -> None:  # the server retracts the label; the page never hears it
        route.fetch()
        route.abort()

    with served(tmp_path, {"ann": "annotator"}, n=3) as (server, ids):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        page.keyboard.press("2")
        wait_shown(page, ids[1])
        page.route("**/api/undo", lose_answer)
        page.keyboard.press("u")
        expect(message(page)).to_contain_text("did not answer")
        page.unroute("**/api/undo")
        assert standing(server.project_dir) == {}  # undone, though the page never heard
        page.keyboard.press("u")  # the retry
        expect(message(page)).to_have_text(f"undone: {ids[0]}")
        wait_shown(page, ids[0])  # back to label again
        page.context.close()


def test_a_reissued_link_signs_in_over_the_revoked_tokens_cookie(browser, tmp_path: Path) -> None:
    with served(tmp_path, {"ann": "annotator"}, n=2) as (server, ids):
        page = open_page(browser, server, "ann")  # the browser now holds ann's first token as a cookie
        wait_shown(page, ids[0])
        with open_project(server.project_dir) as project:
            fresh = invite(project, "ann", "annotator", new_token=True)  # the first token leaked
        page.goto(f"{server.url}/?token={fresh}")
        expect(page.get_by_test_id("whoami")).to_have_text("signed in as ann (annotator)")
        wait_shown(page, ids[0])
        page.keyboard.press("1")
        expect(message(page)).to_have_text(f"{ids[0]}: other")
        page.context.close()
        assert [a.image_id for a in expert(server.project_dir)] == [ids[0]]


def test_a_reviewer_cannot_decide_an_unshowable_image_or_answers_that_changed(
    browser, tmp_path: Path
) -> None:
    def disagree(project, ids) -> None:  # ana and ben disagree on the first two images
        for k, image_id in enumerate(ids[:2]):
            project.store.add_annotation(image_id, 0, "ana", "expert", f"ana-{k:04d}", overlap=2)
            project.store.add_annotation(image_id, 1, "ben", "expert", f"ben-{k:04d}", overlap=2)

    people = {"ana": "annotator", "ben": "annotator", "rev": "reviewer"}
    with served(tmp_path, people, n=3, overlap=2, prepare=disagree) as (server, ids):
        (server.project_dir.parent / "images" / f"{ids[0]}.jpg").write_bytes(b"garbage now")
        rev = open_page(browser, server, "rev")
        rev.get_by_test_id("tab-adjudicate").click()
        disputes = rev.get_by_test_id("dispute")
        expect(disputes).to_have_count(2)
        broken, changing = disputes.nth(0), disputes.nth(1)
        expect(broken).to_contain_text(ids[0])
        expect(broken.get_by_test_id("image-error")).to_be_visible()
        expect(broken.get_by_test_id("decide-class-melanoma")).to_be_disabled()
        expect(changing.get_by_test_id("decide-class-melanoma")).to_be_enabled()  # its image is shown

        with open_project(server.project_dir) as project:  # ben takes his answer back meanwhile
            (ben,) = [
                a
                for a in project.store.standing("label", ids[1])[ids[1]].raters.values()
                if a.annotator == "ben"
            ]
            assert project.store.retract(ben.id, "ben")
        changing.get_by_test_id("decide-class-melanoma").click()
        expect(message(rev)).to_contain_text("(409)")
        expect(message(rev)).to_contain_text("changed since they were shown")
        expect(disputes).to_have_count(1)  # reloaded: the second image is no longer in dispute
        rev.context.close()
        assert [a for a in annotations(server.project_dir) if a.source == "adjudication"] == []


def skipped(project_dir: Path) -> list[str]:
    from sqlalchemy import select

    from lesionlab.project.models import ImageRow, Skip

    with open_project(project_dir) as project, project.store.session() as s:
        query = select(ImageRow.image_id).join(Skip, Skip.image_key == ImageRow.key).order_by(Skip.id)
        return list(s.scalars(query))


def test_skip_pressed_again_while_the_next_image_loads_skips_nothing_unseen(browser, tmp_path: Path) -> None:
    with served(tmp_path, {"ann": "annotator"}, n=3) as (server, ids):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        held = hold_route(page, "**/api/images/**")  # the next image "still loading"
        page.keyboard.press("s")
        expect(message(page)).to_have_text(f"skipped {ids[0]}")
        wait_held(page, held)
        expect(page.get_by_test_id("image-id")).to_have_text(ids[1])
        page.keyboard.press("s")  # pressed again: the image it would skip was never on screen
        expect(page.get_by_test_id("skip")).to_be_disabled()
        release(page, "**/api/images/**", held)
        wait_shown(page, ids[1])
        expect(message(page)).to_have_text(f"skipped {ids[0]}")
        page.context.close()
        assert skipped(server.project_dir) == [ids[0]]


def test_a_key_pressed_twice_never_acts_on_the_image_that_just_appeared(browser, tmp_path: Path) -> None:
    """Enter pressed twice, 200 ms apart, stored the model's proposal for the next image as the expert's
    mask, the image having been on screen for about 100 ms."""
    import numpy as np

    def proposal(project, ids) -> None:
        mask = np.zeros((96, 96), dtype=bool)
        mask[20:60, 20:60] = True
        project.store_mask(ids[1], mask, "model v1", source="model")

    with served(tmp_path, {"ann": "annotator"}, task="segmentation", n=3, prepare=proposal) as (server, ids):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        paint_rect(page, (10, 10, 60, 60), 96, 96)
        held = hold_route(page, "**/api/images/**")
        page.keyboard.press("Enter")
        wait_held(page, held)
        # Enter again the moment the next image is on screen (pressed from inside the page, so a slow
        # test machine cannot make it late)
        page.evaluate(
            """() => new MutationObserver((_, observer) => {
                 if (!document.getElementById("stage-status").hidden) return;
                 observer.disconnect();
                 document.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
               }).observe(document.getElementById("stage-status"), { attributes: true })"""
        )
        release(page, "**/api/images/**", held)
        expect(message(page)).to_contain_text("ignored")
        wait_shown(page, ids[1])
        assert [a.image_id for a in expert(server.project_dir)] == [ids[0]]
        page.keyboard.press("Enter")  # pressed once more, on purpose: the proposal is taken as it is
        expect(message(page)).to_have_text(f"mask saved for {ids[1]}")
        page.context.close()
        assert [a.image_id for a in expert(server.project_dir)] == [ids[0], ids[1]]
