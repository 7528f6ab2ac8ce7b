"""Third reading of the page's answers (issue 33), in headless Chromium: an answer is the one its person
meant for the image on screen, and what the page says about it is about that answer.

Found: the lease renewal sent by the key that saved (a minute after the last one) could be answered after
the save had ended the lease, while the save's own answer was still on its way: the page flashed "others
hold the slots now: save soon" over an answer already stored. U pressed while the next image's queue was
still loading took the answer back and showed its image, then the older queue answer arrived and replaced
it (the taken-back mask gone from the canvas, or another image shown). Ctrl+Shift+Z (redo elsewhere)
undid a stroke the expert meant to keep. On the model's mask proposal, N (which the prediction box offers
"if it shows no lesion") was refused, telling the expert to erase it with canvas undo, which cannot take
it off; and No lesion taken back (U) came back as the model's proposal, not as the empty answer it was.
A mask taken back (U) was pasted over the model's proposal: Ctrl+Z, which drops the taken-back mask,
left the proposal under the note "your mask, taken back", to be saved as the expert's own.
Two tabs of one person show the same image (the lease is theirs): saved in one, the other said "others
completed it" over the unsaved drawing it kept, and its save then silently replaced the first tab's answer.
The comment box kept the focus when the expert went on to draw: the keys they pressed next for the page
(E, B, Enter) were typed into the comment, stored with the answer and shown to reviewers.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect

from page_harness import (
    iou,
    launch_browser,
    open_page,
    paint_rect,
    placement,
    served,
    stored_mask,
    wait_shown,
)

pytestmark = pytest.mark.slow

SEG = "segmentation"
SIZE = 96

# Every text the message line shows, however briefly.
RECORD = """() => {
window._said = [];
new MutationObserver(() => window._said.push(document.getElementById('message').textContent))
  .observe(document.getElementById('message'), {childList: true, characterData: true, subtree: true});
}"""
# A minute later for the page's clock: its next key renews the lease (hold.js's RENEW_MS).
A_MINUTE_ON = "() => { const now = performance.now.bind(performance); performance.now = () => now() + 61e3; }"


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def message(page):
    return page.get_by_test_id("message")


def until(page, ready, what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(50)


def test_a_hold_reply_racing_the_save_flashes_no_warning(browser, tmp_path) -> None:
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=2, size=SIZE) as (server, ids):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        paint_rect(page, (20, 20, 70, 60), SIZE, SIZE)
        saves, holds = [], []

        def on_mask(route) -> None:
            if route.request.method != "PUT":
                route.continue_()
                return
            saves.append((route, route.fetch()))  # stored by the server; its answer kept back

        page.route("**/api/masks/**", on_mask)
        page.route("**/api/hold", lambda route: holds.append(route))
        page.evaluate(RECORD)
        page.evaluate(A_MINUTE_ON)
        page.keyboard.press("Enter")  # the key renews the lease, and saves
        until(page, lambda: saves and holds, "the save and the renewal")
        holds[0].continue_()  # the renewal reaches the server after the save ended the lease
        page.wait_for_timeout(600)  # ... and its answer (held: false) the page before the save's
        route, response = saves[0]
        route.fulfill(response=response)
        expect(message(page)).to_have_text(f"mask saved for {ids[0]}")
        said = page.evaluate("window._said")
        page.context.close()
    assert not [s for s in said if "others hold" in s], f"a warning flashed over a stored answer: {said}"


def test_u_while_the_next_image_loads_keeps_the_taken_back_image(browser, tmp_path) -> None:
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=3, size=SIZE) as (server, ids):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        want = paint_rect(page, (20, 20, 70, 60), SIZE, SIZE)
        held = []

        def on_queue(route) -> None:
            if "first=" in route.request.url:
                route.continue_()  # undo's: the image taken back
            else:
                held.append(route)  # the queue after the save: slow to answer

        page.route("**/api/queue*", on_queue)
        page.keyboard.press("Enter")
        expect(message(page)).to_have_text(f"mask saved for {ids[0]}")
        until(page, lambda: held, "the next queue request")
        page.keyboard.press("u")
        expect(message(page)).to_have_text(f"undone: {ids[0]}")
        wait_shown(page, ids[0])
        held[0].continue_()  # the older queue answer arrives last
        page.wait_for_timeout(1500)
        expect(page.get_by_test_id("image-id")).to_have_text(ids[0])
        expect(page.locator("#mask-note")).to_contain_text("taken back")
        page.keyboard.press("Enter")
        expect(message(page)).to_have_text(f"mask saved for {ids[0]}")
        page.context.close()
    assert iou(stored_mask(tmp_path / "proj", ids[0], "ann"), want) > 0.9


def test_ctrl_shift_z_undoes_no_stroke(browser, tmp_path) -> None:
    """The page has no redo: Ctrl+Shift+Z (redo in most editors) took away a second stroke."""
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=1, size=SIZE) as (server, ids):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        want = paint_rect(page, (10, 10, 50, 50), SIZE, SIZE)
        paint_rect(page, (60, 60, 90, 90), SIZE, SIZE)
        page.keyboard.press("Control+z")
        page.keyboard.press("Control+Shift+z")
        page.keyboard.press("Enter")
        expect(message(page)).to_have_text(f"mask saved for {ids[0]}")
        page.context.close()
    assert iou(stored_mask(tmp_path / "proj", ids[0], "ann"), want) > 0.95


def model_mask(project, ids: list[str]) -> None:
    """The model proposes a lesion in the first image's top-left quarter."""
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[:48, :48] = True
    project.store_mask(ids[0], mask, "model v1", source="model")


