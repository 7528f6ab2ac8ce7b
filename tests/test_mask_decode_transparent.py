"""Second reading of the one mask decoder (issue 33): a mask file never decodes as empty without a word.

Found: an RGBA (or LA) mask whose alpha is 0 everywhere (a script that filled the colour channels of a
zeroed 4-channel array, say) decoded as no lesion, whatever shape its colours held. It is refused now in
one line naming the file, by `open_mask` (training, the data check) and by the project's import; a
transparent layer of one colour (nothing drawn on it) still reads as empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.data.preprocess import open_mask
from lesionlab.errors import DataError
from lesionlab.project import init_project
from lesionlab.project.interchange import import_masks

H, W = 12, 16


def _lesion() -> np.ndarray:
    m = np.zeros((H, W), dtype=bool)
    m[3:9, 4:12] = True
    return m


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_a_wholly_transparent_mask_holding_a_drawing_is_refused(tmp_path: Path, mode: str) -> None:
    channels = 4 if mode == "RGBA" else 2
    arr = np.zeros((H, W, channels), dtype=np.uint8)
    arr[..., :-1][_lesion()] = 255  # the drawing in the colour channels, alpha 0 everywhere
    path = tmp_path / "img_000_segmentation.png"
    Image.fromarray(arr, mode).save(path)
    with pytest.raises(DataError, match=rf"{path.name} cannot be read as a mask: every pixel is fully"):
        open_mask(path)


def test_a_transparent_layer_of_one_colour_is_an_empty_mask(tmp_path: Path) -> None:
    path = tmp_path / "m.png"
    Image.fromarray(np.full((H, W, 4), (255, 0, 0, 0), dtype=np.uint8), "RGBA").save(path)
    assert not open_mask(path).any()


def test_the_project_import_refuses_it_with_the_files_name(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.full((H, W, 3), 80, dtype=np.uint8)).save(images / "img_000.png")
    masks = tmp_path / "masks"
    masks.mkdir()
    arr = np.zeros((H, W, 4), dtype=np.uint8)
    arr[..., :3][_lesion()] = 255
    Image.fromarray(arr, "RGBA").save(masks / "img_000_segmentation.png")
    with init_project(
        tmp_path / "p", images, ["background", "lesion"], task="segmentation", show_progress=False
    ) as p:
        with pytest.raises(DataError, match=r"img_000_segmentation.png: .*fully transparent"):
            import_masks(p, masks)
        assert p.mask_path("img_000") is None  # before: an empty mask stood as the import's "no lesion"
