"""Second reading of issue 33's page, in headless Chromium: closing the `?` overlay with Esc gives the keys
back to the page at once. The overlay's Close button kept the focus until the browser's next rendering
update noticed it was hidden; an Enter pressed right after Esc (on a busy machine, often) went to that
hidden button and was lost: the mask was not saved, and nothing was said.
"""

from __future__ import annotations

import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect

from page_harness import launch_browser, open_page, paint_rect, served, wait_shown

pytestmark = pytest.mark.slow

FOCUSED_IN_HELP = "document.getElementById('help').contains(document.activeElement)"


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def test_esc_closing_the_help_overlay_gives_the_keys_back_at_once(browser, tmp_path) -> None:
    with served(tmp_path, {"ann": "annotator"}, task="segmentation", n=1) as (server, ids):
        page = open_page(browser, server, "ann")
        wait_shown(page, ids[0])
        paint_rect(page, (20, 20, 70, 60), 96, 96)
        for _ in range(12):  # the race: half the time, without the fix, on this machine
            page.keyboard.press("?")
            expect(page.get_by_test_id("help")).to_be_visible()
            page.keyboard.press("Escape")
            assert not page.evaluate(FOCUSED_IN_HELP), "the hidden overlay still holds the keys"
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("message")).to_have_text(f"mask saved for {ids[0]}")
        page.context.close()
