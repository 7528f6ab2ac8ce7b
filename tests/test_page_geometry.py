"""What an expert paints is what is stored (issue 30, item 1): real mouse strokes fill a rectangle given in
IMAGE pixels on landscape, portrait, panoramic (3:1) and EXIF-rotated images, letterboxed in the page's
stage, at zoom 1 and zoomed in, in a wide and a tall window; the mask the store holds (decoded as training
reads it) must match that rectangle with IoU >= 0.98.

On the page before issue 30 the canvas covered the whole square stage while the image was letterboxed
inside it, so strokes on a non-square image were stored shifted and scaled (IoU 0.46 landscape, 0.69
portrait), and an EXIF-rotated JPEG was shown rotated but stored against the unrotated file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from PIL import Image
from playwright.sync_api import expect

from fake_isic import lesion_image
from lesionlab.project import init_project
from page_harness import (
    PageServer,
    invite_all,
    iou,
    launch_browser,
    open_page,
    paint_rect,
    placement,
    shots_dir,
    stored_mask,
    wait_shown,
)

pytestmark = pytest.mark.slow

# image id -> its size as the model sees it (width, height); the EXIF one is stored 256x192, rotated 90°
SHAPES = {
    "landscape": (256, 192),
    "portrait": (192, 256),
    "panoramic": (360, 120),
    "exif_rotated": (192, 256),
}


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def cropped(width: int, height: int, seed: int) -> Image.Image:
    """A tiny lesion image cropped to width x height (as ISIC images cropped to other shapes)."""
    square = lesion_image(seed, seed % 2 == 0, size=max(width, height))
    left, top = (square.width - width) // 2, (square.height - height) // 2
    return square.crop((left, top, left + width, top + height))


def make_shapes(folder: Path) -> None:
    folder.mkdir(parents=True)
    for k, name in enumerate(("landscape", "portrait", "panoramic")):
        cropped(*SHAPES[name], seed=k).save(folder / f"{name}.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the file is 256x192, viewers show 192x256
    cropped(256, 192, seed=3).save(folder / "exif_rotated.jpg", exif=exif, quality=95)


def visible_rect(page, width: int, height: int, frac: tuple[float, float, float, float]) -> tuple[int, ...]:
    """A rectangle (x0, y0, x1, y1) in image pixels at fractions `frac` of the part of the image that is
    visible in the stage (all of it at zoom 1, the middle when zoomed in)."""
    place = placement(page, width, height)
    stage = page.get_by_test_id("stage").bounding_box()
    # image pixels on screen, clipped to the stage (minus room for scroll bars)
    vx0 = max(0.0, (stage["x"] - place.left) / place.scale)
    vy0 = max(0.0, (stage["y"] - place.top) / place.scale)
    vx1 = min(width, (stage["x"] + stage["width"] - 20 - place.left) / place.scale)
    vy1 = min(height, (stage["y"] + stage["height"] - 20 - place.top) / place.scale)
    fx0, fy0, fx1, fy1 = frac
    return (
        int(vx0 + fx0 * (vx1 - vx0)),
        int(vy0 + fy0 * (vy1 - vy0)),
        int(vx0 + fx1 * (vx1 - vx0)),
        int(vy0 + fy1 * (vy1 - vy0)),
    )


def zoom_in_three_ways(page) -> None:
    """The + key, Ctrl + wheel over the image (zooming about the pointer) and the zoom-in button."""
    page.keyboard.press("+")
    stage = page.get_by_test_id("stage").bounding_box()
    page.mouse.move(stage["x"] + 0.4 * stage["width"], stage["y"] + 0.6 * stage["height"])
    page.keyboard.down("Control")
    page.mouse.wheel(0, -100)
    page.keyboard.up("Control")
    expect(page.get_by_test_id("zoom-level")).to_have_value("156 %")
    page.get_by_test_id("zoom-in").click()
    expect(page.get_by_test_id("zoom-level")).to_have_value("195 %")


@pytest.mark.parametrize(
    ("person", "zoomed", "viewport", "dpr"),
    [
        ("wide_zoom1", False, (1100, 720), 1),
        ("tall_zoomed", True, (900, 1000), 1),
        ("odd_hidpi", True, (1013, 777), 2),  # a fractional stage size on a HiDPI screen
    ],
)
def test_painted_region_is_the_stored_mask_for_every_image_shape(
    browser, tmp_path: Path, person: str, zoomed: bool, viewport: tuple[int, int], dpr: float
) -> None:
    make_shapes(tmp_path / "images")
    with init_project(
        tmp_path / "proj",
        tmp_path / "images",
        ["background", "lesion"],
        task="segmentation",
        show_progress=False,
    ) as project:
        ids = project.store.image_ids()
        assert sorted(ids) == sorted(SHAPES)
        project.store.add_round("coreset", None, len(ids), 0, [(i, None, None) for i in ids])
        tokens = invite_all(project, {person: "annotator"})
    server = PageServer(tmp_path / "proj", tmp_path / "server.log", tokens)
    intended: dict[str, np.ndarray] = {}
    try:
        page = open_page(browser, server, person, *viewport, dpr=dpr)
        for _ in SHAPES:
            image_id = wait_shown(page)
            width, height = SHAPES[image_id]
            if zoomed:
                zoom_in_three_ways(page)
            rect = visible_rect(page, width, height, (0.15, 0.25, 0.7, 0.8))
            intended[image_id] = paint_rect(page, rect, width, height)
            if image_id == "portrait" and not zoomed:
                page.screenshot(path=str(shots_dir(tmp_path) / "annotation_mask.png"))
            page.keyboard.press("Enter")
            expect(page.get_by_test_id("message")).to_have_text(f"mask saved for {image_id}")
            page.keyboard.press("0")  # back to fit for the next image
        expect(page.locator("#empty")).to_be_visible()
        page.context.close()
    finally:
        server.stop()
    for image_id, want in intended.items():
        got = stored_mask(tmp_path / "proj", image_id, person)
        assert got is not None, f"no mask stored for {image_id}"
        assert got.shape == want.shape, (image_id, got.shape, want.shape)
        value = iou(got, want)
        print(f"{person} {image_id}: IoU {value:.4f}")  # shown with -s
        assert value >= 0.98, f"{image_id}: IoU {value:.3f} between painted and stored"
