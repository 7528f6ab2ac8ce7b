"""Looking at the image never changes what is stored (issue 33, "the page experts expect": zoom and pan,
brightness and contrast, full resolution), through real wheel, mouse and keys in headless Chromium:

- the wheel zooms about the pointer (the image pixel under it stays under it); a drag with the middle
  button, with Space held or with the hand tool (H) pans and draws nothing; `0` fits again;
- brightness and contrast are a filter on the <img> alone: after zooming and brightening, a painted
  rectangle is stored exactly as the canvas holds it (pixel for pixel) and as intended (IoU), and the
  image the server sends is byte for byte what it sent before;
- full resolution (F or 1:1) shows one image pixel per CSS pixel, and a large image sent as JPEG is
  swapped for the same pixels losslessly (the decoded pixels equal `open_rgb`'s).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect

from page_harness import (
    iou,
    launch_browser,
    open_page,
    paint_rect,
    placement,
    served,
    stored_mask,
    wait_shown,
)
from page_view_shots import shot, smooth_lesions

pytestmark = pytest.mark.slow

SEG = "segmentation"
SIZE = 480  # larger than the stage at fit in one direction, so 1:1 zooms in


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def zoom_percent(page) -> int:
    return int(page.get_by_test_id("zoom-level").input_value().split()[0])


def scroll(page) -> tuple[float, float]:
    return tuple(page.eval_on_selector("#stage", "s => [s.scrollLeft, s.scrollTop]"))


def served_digest(page, image_id: str, full: bool = False) -> str:
    """SHA-256 of the image bytes the server sends now (fetched by the page, with its cookie)."""
    data = page.evaluate(
        """async ([id, full]) => {
            const r = await fetch(`/api/images/${id}` + (full ? "?full=1" : ""));
            return Array.from(new Uint8Array(await r.arrayBuffer()));
        }""",
        [image_id, full],
    )
    return hashlib.sha256(bytes(data)).hexdigest()


def canvas_mask(page) -> np.ndarray:
    """What the mask canvas holds (alpha >= 128), as the page would send it."""
    got = page.evaluate(
        """() => {
            const c = document.getElementById("mask-canvas");
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            const out = [];
            for (let i = 3; i < d.length; i += 4) out.push(d[i] >= 128 ? 1 : 0);
            return [c.width, c.height, out];
        }"""
    )
    width, height, flat = got
    return np.array(flat, dtype=bool).reshape(height, width)


def drag(page, start: tuple[float, float], end: tuple[float, float], button: str = "left") -> None:
    page.mouse.move(*start)
    page.mouse.down(button=button)
    page.mouse.move(*end, steps=6)
    page.mouse.up(button=button)


def test_wheel_zooms_about_the_pointer_drag_pans_and_0_fits(browser, tmp_path: Path) -> None:
    with served(tmp_path, {"ana": "annotator"}, task=SEG, n=1, size=SIZE) as (server, ids):
        page = open_page(browser, server, "ana")
        wait_shown(page, ids[0])
        stage = page.get_by_test_id("stage").bounding_box()
        pointer = (stage["x"] + 0.3 * stage["width"], stage["y"] + 0.35 * stage["height"])
        before = placement(page, SIZE, SIZE)
        under = ((pointer[0] - before.left) / before.scale, (pointer[1] - before.top) / before.scale)
        page.mouse.move(*pointer)
        for _ in range(3):
            page.mouse.wheel(0, -100)  # a plain wheel, no modifier
        expect(page.get_by_test_id("zoom-level")).to_have_value("195 %")
        after = placement(page, SIZE, SIZE)
        assert after.screen(*under) == pytest.approx(pointer, abs=1.5)  # the pixel stayed under the pointer

        centre = (stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
        moves = [((0, 0), None)]
        start = scroll(page)
        drag(page, centre, (centre[0] - 60, centre[1] - 40), button="middle")
        moves.append((scroll(page), "middle"))
        page.keyboard.down("Space")
        drag(page, centre, (centre[0] - 30, centre[1] - 20))
        page.keyboard.up("Space")
        moves.append((scroll(page), "space"))
        page.keyboard.press("h")
        expect(page.get_by_test_id("pan-tool")).to_have_class("active")
        drag(page, centre, (centre[0] + 50, centre[1] + 50))
        page.keyboard.press("h")
        moves.append((scroll(page), "hand"))
        assert moves[1][0] == pytest.approx((start[0] + 60, start[1] + 40), abs=1.5)
        assert moves[2][0] == pytest.approx((start[0] + 90, start[1] + 60), abs=1.5)
        assert moves[3][0] == pytest.approx((start[0] + 40, start[1] + 10), abs=1.5)
        assert not canvas_mask(page).any(), "a pan drew on the mask"

        page.keyboard.press("0")
        expect(page.get_by_test_id("zoom-level")).to_have_value("100 %")
        assert scroll(page) == (0, 0)
        page.keyboard.press("f")  # smaller than the stage: the fit magnifies already, and F says so
        expect(page.get_by_test_id("message")).to_contain_text("the fit already shows each image pixel as 1.")
        page.context.close()


def test_draw_after_zoom_and_brightness_stores_exactly_the_drawn_pixels(browser, tmp_path: Path) -> None:
    smooth = smooth_lesions({"lesion": (SIZE, SIZE)})
    with served(tmp_path, {"ana": "annotator"}, task=SEG, n=0, more_images=smooth) as (server, ids):
        page = open_page(browser, server, "ana")
        image_id = wait_shown(page, ids[0])
        sent_before = served_digest(page, image_id)
        page.keyboard.press("+")
        page.keyboard.press("+")
        page.get_by_test_id("brightness").fill("120")
        page.get_by_test_id("contrast").fill("150")
        expect(page.get_by_test_id("image")).to_have_css("filter", "brightness(1.2) contrast(1.5)")
        expect(page.get_by_test_id("mask-canvas")).to_have_css("filter", "none")
        page.get_by_test_id("brush-size").fill("40")  # a few zigzag rows: a fast test
        rect = (170, 160, 330, 320)  # in the middle of the zoomed view
        intended = paint_rect(page, rect, SIZE, SIZE)
        drawn = canvas_mask(page)
        shot(page.get_by_test_id("stage").locator("xpath=.."), tmp_path, "view")
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("message")).to_have_text(f"mask saved for {image_id}")
        assert served_digest(page, image_id) == sent_before  # the image sent is what it was
        page.context.close()
    got = stored_mask(tmp_path / "proj", image_id, "ana")
    assert got is not None and got.shape == (SIZE, SIZE)
    assert np.array_equal(got, drawn), f"{int((got != drawn).sum())} pixels differ from the canvas"
    assert iou(got, intended) >= 0.98


def jpeg_served(project, ids) -> None:
    """Make the server's cached copy of the image a JPEG, as it does for images over 4 megapixels."""
    from lesionlab.project.service import images

    limit = images.PNG_MAX_PIXELS
    images.PNG_MAX_PIXELS = 0
    try:
        images.served_image(project, ids[0])
    finally:
        images.PNG_MAX_PIXELS = limit


