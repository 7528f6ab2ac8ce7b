"""The keyboard help overlay (issue 33: `?` lists every key the page has), from keys.js's one table:

- `?` opens it, it lists exactly the table's entries that apply to this project (the page's own module
  is imported in the browser and compared), Escape closes it, and while it is open no key acts;
- no static module other than keys.js reads a key from an event, so no key can act without being listed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect

from page_harness import launch_browser, open_page, served, wait_shown
from page_view_shots import shot

pytestmark = pytest.mark.slow

STATIC = Path(__file__).resolve().parents[1] / "src" / "lesionlab" / "project" / "static"
# reading which key was pressed: event.key / e.code / ev.keyCode / .which ...
READS_KEY = re.compile(r"\b(?:event|e|ev|evt)\.(?:key|code|keyCode|which|charCode)\b")


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def test_only_keys_js_reads_keys() -> None:
    readers = {p.name for p in STATIC.glob("*.js") if READS_KEY.search(p.read_text())}
    assert readers == {"keys.js"}, f"keys handled outside the one table (missing from the help): {readers}"
    listeners = {
        p.name for p in STATIC.glob("*.js") if re.search(r"""["']key(?:down|up|press)["']""", p.read_text())
    }
    assert listeners <= {"app.js"}, f"key listeners outside app.js: {listeners}"


def listed(page) -> list[tuple[str, str]]:
    return [
        (dt.inner_text(), dt.evaluate("n => n.nextElementSibling.textContent"))
        for dt in page.get_by_test_id("help-key").all()
    ]


@pytest.mark.parametrize("task", ["segmentation", "classification"])
def test_question_mark_lists_every_key_of_the_table(browser, tmp_path: Path, task: str) -> None:
    with served(tmp_path, {"ana": "annotator"}, task=task, n=2) as (server, ids):
        page = open_page(browser, server, "ana", width=1200, height=800)
        wait_shown(page, ids[0])
        page.keyboard.press("?")
        expect(page.get_by_test_id("help")).to_be_visible()
        table = page.evaluate(
            """async () => (await import("/static/keys.js")).KEYS
                .filter((e) => e.when()).map((e) => [e.label, e.does])"""
        )
        assert sorted(listed(page)) == sorted(map(tuple, table))  # grouped, so in another order
        labels = {label for label, _ in listed(page)}
        wanted = {"?", "S", "U", "+", "-", "0", "F", "Space", "wheel"}
        wanted |= {"Enter", "N", "B", "E", "H", "Ctrl+Z"} if task == "segmentation" else {"1", "2"}
        assert wanted <= labels, wanted - labels
        if task == "segmentation":
            shot(page.locator("#help .panel"), tmp_path, "help")
        page.keyboard.press("s")  # the overlay is modal: no skip behind it
        page.keyboard.press("Escape")
        expect(page.get_by_test_id("help")).to_be_hidden()
        expect(page.get_by_test_id("image-id")).to_have_text(ids[0])
        page.get_by_test_id("help-open").click()
        expect(page.get_by_test_id("help")).to_be_visible()
        page.keyboard.press("?")
        expect(page.get_by_test_id("help")).to_be_hidden()
        page.context.close()
