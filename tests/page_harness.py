"""Helpers for the annotation page's browser tests (tests/test_page_*.py, tests/test_project_browser.py):
Debian's Chromium driven by Playwright's Python client, one browser per test module, a `project serve`
process per project with invited people, and real mouse strokes placed in IMAGE coordinates.

Where a stroke lands is computed here from the <img> element's box and the letterbox rule of
`object-fit: contain` alone, independently of how the page places its mask canvas: a page whose canvas
does not sit exactly on the image stores the stroke elsewhere, and the IoU drops.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from project_fixtures import Server, auth

CHROMIUM_ENV = "LESIONLAB_TEST_CHROMIUM"
DOC_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
TIMEOUT_MS = 30_000  # generous: the shared CI machine can be slow to answer


def chromium() -> str:
    wanted = os.environ.get(CHROMIUM_ENV)
    path = wanted or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        if wanted:
            pytest.fail(f"${CHROMIUM_ENV}={wanted} is not an executable browser")
        pytest.skip(f"the browser test needs /usr/bin/chromium (apt-get install chromium) or ${CHROMIUM_ENV}")
    return path


def shots_dir(tmp_path: Path) -> Path:
    """docs/images/ with LESIONLAB_UPDATE_SCREENSHOTS=1 (docs/annotation.md shows them), else tmp_path."""
    return DOC_IMAGES if os.environ.get("LESIONLAB_UPDATE_SCREENSHOTS") == "1" else tmp_path


def launch_browser() -> Iterator:
    """One headless Chromium for a whole module (a fixture body: `yield from launch_browser()`)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    executable = chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


class PageServer(Server):
    """`lesionlab project serve` (project_fixtures' Server), with the invited people's tokens by name."""

    def __init__(self, project_dir: Path, log_path: Path, tokens: dict[str, str]) -> None:
        self.project_dir = Path(project_dir)
        self.tokens = tokens
        super().__init__(self.project_dir, log_path)

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return auth(token)


def invite_all(project, people: dict[str, str]) -> dict[str, str]:
    """{name: role} -> {name: token}, through the same function `lesionlab project invite` calls."""
    from lesionlab.project.people import invite

    return {name: invite(project, name, role) for name, role in people.items()}


