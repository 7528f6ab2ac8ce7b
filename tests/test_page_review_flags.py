"""Second reading of the Review tab (issue 33), in headless Chromium: a decision on an audit flag is made
on the label it showed. Found: two flags on one image (two audit runs); reviewer rita changed the label
through the first; rev, whose tab still showed the old label, kept it through the second: "label kept"
was recorded for a label that was no longer the image's, and a Change there would have silently overruled
rita's decision. The page now sends the label it showed and the server refuses a decision made on a
label that changed since (409), as the Adjudicate tab does with the answers it showed.
"""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect

from page_harness import launch_browser, open_page, served

pytestmark = pytest.mark.slow

PEOPLE = {"alice": "annotator", "rev": "reviewer", "rita": "reviewer"}


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def test_a_flag_decided_on_a_label_changed_since_is_refused(browser, tmp_path) -> None:
    def prepare(project, ids):
        project.store.add_annotation(ids[0], 0, "alice")  # "other"
        project.store.add_flags([(ids[0], 0.9, "first audit", 1), (ids[0], 0.8, "second audit", 1)])

    with served(tmp_path, PEOPLE, n=2, prepare=prepare) as (server, _ids):
        page = open_page(browser, server, "rev")
        page.get_by_test_id("tab-review").click()
        expect(page.get_by_test_id("flag")).to_have_count(2)
        expect(page.get_by_test_id("flag").nth(1)).to_contain_text("labelled other")
        first = httpx.get(f"{server.url}/api/flags", headers=server.auth(server.tokens["rita"]))
        flag_ids = [f["id"] for f in first.json()["flags"]]
        changed = httpx.post(
            f"{server.url}/api/flags/{flag_ids[0]}/review",
            json={"outcome": "change", "label": "melanoma"},
            headers=server.auth(server.tokens["rita"]),
        )
        assert changed.status_code == 200, changed.text
        page.get_by_test_id("flag").nth(1).get_by_role("button", name="Keep").click()
        message = page.get_by_test_id("message")
        expect(message).to_contain_text("(409)")
        expect(message).to_contain_text("is now melanoma, not the other you were shown")
        expect(page.get_by_test_id("flag")).to_have_count(1)  # reloaded: the flag left, showing melanoma
        expect(page.get_by_test_id("flag")).to_contain_text("labelled melanoma")
        page.context.close()
        flags = httpx.get(
            f"{server.url}/api/flags?pending=false", headers=server.auth(server.tokens["rita"])
        ).json()["flags"]
        assert {f["id"]: f["outcome"] for f in flags} == {flag_ids[0]: "change", flag_ids[1]: None}
