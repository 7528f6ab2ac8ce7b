"""Fourth reading of the one mask decoder: colour label maps with no black pixel.

Found: a colour label map (lesion red on a blue or navy background, as some tools export a class map)
decoded as a full mask, every pixel lesion: each pixel's value was its brightest channel, the same 255
(or 128 and 255, both above the level's half) for background and lesion. Now an opaque colour mask with
no black pixel measures each pixel by its difference from its darkest colour; when several colours are
tied for darkest, a palette's index decides (lowest index background) and an RGB mask is refused in one
line naming the colours and the fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.data.preprocess import mask_foreground, open_mask
from lesionlab.errors import DataError

H, W = 48, 64
_YY, _XX = np.mgrid[:H, :W]
TRUTH = (_YY - 24) ** 2 + (_XX - 30) ** 2 <= 12**2


def _painted(background: tuple[int, int, int], lesion: tuple[int, int, int]) -> np.ndarray:
    rgb = np.empty((H, W, 3), np.uint8)
    rgb[~TRUTH], rgb[TRUTH] = background, lesion
    return rgb


@pytest.mark.parametrize("background", [(0, 0, 128), (0, 90, 0), (40, 40, 40), (200, 160, 0)])
def test_a_colour_label_map_with_no_black_decodes_as_its_lesion(tmp_path: Path, background) -> None:
    path = tmp_path / "m.png"
    Image.fromarray(_painted(background, (255, 0, 0))).save(path)
    assert np.array_equal(open_mask(path), TRUTH)
    rgba = np.dstack([_painted(background, (255, 0, 0)), np.full((H, W), 255, np.uint8)])
    assert np.array_equal(mask_foreground(Image.fromarray(rgba)), TRUTH)  # opaque RGBA: the same


def test_a_palette_label_map_with_equally_bright_colours_reads_its_index(tmp_path: Path) -> None:
    im = Image.fromarray(np.where(TRUTH, 2, 1).astype(np.uint8), "P")
    im.putpalette([0, 0, 0, 0, 0, 255, 255, 0, 0] + [0] * 759)  # 1 blue background, 2 red lesion
    im.save(tmp_path / "p.png")
    assert np.array_equal(open_mask(tmp_path / "p.png"), TRUTH)


@pytest.mark.parametrize("background", [(0, 0, 255), (255, 255, 255)])
def test_equally_bright_rgb_colours_are_refused_naming_them(tmp_path: Path, background) -> None:
    path = tmp_path / "ISIC_0000001_segmentation.png"
    Image.fromarray(_painted(background, (255, 0, 0))).save(path)
    with pytest.raises(DataError, match=rf"{path.name} cannot be read as a mask: .*\(255, 0, 0\).*black"):
        open_mask(path)


def test_masks_with_black_or_grey_only_are_unchanged() -> None:
    assert np.array_equal(mask_foreground(Image.fromarray(_painted((0, 0, 0), (255, 0, 0)))), TRUTH)
    assert mask_foreground(Image.fromarray(_painted((255, 0, 0), (255, 0, 0)))).all()  # one colour: full
    noisy = _painted((250, 10, 10), (255, 0, 0))  # a full red mask with lossy noise stays full
    assert mask_foreground(Image.fromarray(noisy)).all()
    grey = np.where(TRUTH, 2, 1).astype(np.uint8)
    assert np.array_equal(mask_foreground(Image.fromarray(np.dstack([grey] * 3))), TRUTH)
