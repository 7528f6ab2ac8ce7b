"""Second reading of the page's brush (issue 33), in headless Chromium: a stroke stores only what its own
pointer passed over while its primary button (or finger, or pen tip) was down.

Found: the brush followed every pointer's moves, so a second finger (or a resting palm) joined its points
to the first finger's with straight lines across the image; after the left button was released while the
right or middle one was still held (no pointerup then: it waits for the last button), the hovering mouse
went on painting; and a pointer the system cancelled (palm rejection) kept the pixels it had painted.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect

from page_harness import launch_browser, open_page, placement, served, stored_mask, wait_shown

pytestmark = pytest.mark.slow

SEG = "segmentation"
SIZE = 96


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def on_line(mask: np.ndarray, a: tuple[float, float], b: tuple[float, float]) -> list[tuple[int, int]]:
    """The stored pixels on the middle three fifths of the segment a-b (image x, y)."""
    points = [(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t) for t in np.linspace(0.2, 0.8, 13)]
    return [(int(x), int(y)) for x, y in points if mask[int(y), int(x)]]


def save(page, image_id: str) -> None:
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("message")).to_have_text(f"mask saved for {image_id}")


def start(browser, server, image_id):
    page = open_page(browser, server, "ann")
    wait_shown(page, image_id)
    page.get_by_test_id("brush-size").fill("4")
    return page, placement(page, SIZE, SIZE), page.context.new_cdp_session(page)


def touch(cdp, kind: str, *points: tuple[float, float, int]) -> None:
    """One touch event (CDP Input.dispatchTouchEvent): every finger still down, as (x, y, id)."""
    cdp.send(
        "Input.dispatchTouchEvent",
        {"type": kind, "touchPoints": [{"x": x, "y": y, "id": i} for x, y, i in points]},
    )


def test_a_second_finger_neither_draws_nor_joins_the_stroke(browser, tmp_path) -> None:
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=1, size=SIZE) as (server, ids):
        page, place, cdp = start(browser, server, ids[0])
        a, a2, a3 = place.screen(10, 10), place.screen(20, 10), place.screen(30, 10)
        b, b2 = place.screen(80, 80), place.screen(80, 88)
        touch(cdp, "touchStart", (*a, 0))
        touch(cdp, "touchMove", (*a2, 0))
        touch(cdp, "touchStart", (*a2, 0), (*b, 1))  # a second finger lands far away
        touch(cdp, "touchMove", (*a3, 0), (*b2, 1))  # both move
        touch(cdp, "touchEnd")
        page.wait_for_timeout(200)
        save(page, ids[0])
        page.context.close()
    mask = stored_mask(tmp_path / "proj", ids[0], "ann")
    assert not on_line(mask, (80, 80), (30, 10)), "the fingers' points were joined across the image"
    assert not mask[78:, 75:].any(), "the second finger drew"
    assert mask[10, 10] and mask[10, 29], "the first finger's stroke is stored"


@pytest.mark.parametrize("other", ["right", "middle"])
def test_the_stroke_ends_when_its_button_is_released_under_another(browser, tmp_path, other) -> None:
    """Left down, right (or middle) down, left up: no pointerup comes (the right is still held); the mouse
    moving on with only the right button held must not paint."""
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=1, size=SIZE) as (server, ids):
        page, place, _ = start(browser, server, ids[0])
        page.mouse.move(*place.screen(10, 10))
        page.mouse.down()
        page.mouse.move(*place.screen(30, 10), steps=4)
        page.mouse.down(button=other)
        page.mouse.up()  # the left button: the stroke is over
        page.mouse.move(*place.screen(80, 80), steps=6)
        page.mouse.move(*place.screen(80, 88), steps=2)
        page.mouse.up(button=other)
        page.keyboard.press("Escape")  # a context menu, if any
        save(page, ids[0])
        page.context.close()
    mask = stored_mask(tmp_path / "proj", ids[0], "ann")
    assert not on_line(mask, (30, 10), (80, 80)), f"the mouse painted on after the left button ({other})"
    assert not mask[60:, 60:].any(), "pixels where the mouse only hovered"
    assert mask[10, 10] and mask[10, 29], "the stroke drawn with the left button is stored"


def test_a_cancelled_touch_takes_its_stroke_back(browser, tmp_path) -> None:
    """A pointer the system cancels (palm rejection) painted nothing anybody meant."""
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=1, size=SIZE) as (server, ids):
        page, place, cdp = start(browser, server, ids[0])
        page.mouse.move(*place.screen(10, 10))
        page.mouse.down()
        page.mouse.move(*place.screen(30, 10), steps=4)
        page.mouse.up()
        touch(cdp, "touchStart", (*place.screen(60, 60), 0))
        touch(cdp, "touchMove", (*place.screen(80, 80), 0))
        touch(cdp, "touchCancel")
        page.wait_for_timeout(200)
        save(page, ids[0])
        page.context.close()
    mask = stored_mask(tmp_path / "proj", ids[0], "ann")
    assert not mask[50:, 50:].any(), "the cancelled touch's pixels were stored"
    assert mask[10, 10] and mask[10, 29], "the mouse stroke is stored"


def test_ctrl_z_under_a_held_stroke_brings_nothing_back(browser, tmp_path) -> None:
    """Ctrl+Z pressed while a stroke is held undid the stroke before it under the one being drawn, whose
    own undo (taken before) then put the undone pixels back: a stroke the person undid was stored."""
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=1, size=SIZE) as (server, ids):
        page, place, _ = start(browser, server, ids[0])

        def stroke(a, b, hold=None):
            page.mouse.move(*place.screen(*a))
            page.mouse.down()
            page.mouse.move(*place.screen(*b), steps=6)
            if hold:
                hold()
                page.mouse.move(*place.screen(b[0], b[1] + 6), steps=3)
            page.mouse.up()

        stroke((10, 80), (40, 80))  # kept
        stroke((20, 20), (70, 20))  # undone below, while the next stroke is held
        stroke((45, 14), (45, 40), hold=lambda: page.keyboard.press("Control+z"))
        page.keyboard.press("Control+z")  # the held stroke
        page.keyboard.press("Control+z")  # and the one before it, if the held Ctrl+Z did nothing
        save(page, ids[0])
        page.context.close()
    mask = stored_mask(tmp_path / "proj", ids[0], "ann")
    assert not mask[:50].any(), "an undone stroke came back"
    assert mask[80, 10:40].all(), "the first stroke is stored"


@pytest.mark.parametrize("key", ["p", "e"])
def test_a_held_stroke_keeps_its_tool(browser, tmp_path, key) -> None:
    """The polygon tool (P) or the eraser (E) chosen under a held brush stroke applies from the next
    stroke: the rest of the held one erased (with P, an "eraser" nobody chose) the mask it crossed."""
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=1, size=SIZE) as (server, ids):
        page, place, _ = start(browser, server, ids[0])
        page.mouse.move(*place.screen(10, 50))
        page.mouse.down()
        page.mouse.move(*place.screen(80, 50), steps=8)
        page.mouse.up()
        page.mouse.move(*place.screen(45, 20))
        page.mouse.down()
        page.mouse.move(*place.screen(45, 35), steps=4)
        page.keyboard.press(key)
        page.mouse.move(*place.screen(45, 70), steps=8)
        page.mouse.up()
        page.keyboard.press("b")
        save(page, ids[0])
        page.context.close()
    mask = stored_mask(tmp_path / "proj", ids[0], "ann")
    assert mask[50, 12:78].all(), f"the held stroke erased the mask it crossed after {key!r}"
    assert mask[22:68, 45].all(), "the held stroke is stored whole"


def test_a_stroke_whose_pointer_capture_is_lost_ends(browser, tmp_path) -> None:
    """A stroke ends when its pointer's capture is lost (the pointer then lifted elsewhere): a touch's
    lost release left the stroke open, and every later touch (a new pointer) was ignored as a second one."""
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=1, size=SIZE) as (server, ids):
        page, place, cdp = start(browser, server, ids[0])
        page.evaluate(
            "window._ids = []; document.getElementById('mask-canvas')"
            ".addEventListener('pointerdown', (e) => window._ids.push(e.pointerId))"
        )
        touch(cdp, "touchStart", (*place.screen(10, 10), 0))
        touch(cdp, "touchMove", (*place.screen(30, 10), 0))
        page.evaluate("document.getElementById('mask-canvas').releasePointerCapture(window._ids.at(-1))")
        side = page.get_by_test_id("progress").bounding_box()
        touch(cdp, "touchMove", (side["x"] + 5, side["y"] + 5, 0))
        touch(cdp, "touchEnd")  # lifted over the side panel: the canvas never hears of it
        touch(cdp, "touchStart", (*place.screen(10, 70), 1))
        touch(cdp, "touchMove", (*place.screen(40, 70), 1))
        touch(cdp, "touchEnd")
        page.wait_for_timeout(200)
        save(page, ids[0])
        page.context.close()
    mask = stored_mask(tmp_path / "proj", ids[0], "ann")
    assert mask[70, 12:38].all(), "the next touch drew nothing"
    assert mask[10, 10] and mask[10, 29], "the first stroke is stored"


SLOW_DECODE = """() => {
window._slowDecode = false;
const decode = window.createImageBitmap.bind(window);
window.createImageBitmap = async (...args) => {
  const bitmap = await decode(...args);
  if (window._slowDecode) await new Promise((done) => setTimeout(done, 1500));
  return bitmap;
};
}"""


def test_a_stroke_begun_while_a_taken_back_mask_decodes_is_kept(browser, tmp_path) -> None:
    """U brings a saved mask back onto the canvas; it was pasted after the image became actionable, so a
    stroke begun while the mask still decoded (a large mask, a slow machine) was painted over by it."""
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=2, size=SIZE) as (server, ids):
        page, place, _ = start(browser, server, ids[0])
        page.evaluate(SLOW_DECODE)
        page.mouse.move(*place.screen(10, 80))
        page.mouse.down()
        page.mouse.move(*place.screen(40, 80), steps=6)
        page.mouse.up()
        save(page, ids[0])
        wait_shown(page, ids[1])
        page.evaluate("window._slowDecode = true")  # the taken-back mask takes 1.5 s to decode
        page.keyboard.press("u")
        wait_shown(page, ids[0])  # actionable: a stroke now is the person's
        page.mouse.move(*place.screen(10, 20))
        page.mouse.down()
        page.mouse.move(*place.screen(40, 20), steps=6)
        page.mouse.up()
        page.wait_for_timeout(1800)
        save(page, ids[0])
        page.context.close()
    mask = stored_mask(tmp_path / "proj", ids[0], "ann")
    assert mask[20, 12:38].all(), "the stroke drawn on the taken-back image was painted over"
    assert mask[80, 12:38].all(), "the taken-back mask is there"
