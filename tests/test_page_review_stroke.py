"""Second reading of issue 33's page, in headless Chromium: a brush stroke stores only what the pointer
passed over. When the view changes under a held stroke (+ or - zooms about the stage's centre, F goes to
one pixel per screen pixel, the window is resized), the image point under the resting pointer changes:
the stroke used to join the point before the change to the one after it with a straight line, painting
pixels the pointer never crossed.
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


def image_point(page, size: int, screen: tuple[float, float]) -> tuple[float, float]:
    place = placement(page, size, size)
    return (screen[0] - place.left) / place.scale, (screen[1] - place.top) / place.scale


# "+" three times zooms a small image about the stage's centre; F shows a large one at 1:1
@pytest.mark.parametrize(("change", "size"), [("+", 96), ("f", 1600)])
def test_a_view_change_under_a_held_stroke_paints_no_jump(browser, tmp_path, change, size) -> None:
    with served(tmp_path, {"ann": "annotator"}, task=SEG, n=1, size=size) as (server, ids):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        page.get_by_test_id("brush-size").fill("4")
        start = placement(page, size, size).screen(size * 0.13, size * 0.13)
        page.mouse.move(*start)
        page.mouse.down()
        rest = (start[0] + 30, start[1])
        page.mouse.move(*rest, steps=4)
        before = image_point(page, size, rest)
        for _ in range(3 if change == "+" else 1):
            page.keyboard.press(change)
        page.wait_for_timeout(500)
        after = image_point(page, size, rest)  # the image point now under the pointer that has not moved
        radius = 2 / placement(page, size, size).scale + 2 * size / 96  # the brush's, at most, and margin
        jump = np.hypot(after[0] - before[0], after[1] - before[1])
        assert jump > 4 * radius, f"the view change moved too little: {before} -> {after}"
        page.mouse.move(rest[0] + 3, rest[1], steps=2)
        page.mouse.up()
        page.keyboard.press("0")
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("message")).to_have_text(f"mask saved for {ids[0]}")
        page.context.close()
    mask = stored_mask(tmp_path / "proj", ids[0], "ann")
    mid = ((before[0] + after[0]) / 2, (before[1] + after[1]) / 2)  # halfway along the jump
    assert not mask[int(mid[1]), int(mid[0])], f"the stroke jumped across {mid} (the pointer never was there)"
    assert mask[int(before[1]), int(before[0])], "the stroke before the view change is stored"
    assert mask[int(after[1]), int(after[0])], "the stroke after the view change is stored"
