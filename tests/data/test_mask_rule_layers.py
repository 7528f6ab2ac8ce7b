"""The mask rule on a drawn layer with anti-aliased strokes in several pen colours (issue 31, item 1, another
instance): a faint edge pixel counts as faint (its colour as shown over black), not as a full stroke.
Before, every visible pixel of a several-colour layer counted at its full colour, and a blurred edge
grew the lesion from 46 % to 69 % of the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from lesionlab.data.preprocess import load_mask


def _disc(size: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= (size * 0.38) ** 2


def test_several_pen_colours_with_soft_edges_decode_as_drawn(tmp_path: Path) -> None:
    disc = _disc()
    alpha = np.array(Image.fromarray(disc.astype(np.uint8) * 255).filter(ImageFilter.GaussianBlur(1)))
    colour = np.zeros((*disc.shape, 3), np.uint8)
    colour[:16] = (255, 0, 0)  # top half drawn in red, bottom half in blue
    colour[16:] = (0, 0, 255)
    Image.fromarray(np.dstack([colour, alpha]), "RGBA").save(tmp_path / "m.png")
    mask = load_mask(tmp_path / "m.png", None)
    assert (mask != disc).mean() < 0.02, (mask.mean(), disc.mean())


def test_an_opaque_colour_mask_is_unchanged(tmp_path: Path) -> None:
    disc = _disc()
    rgba = np.zeros((*disc.shape, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[disc, 1] = 200  # green lesion on opaque black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "m.png")
    assert (load_mask(tmp_path / "m.png", None) == disc).all()
