"""End to end in real headless Chromium (Debian's, driven by Playwright's Python client): open the page
with the token, name the annotator, label ten images with the number keys, undo one, review a flag, and
check the store. With LESIONLAB_UPDATE_SCREENSHOTS=1 the screenshots go to docs/images/ (docs/annotation.md
shows them); otherwise to the test's temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect, sync_playwright

from fake_isic import lesion_image
from lesionlab.project import init_project, open_project
from project_fixtures import CLASSES, TOKEN, Server, make_images

CHROMIUM_ENV = "LESIONLAB_TEST_CHROMIUM"
expect.set_options(timeout=30_000)  # generous: the shared CI machine can be slow to answer
DOC_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"


def chromium() -> str:
    wanted = os.environ.get(CHROMIUM_ENV)
    path = wanted or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        if wanted:
            pytest.fail(f"${CHROMIUM_ENV}={wanted} is not an executable browser")
        pytest.skip(f"the browser test needs /usr/bin/chromium (apt-get install chromium) or ${CHROMIUM_ENV}")
    return path


def test_label_ten_images_with_the_keyboard_undo_one_and_review(tmp_path: Path) -> None:
    executable = chromium()
    shots = DOC_IMAGES if os.environ.get("LESIONLAB_UPDATE_SCREENSHOTS") == "1" else tmp_path
    truth = make_images(tmp_path / "images", n=13, size=192)
    odd = tmp_path / "images" / "clinic a" / "lesion #7?.jpg"  # a sub-folder and characters URLs reserve
    odd.parent.mkdir()
    lesion_image(7, True, size=192).save(odd)
    truth["clinic a/lesion #7?"] = 1
    with init_project(tmp_path / "proj", tmp_path / "images", CLASSES, show_progress=False) as project:
        ids = project.store.image_ids()
        assert ids[0] == "clinic a/lesion #7?"  # first in the queue, so the first screenshot shows it
        project.store.add_round(
            "coreset", None, 12, 0, [(i, 1.0 - k / 20, None) for k, i in enumerate(ids[:12])]
        )
    server = Server(tmp_path / "proj", tmp_path / "server.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1100, "height": 720})
            page.set_default_timeout(30_000)
            page.goto(f"{server.url}/?token={TOKEN}")
            expect(page.locator("#need-name")).to_be_visible()
            page.fill("#annotator", "dr_ana")
            page.press("#annotator", "Tab")
            expect(page.locator("#work")).to_be_visible()
            expect(page.locator("#progress-text")).to_contain_text("0 of 12 proposed images labelled")
            page.wait_for_function("document.getElementById('image').naturalWidth > 0")
            page.screenshot(path=str(shots / "annotation_label.png"))
            labelled = []
            for _ in range(10):
                image_id = page.locator("#image-id").inner_text()
                page.keyboard.press(str(truth[image_id] + 1))
                expect(page.locator("#message")).to_have_text(f"{image_id}: {CLASSES[truth[image_id]]}")
                expect(page.locator("#image-id")).not_to_have_text(image_id)
                labelled.append(image_id)
            expect(page.locator("#progress-text")).to_contain_text("10 of 12 proposed images labelled")
            page.keyboard.press("u")
            expect(page.locator("#message")).to_have_text(f"undone: {labelled[-1]}")
            expect(page.locator("#image-id")).to_have_text(labelled[-1])  # back on screen to label again
            expect(page.locator("#progress-text")).to_contain_text("9 of 12 proposed images labelled")

            with open_project(tmp_path / "proj") as project:
                assert project.store.labels() == {i: truth[i] for i in labelled[:-1]}
                assert project.store.annotators() == {"dr_ana": 9}
                assert project.store.count_annotations() == {
                    "expert": 10
                }  # the undone one is kept, retracted
                flagged = labelled[0]
                project.store.add_flags(
                    [(flagged, 0.87, "a test flag: the page shows it for review", 1 - truth[flagged])]
                )
            page.click("#tab-review")
            expect(page.locator(".flag")).to_have_count(1)
            page.screenshot(path=str(shots / "annotation_review.png"))
            page.click(".flag button:has-text('Keep')")
            expect(page.locator("#flags")).to_contain_text("No labels waiting for review")
            browser.close()
    finally:
        server.stop()
    with open_project(tmp_path / "proj") as project:
        ((flag, image_id),) = project.store.flags()
        assert (image_id, flag.outcome, flag.reviewed_by) == (flagged, "keep", "dr_ana")
        assert project.store.get_label(flagged) == truth[flagged]


def test_draw_a_mask_with_the_brush_erase_part_and_save_it(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    executable = chromium()
    shots = DOC_IMAGES if os.environ.get("LESIONLAB_UPDATE_SCREENSHOTS") == "1" else tmp_path
    make_images(tmp_path / "images", n=3, size=192)
    with init_project(
        tmp_path / "proj",
        tmp_path / "images",
        ["background", "lesion"],
        task="segmentation",
        show_progress=False,
    ) as project:
        ids = project.store.image_ids()
        project.store.add_round("coreset", None, 3, 0, [(i, None, None) for i in ids])
    server = Server(tmp_path / "proj", tmp_path / "server.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1100, "height": 720})
            page.set_default_timeout(30_000)
            page.goto(f"{server.url}/?token={TOKEN}")
            page.fill("#annotator", "dr_bo")
            page.press("#annotator", "Tab")
            expect(page.locator("#mask-tools")).to_be_visible()
            expect(page.locator("#classes")).to_be_hidden()
            page.wait_for_function("document.getElementById('mask-canvas').width === 192")
            box = page.locator("#mask-canvas").bounding_box()
            x0, y0, w = box["x"], box["y"], box["width"]
            page.mouse.move(x0 + 0.3 * w, y0 + 0.5 * w)  # a horizontal stroke across the middle
            page.mouse.down()
            for k in range(11):
                page.mouse.move(x0 + (0.3 + 0.04 * k) * w, y0 + 0.5 * w)
            page.mouse.up()
            page.keyboard.press("e")  # erase its right end
            page.mouse.move(x0 + 0.7 * w, y0 + 0.5 * w)
            page.mouse.down()
            page.mouse.up()
            page.screenshot(path=str(shots / "annotation_mask.png"))
            first = page.locator("#image-id").inner_text()
            page.keyboard.press("Enter")
            expect(page.locator("#message")).to_have_text(f"mask saved for {first}")
            expect(page.locator("#image-id")).not_to_have_text(first)
            browser.close()
    finally:
        server.stop()
    with open_project(tmp_path / "proj") as project:
        mask = np.array(Image.open(project.mask_path(first)))
        assert [r.id for r in project.records(labelled_only=True)] == [first]  # what segmentation trains on
    assert mask.shape == (192, 192) and set(np.unique(mask)) == {0, 255}
    row = mask[96]
    assert row[int(0.4 * 192)] == 255 and row[int(0.55 * 192)] == 255  # painted
    assert row[int(0.7 * 192)] == 0 and row[int(0.15 * 192)] == 0 and mask[10, 96] == 0  # erased / untouched