PAINTED = (
    "() => { const c = document.getElementById('mask-canvas'); "
    "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; "
    "let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] >= 128; return n; }"
)


def test_n_on_the_models_proposal_says_no_lesion_and_comes_back_empty(browser, tmp_path) -> None:
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=2, size=SIZE, prepare=model_mask) as (
        server,
        ids,
    ):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        assert page.evaluate(PAINTED) == 48 * 48  # the proposal is drawn
        page.keyboard.press("n")
        expect(message(page)).to_have_text(f"no lesion saved for {ids[0]}")
        wait_shown(page, ids[1])
        page.keyboard.press("u")
        expect(message(page)).to_have_text(f"undone: {ids[0]}")
        wait_shown(page, ids[0])
        expect(page.locator("#mask-note")).to_contain_text("taken back")
        assert page.evaluate(PAINTED) == 0, "the answer taken back was no lesion, not the model's proposal"
        page.context.close()


def test_drawing_after_typing_a_comment_gives_the_keys_back_to_the_page(browser, tmp_path) -> None:
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=2, size=SIZE) as (server, ids):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        comment = page.get_by_test_id("comment")
        comment.click()
        page.keyboard.type("border unclear")
        place = placement(page, SIZE, SIZE)
        page.mouse.move(*place.screen(10, 10))
        page.mouse.down()
        page.mouse.move(*place.screen(60, 10), steps=6)
        page.mouse.up()
        page.keyboard.press("e")  # the eraser, for the next stroke
        expect(page.get_by_test_id("eraser")).to_have_class("tool active")
        page.keyboard.press("b")
        expect(comment).to_have_value("border unclear")
        page.keyboard.press("Enter")
        expect(message(page)).to_have_text(f"mask saved for {ids[0]}")
        page.context.close()
    history = [a for a in expert_notes(tmp_path / "proj") if a[0] == ids[0]]
    assert history == [(ids[0], "border unclear")], history


def expert_notes(project_dir) -> list[tuple[str, str | None]]:
    """(image id, comment) of every expert annotation stored."""
    from sqlalchemy import select

    from lesionlab.project import open_project
    from lesionlab.project.models import Annotation, ImageRow

    query = select(ImageRow.image_id, Annotation.comment).join(ImageRow, ImageRow.key == Annotation.image_key)
    with open_project(project_dir) as project, project.store.session() as s:
        return [tuple(r) for r in s.execute(query.where(Annotation.source == "expert")).all()]


def test_dropping_a_taken_back_mask_leaves_no_model_proposal(browser, tmp_path) -> None:
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=2, size=SIZE, prepare=model_mask) as (
        server,
        ids,
    ):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        paint_rect(page, (60, 60, 90, 90), SIZE, SIZE)  # the expert's correction: a lesion the model missed
        page.keyboard.press("Enter")
        expect(message(page)).to_have_text(f"mask saved for {ids[0]}")
        wait_shown(page, ids[1])
        page.keyboard.press("u")
        expect(message(page)).to_have_text(f"undone: {ids[0]}")
        wait_shown(page, ids[0])
        expect(page.locator("#mask-note")).to_contain_text("taken back")
        # the prediction box is about the mask drawn: not the model's "correct it, or N"
        expect(page.get_by_test_id("prediction")).to_have_text(
            "your mask taken back is shown (the model's is not)"
        )
        page.keyboard.press("Control+z")  # drops the taken-back mask as one stroke
        assert page.evaluate(PAINTED) == 0, "the model's proposal was left under the taken-back mask"
        page.context.close()


