"""Third reading of the page's mask tools (issue 33), in headless Chromium with real mouse and keys: what is
stored is only what the expert drew, saw and finished.

Found: a double-click on the polygon's first vertex closed it with its first click and began a new outline
with its second, whose stray vertex became a corner of the next polygon (pixels nobody outlined); Enter
under a held stroke saved the half drawn so far and moved on while the hand was still drawing; hiding the
overlay (O) under a held stroke went on painting an invisible mask; leaving the tab under a held stroke and
coming back with the button still down joined the last point to the pointer's new place by a straight line.
The polygon tool took a vertex from every pointer: a second finger or a resting palm landing while a
vertex was tapped became a corner of the outline, and a touch the system cancelled kept its vertex.
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


def message(page):
    return page.get_by_test_id("message")


def save(page, image_id: str) -> None:
    page.keyboard.press("Enter")
    expect(message(page)).to_have_text(f"mask saved for {image_id}")


def start(browser, server, image_id: str):
    page = open_page(browser, server, "ann")
    wait_shown(page, image_id)
    page.get_by_test_id("brush-size").fill("4")
    return page, placement(page, SIZE, SIZE)


def click_at(page, place, points) -> None:
    for x, y in points:
        page.mouse.click(*place.screen(x + 0.5, y + 0.5))


def test_a_double_click_on_the_first_vertex_leaves_no_stray_vertex(browser, tmp_path) -> None:
    first = [(10, 10), (40, 10), (40, 40)]
    second = [(60, 60), (85, 60), (85, 85), (60, 85)]
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=1, size=SIZE) as (server, ids):
        page, place = start(browser, server, ids[0])
        page.keyboard.press("p")
        click_at(page, place, first)
        page.mouse.dblclick(*place.screen(first[0][0] + 0.5, first[0][1] + 0.5))  # closes it
        outline = page.locator("#polygon-overlay polyline")
        assert not outline.get_attribute("points"), "the double-click's second click began a new outline"
        click_at(page, place, second)
        page.mouse.dblclick(*place.screen(second[0][0] + 0.5, second[0][1] + 0.5))
        save(page, ids[0])
        page.context.close()
    mask = stored_mask(tmp_path / "proj", ids[0], "ann")
    assert not mask[58:62, 48:52].any(), "pixels between the two outlines (a stray vertex's corner)"
    assert mask[12, 30] and mask[70, 70], "both polygons are stored"


def test_enter_under_a_held_stroke_saves_nothing_until_it_ends(browser, tmp_path) -> None:
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=2, size=SIZE) as (server, ids):
        page, place = start(browser, server, ids[0])
        page.mouse.move(*place.screen(10, 50))
        page.mouse.down()
        page.mouse.move(*place.screen(40, 50), steps=6)
        page.keyboard.press("Enter")
        expect(message(page)).to_contain_text("finish the stroke")
        page.mouse.move(*place.screen(80, 50), steps=8)
        page.mouse.up()
        expect(page.get_by_test_id("image-id")).to_have_text(ids[0])
        save(page, ids[0])
        page.context.close()
    mask = stored_mask(tmp_path / "proj", ids[0], "ann")
    assert mask[50, 12:78].all(), "the stroke is stored whole"


def test_hiding_the_overlay_ends_the_held_stroke(browser, tmp_path) -> None:
    """While the overlay is hidden nothing can be drawn on it (docs/annotation.md), held stroke or not."""
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=1, size=SIZE) as (server, ids):
        page, place = start(browser, server, ids[0])
        page.mouse.move(*place.screen(10, 50))
        page.mouse.down()
        page.mouse.move(*place.screen(40, 50), steps=6)
        page.keyboard.press("o")  # hidden: the rest of the drag is not seen
        page.mouse.move(*place.screen(80, 50), steps=8)
        page.mouse.move(*place.screen(80, 85), steps=8)
        page.mouse.up()
        page.keyboard.press("o")
        save(page, ids[0])
        page.context.close()
    mask = stored_mask(tmp_path / "proj", ids[0], "ann")
    assert mask[50, 12:38].all(), "the stroke drawn while the overlay showed is stored"
    assert not mask[:, 50:].any(), "pixels painted while the overlay was hidden"


def test_a_hidden_overlay_is_not_saved_unseen(browser, tmp_path) -> None:
    """Enter with the overlay hidden stored a mask the expert could not see (the model's, or an old one)."""
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=1, size=SIZE) as (server, ids):
        page, place = start(browser, server, ids[0])
        page.mouse.move(*place.screen(10, 50))
        page.mouse.down()
        page.mouse.move(*place.screen(40, 50), steps=6)
        page.mouse.up()
        page.keyboard.press("o")
        page.keyboard.press("Enter")
        expect(message(page)).to_contain_text("the mask is hidden")
        page.keyboard.press("o")
        save(page, ids[0])
        page.context.close()


# Headless Chromium keeps every tab visible and focused: the browser's own events are sent as it sends them.
LEAVE = {
    "tab": "Object.defineProperty(document, 'hidden', {value: true, configurable: true});"
    "document.dispatchEvent(new Event('visibilitychange'));"
    "delete document.hidden; document.dispatchEvent(new Event('visibilitychange'))",
    "blur": "window.dispatchEvent(new FocusEvent('blur')); window.dispatchEvent(new FocusEvent('focus'))",
}