def test_full_resolution_is_one_pixel_per_pixel_and_lossless(browser, tmp_path: Path) -> None:
    from PIL import Image

    from lesionlab.data.preprocess import open_rgb

    big = 720  # larger than the stage: the fit shrinks it, 1:1 zooms in
    smooth = smooth_lesions({"large": (big, big)})
    people = {"ana": "annotator"}
    with served(tmp_path, people, n=0, more_images=smooth, prepare=jpeg_served) as (server, ids):
        page = open_page(browser, server, "ana")
        image_id = wait_shown(page, ids[0])
        expect(page.get_by_test_id("details")).to_contain_text("JPEG q95")
        page.keyboard.press("f")
        expect(page.get_by_test_id("message")).to_have_text(f"{image_id}: full resolution, lossless")
        expect(page.get_by_test_id("details")).to_contain_text("lossless PNG")
        expect(page.get_by_test_id("zoom-level")).not_to_have_value("100 %")
        assert placement(page, big, big).scale == pytest.approx(1.0, abs=0.01)
        x0, y0, n = 300, 280, 48  # a block of the image, read back as the browser decoded it
        pixels = page.evaluate(
            """([x0, y0, n]) => {
                const img = document.getElementById("image");
                const c = document.createElement("canvas");
                [c.width, c.height] = [img.naturalWidth, img.naturalHeight];
                const g = c.getContext("2d");
                g.drawImage(img, 0, 0);
                return Array.from(g.getImageData(x0, y0, n, n).data);
            }""",
            [x0, y0, n],
        )
        shot(page.get_by_test_id("stage").locator("xpath=.."), tmp_path, "fullres")
        page.get_by_test_id("full-res").click()  # again: back to the fit
        expect(page.get_by_test_id("zoom-level")).to_have_value("100 %")
        page.context.close()
    block = np.s_[y0 : y0 + n, x0 : x0 + n]
    shown = np.array(pixels, dtype=np.uint8).reshape(n, n, 4)[..., :3]
    want = np.asarray(open_rgb(tmp_path / "images" / f"{image_id}.png"))[block]
    assert np.array_equal(shown, want), "the full-resolution view is not the decoded pixels"
    jpeg = next((tmp_path / "proj" / "cache" / "served").glob("*.jpg"))
    assert not np.array_equal(np.asarray(Image.open(jpeg).convert("RGB"))[block], want)  # it was lossy
