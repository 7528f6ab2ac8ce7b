"""Second reading of issue 33's page, in headless Chromium: in a segmentation project the prediction box
says what the model predicted for the image on screen (its mask, drawn on the image, with the model
version that made it and how much of the image it marks), where it said "no model prediction yet" while
the model's mask was on the canvas; an image without a model mask still says there is none.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect

from page_harness import launch_browser, open_page, served, wait_shown

pytestmark = pytest.mark.slow

SIZE = 96


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def model_mask(project, ids: list[str]) -> None:
    """The model (version 3) proposes a mask for the first image only: a quarter of it."""
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[:48, :48] = True
    project.store_mask(ids[0], mask, "model v3", source="model")


def test_a_segmentation_page_shows_the_model_mask_prediction_and_its_version(browser, tmp_path) -> None:
    people = {"ann": "annotator"}
    with served(tmp_path, people, task="segmentation", n=2, prepare=model_mask) as (server, ids):
        page = open_page(browser, server, "ann")
        box = page.get_by_test_id("prediction")
        wait_shown(page, ids[0])
        expect(box).to_contain_text("model v3")
        expect(box).to_contain_text("mask")
        expect(box).to_contain_text("25 % of the image")
        expect(box).not_to_contain_text("no model prediction yet")
        page.keyboard.press("Enter")  # the expert accepts it as it is
        expect(page.get_by_test_id("message")).to_have_text(f"mask saved for {ids[0]}")
        wait_shown(page, ids[1])
        expect(box).to_have_text("no model prediction yet")
        page.context.close()