@pytest.mark.parametrize("leave", sorted(LEAVE))
def test_leaving_the_page_ends_the_held_stroke(browser, tmp_path, leave) -> None:
    """Another tab brought to the front (or the window losing focus) under a held stroke, and the pointer
    back elsewhere with the button still down: the stroke joined its last point to the new place."""
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=1, size=SIZE) as (server, ids):
        page, place = start(browser, server, ids[0])
        page.mouse.move(*place.screen(10, 20))
        page.mouse.down()
        page.mouse.move(*place.screen(40, 20), steps=6)
        page.evaluate(LEAVE[leave])  # left, and back
        page.mouse.move(*place.screen(80, 80), steps=1)  # the pointer is elsewhere, button still down
        page.mouse.move(*place.screen(85, 80), steps=2)
        page.mouse.up()
        save(page, ids[0])
        page.context.close()
    mask = stored_mask(tmp_path / "proj", ids[0], "ann")
    assert mask[20, 12:38].all(), "the stroke before leaving is stored"
    line = [(int(40 + 40 * t), int(20 + 60 * t)) for t in np.linspace(0.2, 0.8, 13)]
    assert not any(mask[y, x] for x, y in line), "a line the pointer never drew, across the image"
    assert not mask[75:, 75:].any(), "the stroke went on after the page was left"


def touch(cdp, kind: str, *points: tuple[float, float, int]) -> None:
    """One touch event (CDP Input.dispatchTouchEvent): every finger still down, as (x, y, id)."""
    cdp.send(
        "Input.dispatchTouchEvent",
        {"type": kind, "touchPoints": [{"x": x, "y": y, "id": i} for x, y, i in points]},
    )


def test_a_polygon_takes_vertices_from_one_pointer_at_a_time(browser, tmp_path) -> None:
    triangle = [(10, 10), (60, 10), (60, 60)]
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=1, size=SIZE) as (server, ids):
        page, place = start(browser, server, ids[0])
        cdp = page.context.new_cdp_session(page)
        page.keyboard.press("p")
        v1, v2, v3 = (place.screen(x + 0.5, y + 0.5) for x, y in triangle)
        palm, other = place.screen(15, 88), place.screen(85, 85)
        touch(cdp, "touchStart", (*v1, 0))
        touch(cdp, "touchEnd")
        page.wait_for_timeout(100)
        touch(cdp, "touchStart", (*v2, 0))
        touch(cdp, "touchStart", (*v2, 0), (*palm, 1))  # a palm lands while the vertex is tapped
        touch(cdp, "touchEnd")
        page.wait_for_timeout(100)
        touch(cdp, "touchStart", (*other, 2))  # the system takes this touch: no vertex meant
        touch(cdp, "touchCancel")
        page.wait_for_timeout(100)
        touch(cdp, "touchStart", (*v3, 3))
        touch(cdp, "touchEnd")
        page.wait_for_timeout(200)
        points = page.locator("#polygon-overlay polyline").get_attribute("points").split()
        page.keyboard.press("Enter")  # closes the outline; the next Enter saves
        save(page, ids[0])
        page.context.close()
    assert len(points) == 3, f"vertices from other pointers: {points}"
    mask = stored_mask(tmp_path / "proj", ids[0], "ann")
    assert not mask[64:].any(), "pixels outlined by a palm or a cancelled touch"
    assert mask[12, 55] and mask[55, 58], "the triangle tapped is stored"


def test_a_double_click_adds_its_vertex_once(browser, tmp_path) -> None:
    """The second press of a double-click a few pixels from its first (a hand's jitter) added the vertex
    again: with one vertex placed, a double-click closed a sliver polygon nobody outlined."""
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=1, size=SIZE) as (server, ids):
        page, place = start(browser, server, ids[0])
        page.keyboard.press("p")
        click_at(page, place, [(10, 10)])
        x, y = place.screen(80.5, 60.5)
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.up()
        page.mouse.move(x + 6, y)
        page.mouse.down(click_count=2)
        page.mouse.up(click_count=2)
        expect(message(page)).to_contain_text("(2 vertices placed)")  # the double-click's one, once
        page.keyboard.press("Escape")
        expect(page.get_by_test_id("save")).to_be_enabled()
        page.keyboard.press("Enter")
        expect(message(page)).to_contain_text("the mask is empty")
        page.context.close()


def test_a_held_stroke_ends_when_the_help_overlay_covers_the_canvas(browser, tmp_path) -> None:
    """? pressed under a held stroke: the stroke went on painting under the overlay, unseen."""
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=1, size=SIZE) as (server, ids):
        page, place = start(browser, server, ids[0])
        page.mouse.move(*place.screen(10, 20))
        page.mouse.down()
        page.mouse.move(*place.screen(40, 20), steps=6)
        page.keyboard.press("?")
        expect(page.get_by_test_id("help")).to_be_visible()
        page.mouse.move(*place.screen(40, 85), steps=8)
        page.mouse.up()
        page.keyboard.press("Escape")
        save(page, ids[0])
        page.context.close()
    mask = stored_mask(tmp_path / "proj", ids[0], "ann")
    assert mask[20, 12:38].all(), "the stroke drawn in sight is stored"
    assert not mask[30:].any(), "the stroke went on under the overlay"
