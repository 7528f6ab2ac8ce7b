"""Screenshots for docs/annotation.md "The page", taken by the browser tests (tests/test_page_view_*.py)
and kept small: quantised to a 256-colour palette PNG (< 150 KB each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from page_harness import shots_dir

MAX_BYTES = 150_000


def shot(locator, tmp_path: Path, name: str) -> Path:
    """Screenshot `locator` (a page or an element) as docs/images/annotation_<name>.png (or in tmp_path
    unless LESIONLAB_UPDATE_SCREENSHOTS=1), palette-quantised; asserts it stays small."""
    path = shots_dir(tmp_path) / f"annotation_{name}.png"
    locator.screenshot(path=str(path))
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(
            colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    small.save(path, optimize=True)
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes"
    return path


def smooth_lesions(sizes: dict[str, tuple[int, int]]) -> callable:
    """A `more_images` for page_harness.served: one PNG per {name: (width, height)}, skin with a soft
    brown lesion (smooth, so screenshots stay small, unlike the noisy fake ISIC images)."""

    def make(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for k, (name, (width, height)) in enumerate(sizes.items()):
            y, x = np.mgrid[0:height, 0:width].astype(np.float32)
            u, v = (x - width * (0.45 + 0.05 * k)) / (0.28 * width), (y - height * 0.5) / (0.24 * height)
            wobble = 0.12 * np.sin(3 * np.arctan2(v, u) + k) + 0.05 * np.sin(x / 9.0) * np.cos(y / 11.0)
            inside = np.clip(1.4 - np.sqrt(u**2 + v**2) - wobble, 0, 1)[..., None]
            skin = np.array([226, 184, 160], np.float32) - 18 * (y / height)[..., None]
            lesion = np.array([104, 62, 44], np.float32) + 24 * np.sin(x / 17.0)[..., None]
            rgb = skin * (1 - inside) + lesion * inside
            Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(folder / f"{name}.png")

    return make
