"""Second reading of who an answer is credited to (issue 33), in headless Chromium: one browser, two people.

A personal link sets the browser's cookie, and every tab of that browser sends it. Found: alice works in
one tab; bob opens his link in another tab of the same browser (a shared clinic workstation, or an admin
checking a colleague's link); alice's tab still says "signed in as alice", but her next label or mask was
stored as bob's. Now a page sends the name it was opened as, and the server refuses a request whose
cookie is someone else's, saying so, before anything is stored; her drawing stays on screen.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect

from page_harness import expert, launch_browser, paint_rect, served, stored_mask, wait_shown

pytestmark = pytest.mark.slow

PEOPLE = {"alice": "annotator", "bob": "annotator"}


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def two_tabs(browser, server):
    """alice's tab, then bob's link opened in another tab of the same browser (one cookie jar)."""
    context = browser.new_context(viewport={"width": 1100, "height": 720})
    alice = context.new_page()
    alice.goto(f"{server.url}/?token={server.tokens['alice']}")
    expect(alice.get_by_test_id("whoami")).to_contain_text("signed in as alice")
    wait_shown(alice)
    bob = context.new_page()
    bob.goto(f"{server.url}/?token={server.tokens['bob']}")
    expect(bob.get_by_test_id("whoami")).to_contain_text("signed in as bob")
    alice.bring_to_front()
    return context, alice


def test_a_label_from_alices_tab_is_never_stored_as_bobs(browser, tmp_path) -> None:
    with served(tmp_path, PEOPLE, n=2) as (server, _ids):
        context, alice = two_tabs(browser, server)
        image = alice.get_by_test_id("image-id").inner_text()
        alice.keyboard.press("1")
        expect(alice.get_by_test_id("message")).to_contain_text("opened as 'alice'")
        expect(alice.get_by_test_id("message")).to_contain_text("signed in as 'bob'")
        expect(alice.get_by_test_id("image-id")).to_have_text(image)  # still on screen, to save later
        context.close()
        assert expert(tmp_path / "proj") == [], "alice's label was stored (as bob's)"


def test_a_mask_from_alices_tab_is_never_stored_as_bobs(browser, tmp_path) -> None:
    with served(tmp_path, PEOPLE, task="segmentation", n=1, size=96) as (server, ids):
        context, alice = two_tabs(browser, server)
        drawn = paint_rect(alice, (20, 20, 60, 60), 96, 96)
        alice.keyboard.press("Enter")
        expect(alice.get_by_test_id("message")).to_contain_text("signed in as 'bob'")
        assert not alice.get_by_test_id("canvas-undo").is_disabled(), "alice's drawing was dropped"
        # alice opens her own link again (in the other tab): her drawing is saved as hers
        other = context.pages[1]
        other.goto(f"{server.url}/?token={server.tokens['alice']}")
        alice.bring_to_front()
        alice.keyboard.press("Enter")
        expect(alice.get_by_test_id("message")).to_have_text(f"mask saved for {ids[0]}")
        context.close()
        assert stored_mask(tmp_path / "proj", ids[0], "bob") is None
        mine = stored_mask(tmp_path / "proj", ids[0], "alice")
        assert mine is not None and np.logical_and(mine, drawn).sum() > 0.8 * drawn.sum()
