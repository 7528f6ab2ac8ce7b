"""Third reading of the training data path: a drawn lesion never vanishes when its mask is resized.

Found: `load_mask` brings a mask to the training resolution by nearest neighbour, which reads one pixel
per output cell; a lesion smaller or thinner than a cell (5 x 5 pixels of a 600 x 400 mask at 32 px: cells
of 19 x 12.5 pixels; a 2-pixel line) fell between the pixels read, and the image trained, and was scored,
as having no lesion at all. A mask whose file holds a lesion now keeps, at least, the cells the lesion
covers most (an area average picks them); larger lesions resize exactly as before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.data.preprocess import RESIZE_MODES, load_mask


def _save(tmp_path: Path, arr: np.ndarray) -> Path:
    path = tmp_path / "m.png"
    Image.fromarray(arr).save(path)
    return path


@pytest.mark.parametrize("resize", RESIZE_MODES)
def test_a_lesion_smaller_than_a_cell_is_kept(tmp_path: Path, resize: str) -> None:
    mask = np.zeros((400, 600), np.uint8)
    mask[12:18, 108:114] = 255  # between the pixels nearest neighbour reads at 32 px, in every mode
    out = load_mask(_save(tmp_path, mask), 32, resize)
    assert 1 <= out.sum() <= 2
    assert not out[16:].any()  # near the top, where the lesion is


@pytest.mark.parametrize("resize", RESIZE_MODES)
def test_one_pixel_of_thousands_is_kept(tmp_path: Path, resize: str) -> None:
    mask = np.zeros((1500, 2000), np.uint8)
    mask[700, 1010] = 255  # a cell of 47 x 62 pixels at 32 px: 1/2900 of it, 0 in an 8-bit average
    assert load_mask(_save(tmp_path, mask), 32, resize).sum() == 1


def test_a_thin_line_is_kept_along_its_length(tmp_path: Path) -> None:
    mask = np.zeros((400, 600), np.uint8)
    mask[100:102, 50:550] = 255
    out = load_mask(_save(tmp_path, mask), 32)
    rows = np.flatnonzero(out.any(axis=1))
    assert rows.tolist() == [8] and out[8].sum() >= 25


def test_an_empty_mask_and_a_lesion_outside_the_crop_stay_empty(tmp_path: Path) -> None:
    assert not load_mask(_save(tmp_path, np.zeros((400, 600), np.uint8)), 32).any()
    outside = np.zeros((400, 600), np.uint8)
    outside[190:200, 5:15] = 255  # in the left strip center_crop cuts away
    assert not load_mask(_save(tmp_path, outside), 32, "center_crop").any()


def test_a_large_lesion_resizes_as_before(tmp_path: Path) -> None:
    mask = np.zeros((400, 600), np.uint8)
    mask[100:300, 150:450] = 255
    path = _save(tmp_path, mask)
    nearest = np.array(Image.fromarray(mask).resize((32, 32), Image.Resampling.NEAREST)) >= 128
    assert np.array_equal(load_mask(path, 32), nearest)
