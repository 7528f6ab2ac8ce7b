"""The one mask rule (`mask_foreground`, docs/checks.md) on every encoding a user's masks come in.

Each case draws the same lesion (a filled disc) in one encoding and checks that `load_mask` gives it
back. Before issue 31 the threshold was picked per file (128 when any value was above 1), so a 0/1 mask
saved as JPEG, red strokes on black, a palette mask and a 0/1 mask with one stray 255 row decoded empty
(or as the stray row only), and training ended at Dice 0.000 without an error.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.data.preprocess import EXIF_ORIENTATION, load_image, load_mask, mask_foreground, open_mask

H, W = 48, 64
_YY, _XX = np.mgrid[:H, :W]
TRUTH = (_YY - 24) ** 2 + (_XX - 30) ** 2 <= 15**2  # a round lesion, 23 % of the image


def _gray(path: Path, on: int, sixteen_bit: bool = False, fmt: str = "PNG", **save) -> Path:
    im = Image.fromarray(np.where(TRUTH, on, 0).astype(np.uint16 if sixteen_bit else np.uint8))
    assert im.mode == ("I;16" if sixteen_bit else "L")
    im.save(path, format=fmt, **save)
    return path


def zero_one_png(path: Path) -> Path:
    return _gray(path.with_suffix(".png"), 1)


def zero_255_png(path: Path) -> Path:
    return _gray(path.with_suffix(".png"), 255)


def zero_255_jpeg(path: Path) -> Path:
    return _gray(path.with_suffix(".jpg"), 255, fmt="JPEG", quality=75)


def red_on_black(path: Path) -> Path:
    """Strokes drawn in red on black: grey 76 after an L conversion, below the old 128 threshold."""
    arr = np.zeros((H, W, 3), dtype=np.uint8)
    arr[TRUTH] = (255, 0, 0)
    Image.fromarray(arr).save(path.with_suffix(".png"))
    return path.with_suffix(".png")


def palette_voc(path: Path) -> Path:
    """A palette mask as Pascal VOC tools write it: index 0 black, index 1 dark red (128, 0, 0)."""
    im = Image.fromarray(TRUTH.astype(np.uint8), mode="P")
    im.putpalette([0, 0, 0, 128, 0, 0] + [0, 0, 0] * 254)
    im.save(path.with_suffix(".png"))
    return path.with_suffix(".png")


def sixteen_bit_zero_one(path: Path) -> Path:
    return _gray(path.with_suffix(".png"), 1, sixteen_bit=True)


def sixteen_bit_full_range(path: Path) -> Path:
    return _gray(path.with_suffix(".png"), 65535, sixteen_bit=True)


def rgba_strokes(path: Path) -> Path:
    """Green strokes on a fully transparent layer (the RGB under the transparent part is white)."""
    arr = np.zeros((H, W, 4), dtype=np.uint8)
    arr[..., :3] = 255
    arr[TRUTH] = (0, 200, 0, 255)
    Image.fromarray(arr, mode="RGBA").save(path.with_suffix(".png"))
    return path.with_suffix(".png")


def black_rgba_strokes(path: Path) -> Path:
    """Black strokes (a paint program's default colour) on a transparent layer: only the alpha shows them."""
    arr = np.zeros((H, W, 4), dtype=np.uint8)
    arr[TRUTH, 3] = 255
    Image.fromarray(arr, mode="RGBA").save(path.with_suffix(".png"))
    return path.with_suffix(".png")


ENCODINGS: dict[str, Callable[[Path], Path]] = {
    "0/1 png": zero_one_png,
    "0/255 png": zero_255_png,
    # a 0/1 JPEG is refused (compression erases a small lesion): tests/data/test_mask_rule_labelmap.py
    "0/255 jpeg": zero_255_jpeg,
    "red strokes on black": red_on_black,
    "palette": palette_voc,
    "16-bit 0/1": sixteen_bit_zero_one,
    "16-bit 0/65535": sixteen_bit_full_range,
    "rgba strokes on a transparent layer": rgba_strokes,
    "black rgba strokes on a transparent layer": black_rgba_strokes,
}


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_every_encoding_decodes_the_drawn_lesion(tmp_path: Path, encoding: str) -> None:
    path = ENCODINGS[encoding](tmp_path / "mask")
    mask = load_mask(path, None)
    assert mask.shape == (H, W)
    # Lossless encodings give the lesion back exactly; JPEG blurs its edge by a pixel or so.
    assert _iou(mask, TRUTH) == 1.0 if path.suffix == ".png" else _iou(mask, TRUTH) > 0.85
    assert 0.15 < load_mask(path, 16).mean() < 0.3  # resized for training, still the lesion (22 %)


def test_a_stray_bright_row_in_a_zero_one_mask_does_not_hide_the_lesion(tmp_path: Path) -> None:
    arr = TRUTH.astype(np.uint8)
    arr[2] = 255  # one row of 255 (a ruler, a scan artefact) in a 0/1 mask
    Image.fromarray(arr).save(tmp_path / "m.png")
    mask = load_mask(tmp_path / "m.png", None)
    expected = TRUTH.copy()
    expected[2] = True  # the row is non-zero, so it is drawn; the lesion must not vanish behind it
    assert np.array_equal(mask, expected)


def test_jpeg_ringing_around_a_small_lesion_is_not_foreground(tmp_path: Path) -> None:
    arr = np.zeros((64, 64), dtype=np.uint8)
    arr[10:13, 10:13] = 255  # 9 pixels; the ringing around them outnumbers them
    Image.fromarray(arr).save(tmp_path / "m.jpg", quality=75)
    assert np.asarray(Image.open(tmp_path / "m.jpg")).astype(bool).sum() > 2 * 9
    assert load_mask(tmp_path / "m.jpg", None).sum() == 9


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_an_empty_mask_stays_empty(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"m.{fmt.lower()}"
    Image.new("L", (W, H), 0).save(path, format=fmt)
    assert not load_mask(path, None).any()
    transparent = tmp_path / "t.png"
    Image.new("RGBA", (W, H), (255, 255, 255, 0)).save(transparent)
    assert not load_mask(transparent, None).any()


def test_a_full_mask_is_full_and_an_inverted_one_nearly_full() -> None:
    assert mask_foreground(Image.new("L", (W, H), 255)).all()
    inverted = Image.fromarray(np.where(TRUTH, 0, 255).astype(np.uint8))
    assert np.array_equal(mask_foreground(inverted), ~TRUTH)


def test_an_exif_rotated_mask_is_turned_like_its_image(tmp_path: Path) -> None:
    """Orientation 6 (turn 90 degrees clockwise to view): mask and image both come out H x W = 64 x 48."""
    stored = np.rot90(TRUTH, k=1)  # the camera stored it turned 90 degrees counter-clockwise
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    mask_path, image_path = tmp_path / "m.png", tmp_path / "i.jpg"
    Image.fromarray(stored.astype(np.uint8) * 255).save(mask_path, exif=exif)
    Image.fromarray(np.stack([stored * 200] * 3, -1).astype(np.uint8)).save(image_path, exif=exif)
    mask = open_mask(mask_path)
    assert mask.shape == (H, W) and np.array_equal(mask, TRUTH)
    image = load_image(image_path, None, "none")
    assert image.shape[:2] == mask.shape
    assert _iou(image[..., 0] > 100, mask) > 0.9


def test_the_rule_ignores_how_the_file_was_packed() -> None:
    """Through an in-memory round trip, 8-bit and 16-bit of the same drawing decode the same."""
    buf = io.BytesIO()
    Image.fromarray(TRUTH.astype(np.uint16) * 3).save(buf, format="PNG")
    buf.seek(0)
    assert np.array_equal(mask_foreground(Image.open(buf)), TRUTH)
