"""The report's mask overlays: true outline green, predicted outline red, the rest of the image kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.evaluation.overlays import PRED_COLOUR, TRUE_COLOUR, mask_overlay, outline, write_overlay


def test_outline_of_a_square() -> None:
    mask = np.zeros((6, 6), bool)
    mask[1:5, 1:5] = True
    ring = outline(mask)
    assert ring.sum() == 12  # the 4 x 4 square's border
    assert not ring[2:4, 2:4].any() and not ring[0].any()


def test_overlay_colours_and_keeps_the_rest(tmp_path: Path) -> None:
    image = np.full((8, 8, 3), 100, np.uint8)
    truth = np.zeros((8, 8), bool)
    truth[1:4, 1:4] = True
    pred = np.zeros((8, 8), bool)
    pred[4:7, 4:7] = True
    out = mask_overlay(image, truth, pred)
    assert (out[outline(truth)] == TRUE_COLOUR).all()
    assert (out[outline(pred)] == PRED_COLOUR).all()
    untouched = ~(outline(truth) | outline(pred))
    assert (out[untouched] == 100).all()
    assert (image == 100).all()  # input unchanged
    written = write_overlay(tmp_path / "o.png", image, None, pred)
    np.testing.assert_array_equal(np.array(Image.open(written)), mask_overlay(image, None, pred))
    with pytest.raises(ValueError, match="H x W"):
        mask_overlay(image, None, np.zeros((4, 4), bool))