def test_an_answer_from_another_tab_is_named_before_this_tab_replaces_it(browser, tmp_path) -> None:
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=2, size=SIZE) as (server, ids):
        first = open_page(browser, server, "ann")
        wait_shown(first, ids[0])
        second = first.context.new_page()  # the same browser: the same person's cookie
        second.goto(f"{server.url}/")
        wait_shown(second, ids[0])
        paint_rect(second, (10, 10, 50, 50), SIZE, SIZE)  # work in the second tab, not saved yet
        paint_rect(first, (40, 40, 90, 90), SIZE, SIZE)
        first.keyboard.press("Enter")
        expect(message(first)).to_have_text(f"mask saved for {ids[0]}")
        expect(message(second)).to_contain_text(
            f"you answered {ids[0]} in another page of yours: saving here replaces that answer",
            timeout=15_000,
        )
        first.context.close()


def test_u_on_an_image_someone_else_took_meanwhile_says_so(browser, tmp_path) -> None:
    """Found: U took the answer back, but while the page asked for its image a colleague's page leased
    it: the page showed the next image and dropped the taken-back mask without a word."""
    with served(tmp_path, {"ann": "annotator", "bob": "annotator"}, task=SEG, n=3, size=SIZE) as (
        server,
        ids,
    ):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        paint_rect(page, (20, 20, 70, 60), SIZE, SIZE)
        page.keyboard.press("Enter")
        expect(message(page)).to_have_text(f"mask saved for {ids[0]}")
        wait_shown(page, ids[1])
        held = []
        page.route("**/api/queue?first=*", lambda route: held.append(route))
        page.keyboard.press("u")
        until(page, lambda: held, "undo's queue request")
        other = open_page(browser, server, "bob")  # bob's page leases the image freed by the undo
        wait_shown(other, ids[0])
        held[0].continue_()
        expect(message(page)).to_contain_text(f"{ids[0]} is taken back but not free for you now")
        expect(page.get_by_test_id("image-id")).not_to_have_text(ids[0])
        other.context.close()
        page.context.close()


def test_a_proposal_saved_untouched_is_recorded_as_accepted_not_drawn(browser, tmp_path) -> None:
    """Found: Enter over the model's mask proposal stored it as the expert's own drawing, with nothing to
    tell it from one they drew. The server now compares the mask saved with the proposal: equal pixel for
    pixel, the annotation records `accepted: "model v1"` and the history says so; one stroke more and it
    is the expert's drawing (none)."""
    from lesionlab.project import open_project

    def two_proposals(project, ids):
        model_mask(project, ids)
        mask = np.zeros((SIZE, SIZE), dtype=bool)
        mask[:48, :48] = True
        project.store_mask(ids[1], mask, "model v1", source="model")

    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=2, size=SIZE, prepare=two_proposals) as (
        server,
        ids,
    ):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        page.keyboard.press("Enter")
        expect(message(page)).to_have_text(f"mask saved for {ids[0]}")
        wait_shown(page, ids[1])
        paint_rect(page, (60, 60, 90, 90), SIZE, SIZE)  # corrects the proposal
        page.keyboard.press("Enter")
        expect(message(page)).to_have_text(f"mask saved for {ids[1]}")
        page.keyboard.press("u")
        wait_shown(page, ids[1])
        page.keyboard.press("Enter")  # the correction taken back, saved again: still drawn
        expect(message(page)).to_have_text(f"mask saved for {ids[1]}")
        page.context.close()
    with open_project(tmp_path / "proj") as project:
        mine = {}
        for e in (
            e for i in ids for e in project.store.history(i) if e["who"] == "ann" and e["action"] == "expert"
        ):
            mine.setdefault(e["annotation_id"], e)
        accepted = [e.get("accepted") for _, e in sorted(mine.items())]
    assert accepted == ["model v1", None, None]
