"""A clear "nothing for you now" (issue 33): the page said "every proposed image is labelled" after a skip
while 2 of 3 (29 of 30 in the issue) were done. The server now says why the queue is empty
(tests/test_page_view_queue.py); here the page shows it: the skipped images with a button that brings
them back, then "waiting for the next proposals" once everything proposed is done.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect

from page_harness import launch_browser, open_page, served, wait_shown
from page_view_shots import shot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def propose_three_of_four(project, ids) -> None:
    """The fixture proposed every image; make it 3 of 4, so one waits for the next proposals."""
    from sqlalchemy import delete

    from lesionlab.project.models import Proposal, ProposalRound

    with project.store.session() as s:
        s.execute(delete(Proposal))
        s.execute(delete(ProposalRound))
    project.store.add_round("coreset", None, 3, 0, [(i, None, None) for i in ids[:3]])


def test_after_a_skip_the_page_says_skipped_and_offers_them_again(browser, tmp_path: Path) -> None:
    with served(tmp_path, {"ana": "annotator"}, n=4, prepare=propose_three_of_four) as (server, ids):
        page = open_page(browser, server, "ana")
        for image_id in ids[:2]:
            wait_shown(page, image_id)
            page.keyboard.press("1")
            expect(page.get_by_test_id("message")).to_have_text(f"{image_id}: other")
        wait_shown(page, ids[2])
        page.keyboard.press("s")
        empty = page.get_by_test_id("empty")
        expect(empty).to_be_visible()
        expect(empty).to_contain_text("you skipped 1 image still waiting")
        expect(empty).not_to_contain_text("every proposed image")
        expect(page.get_by_test_id("progress")).to_contain_text("2 of 3 proposed images annotated")
        shot(page.locator("#label-view"), tmp_path, "empty")
        page.get_by_test_id("revisit-skipped").click()
        wait_shown(page, ids[2])
        page.keyboard.press("2")
        expect(empty).to_contain_text("All 3 proposed images are done")
        expect(empty).to_contain_text("1 image waits for the next proposals")
        page.context.close()