def open_page(browser, server: PageServer, name: str, width: int = 1100, height: int = 720, dpr: float = 1):
    """A fresh browser context (its own cookie) signed in as `name` through their personal link;
    `dpr` device pixels per CSS pixel (2 for a HiDPI screen)."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=dpr)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{server.url}/?token={server.tokens[name]}")
    expect(page.get_by_test_id("whoami")).to_contain_text(f"signed in as {name}")
    return page


def wait_shown(page, image_id: str | None = None) -> str:
    """Wait until an image is on screen and the page accepts actions on it (the stage's `data-ready`);
    returns its id."""
    from playwright.sync_api import expect

    if image_id is not None:
        expect(page.get_by_test_id("image-id")).to_have_text(image_id)
    expect(page.get_by_test_id("stage")).to_have_attribute("data-ready", "true")
    return page.get_by_test_id("image-id").inner_text()


@dataclass(frozen=True)
class Placement:
    """Where an image of `width` x `height` pixels is drawn on screen (CSS px), letterboxed."""

    left: float
    top: float
    scale: float  # screen px per image px

    def screen(self, x: float, y: float) -> tuple[float, float]:
        return self.left + x * self.scale, self.top + y * self.scale


def placement(page, width: int, height: int) -> Placement:
    """object-fit: contain inside the <img> element's box (the zoomed box, when zoomed)."""
    box = page.get_by_test_id("image").bounding_box()
    scale = min(box["width"] / width, box["height"] / height)
    left = box["x"] + (box["width"] - width * scale) / 2
    top = box["y"] + (box["height"] - height * scale) / 2
    return Placement(left, top, scale)


def paint_rect(page, rect: tuple[int, int, int, int], width: int, height: int) -> np.ndarray:
    """Fill the image-pixel rectangle (x0, y0, x1, y1) (x1, y1 exclusive) with one zigzag brush stroke
    of real mouse events; returns the intended (height, width) boolean mask.

    The stroke's centre line stays one brush radius inside the rectangle, rows one radius apart, so the
    painted region is the rectangle up to its four rounded corners.
    """
    place = placement(page, width, height)
    diameter = float(page.get_by_test_id("brush-size").input_value())
    r = diameter / 2 / place.scale  # brush radius in image pixels
    x0, y0, x1, y1 = rect
    assert x1 - x0 > 2 * r and y1 - y0 > 2 * r, f"rectangle {rect} is thinner than the brush ({2 * r:.1f} px)"
    rows = [*np.arange(y0 + r, y1 - r, r), y1 - r]
    left, right = x0 + r, x1 - r
    page.mouse.move(*place.screen(left, rows[0]))
    page.mouse.down()
    for k, y in enumerate(rows):
        start, end = (left, right) if k % 2 == 0 else (right, left)
        page.mouse.move(*place.screen(start, y), steps=2)
        page.mouse.move(*place.screen(end, y), steps=8)
    page.mouse.up()
    intended = np.zeros((height, width), dtype=bool)
    intended[y0:y1, x0:x1] = True
    return intended


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def stored_mask(project_dir: Path, image_id: str, person: str) -> np.ndarray | None:
    """`person`'s standing mask of the image as training reads it (`load_mask(path, None)`), or None."""
    from lesionlab.data.preprocess import load_mask
    from lesionlab.project import open_project

    with open_project(project_dir) as project:
        path = project.mask_path(image_id, person=person)
    return None if path is None else load_mask(path, None)


def standing(project_dir: Path, kind: str | None = None) -> dict[str, dict[str, object]]:
    """{image id: {person: their standing annotation}} (what training, consensus and the queue see)."""
    from lesionlab.project import open_project

    with open_project(project_dir) as project:
        return {iid: dict(st.raters) for iid, st in project.store.standing(kind).items()}


@contextmanager
def served(
    tmp_path: Path,
    people: dict[str, str],
    task: str = "classification",
    n: int = 3,
    overlap: int = 1,
    size: int = 96,
    prepare: Callable | None = None,
    more_images: Callable[[Path], None] | None = None,
) -> Iterator[tuple[PageServer, list[str]]]:
    """A project of `n` tiny lesion images, all proposed (in id order), `people` ({name: role}) invited,
    served; yields (server, image ids). `more_images(folder)` adds files before the project is made;
    `prepare(project, ids)` runs before the server starts."""
    from lesionlab.project import init_project
    from project_fixtures import CLASSES, make_images

    make_images(tmp_path / "images", n=n, size=size)
    if more_images is not None:
        more_images(tmp_path / "images")
    classes = ["background", "lesion"] if task == "segmentation" else CLASSES
    with init_project(
        tmp_path / "proj", tmp_path / "images", classes, task=task, overlap=overlap, show_progress=False
    ) as project:
        ids = project.store.image_ids()
        project.store.add_round("coreset", None, len(ids), 0, [(i, None, None) for i in ids])
        tokens = invite_all(project, people)
        if prepare is not None:
            prepare(project, ids)
    server = PageServer(tmp_path / "proj", tmp_path / "server.log", tokens)
    try:
        yield server, ids
    finally:
        server.stop()


@dataclass(frozen=True)
class Stored:
    """One annotation row as the database holds it."""

    image_id: str
    annotator: str
    source: str
    label: int | None
    has_mask: bool
    retracted: bool


def annotations(project_dir: Path, image_id: str | None = None) -> list[Stored]:
    """Every annotation row (retracted ones too), oldest first: what "stored once" is checked against."""
    from sqlalchemy import select

    from lesionlab.project import open_project
    from lesionlab.project.models import Annotation, ImageRow

    query = select(Annotation, ImageRow.image_id).join(ImageRow, ImageRow.key == Annotation.image_key)
    if image_id is not None:
        query = query.where(ImageRow.image_id == image_id)
    with open_project(project_dir) as project, project.store.session() as s:
        rows = s.execute(query.order_by(Annotation.id)).all()
        return [
            Stored(iid, a.annotator, a.source, a.label, a.mask_path is not None, a.retracted_at is not None)
            for a, iid in rows
        ]


def expert(project_dir: Path, image_id: str | None = None) -> list[Stored]:
    """The people's own annotations (not the model's proposals)."""
    return [a for a in annotations(project_dir, image_id) if a.source == "expert"]


def hold_route(page, pattern: str) -> list:
    """Hold every request matching `pattern` (the image "still loading") until `release(held)`."""
    held: list = []
    page.route(pattern, lambda route: held.append(route))
    return held


def wait_held(page, held: list, n: int = 1, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while len(held) < n:
        assert time.monotonic() < deadline, f"expected {n} held request(s), got {len(held)}"
        page.wait_for_timeout(50)


def release(page, pattern: str, held: list) -> None:
    for route in held:
        route.continue_()
    held.clear()
    page.unroute(pattern)
