"""End to end in real headless Chromium (Debian's, driven by Playwright's Python client): a reviewer opens
her personal link (the token leaves the address bar at once), labels ten images with the number keys,
undoes one, reviews a flag, and the store agrees; a mask is drawn with the brush, partly erased and saved.
With LESIONLAB_UPDATE_SCREENSHOTS=1 the screenshots go to docs/images/ (docs/annotation.md shows them);
otherwise to the test's temporary folder. The faults of issue 30 each have their own test in
tests/test_page_*.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect

from fake_isic import lesion_image
from lesionlab.project import open_project
from page_harness import launch_browser, open_page, served, shots_dir, wait_shown
from project_fixtures import CLASSES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def test_label_ten_images_with_the_keyboard_undo_one_and_review(browser, tmp_path: Path) -> None:
    def add_odd_image(folder: Path) -> None:  # a sub-folder and characters URLs reserve
        odd = folder / "clinic a" / "lesion #7?.jpg"
        odd.parent.mkdir()
        lesion_image(7, True, size=96).save(odd)

    truth = {f"img_{k:03d}": int(k % 2 == 0) for k in range(11)} | {"clinic a/lesion #7?": 1}
    with served(tmp_path, {"dr_ana": "reviewer"}, n=11, more_images=add_odd_image) as (server, ids):
        assert ids[0] == "clinic a/lesion #7?"  # first in the queue
        page = open_page(browser, server, "dr_ana")
        expect(page).to_have_url(f"{server.url}/")  # the token is gone from the address bar
        expect(page.get_by_test_id("progress")).to_contain_text("0 of 12 proposed images annotated")
        labelled = []
        for _ in range(10):
            image_id = wait_shown(page)
            page.keyboard.press(str(truth[image_id] + 1))
            expect(page.get_by_test_id("message")).to_have_text(f"{image_id}: {CLASSES[truth[image_id]]}")
            labelled.append(image_id)
        expect(page.get_by_test_id("progress")).to_contain_text("10 of 12 proposed images annotated")
        page.keyboard.press("u")
        expect(page.get_by_test_id("message")).to_have_text(f"undone: {labelled[-1]}")
        wait_shown(page, labelled[-1])  # back on screen to label again
        expect(page.get_by_test_id("progress")).to_contain_text("9 of 12 proposed images annotated")
        expect(page.get_by_test_id("mine")).to_contain_text("you: 9 annotations")

        with open_project(server.project_dir) as project:
            assert project.store.labels() == {i: truth[i] for i in labelled[:-1]}
            assert project.store.annotators() == {"dr_ana": 9}
            assert project.store.count_annotations() == {"expert": 10}  # the undone one kept, retracted
            flagged = labelled[0]
            project.store.add_flags(
                [(flagged, 0.87, "a test flag: the page shows it for review", 1 - truth[flagged])]
            )
        page.get_by_test_id("tab-review").click()
        expect(page.get_by_test_id("flag")).to_have_count(1)
        page.wait_for_function("[...document.images].every((i) => i.complete)")
        page.screenshot(path=str(shots_dir(tmp_path) / "annotation_review.png"))
        page.get_by_test_id("flag").get_by_role("button", name="Keep").click()
        expect(page.locator("#flags")).to_contain_text("No labels waiting for review")
        page.context.close()
    with open_project(tmp_path / "proj") as project:
        ((flag, image_id),) = project.store.flags()
        assert (image_id, flag.outcome, flag.reviewed_by) == (flagged, "keep", "dr_ana")
        assert project.store.labels()[flagged] == truth[flagged]


def test_draw_a_mask_with_the_brush_erase_part_and_save_it(browser, tmp_path: Path) -> None:
    import numpy as np

    from page_harness import stored_mask

    size = 96
    with served(tmp_path, {"dr_bo": "annotator"}, task="segmentation", n=3, size=size) as (server, _ids):
        page = open_page(browser, server, "dr_bo")
        expect(page.get_by_test_id("save")).to_be_visible()
        expect(page.locator("#classes")).to_be_hidden()
        first = wait_shown(page)
        box = page.get_by_test_id("image").bounding_box()  # a square image in a wider stage
        scale = min(box["width"], box["height"]) / size
        x0 = box["x"] + (box["width"] - size * scale) / 2
        y0 = box["y"] + (box["height"] - size * scale) / 2

        def at(x: float, y: float) -> tuple[float, float]:
            return x0 + x * scale, y0 + y * scale

        page.mouse.move(*at(0.3 * size, 0.5 * size))  # a horizontal stroke across the middle
        page.mouse.down()
        page.mouse.move(*at(0.7 * size, 0.5 * size), steps=10)
        page.mouse.up()
        page.keyboard.press("e")  # erase its right end
        page.mouse.move(*at(0.7 * size, 0.5 * size))
        page.mouse.down()
        page.mouse.up()
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("message")).to_have_text(f"mask saved for {first}")
        expect(page.get_by_test_id("image-id")).not_to_have_text(first)
        page.context.close()
        mask = stored_mask(server.project_dir, first, "dr_bo")
        with open_project(server.project_dir) as project:
            assert [r.id for r in project.records(labelled_only=True)] == [first]  # what training reads
    assert mask.shape == (size, size)
    row = mask[size // 2]
    assert row[int(0.4 * size)] and row[int(0.55 * size)]  # painted
    assert not row[int(0.7 * size)] and not row[int(0.15 * size)] and not mask[5, size // 2]  # erased / not
    assert np.count_nonzero(mask) > 0
