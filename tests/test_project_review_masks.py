"""Second reading of issue 33's interchange: a mask PNG is read the same way wherever it enters. `lesionlab
train` and every reader of stored masks apply a PNG's EXIF orientation (`open_mask`), but the project's
uploads and imports (`mask_files.decode_png`) did not: a folder of masks written by a tool that tags their
orientation was refused as the wrong size, or, for a square image, stored turned a quarter: pixels nobody
drew. Also checked here: 16-bit, palette and RGBA masks of an odd size import as drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.data.preprocess import open_mask
from lesionlab.project import init_project
from lesionlab.project.interchange import import_masks

ORIENTATION = 0x0112


def _project(tmp_path: Path, width: int, height: int):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(folder / "img_000.png")
    return init_project(
        tmp_path / "proj", folder, ["background", "lesion"], task="segmentation", show_progress=False
    )


def _stored(project, image_id: str) -> np.ndarray:
    return open_mask(project.mask_path(image_id, person="import"))


@pytest.mark.parametrize(("width", "height"), [(32, 32), (30, 40)])
def test_a_masks_exif_orientation_is_applied_on_import_as_training_reads_it(
    tmp_path: Path, width: int, height: int
) -> None:
    raw = np.zeros((width, height), dtype=np.uint8)  # stored sideways: EXIF 6 turns it upright
    raw[:5, :12] = 255
    masks = tmp_path / "masks"
    masks.mkdir()
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    path = masks / "img_000_segmentation.png"
    Image.fromarray(raw).save(path, format="PNG", exif=exif)
    want = open_mask(path)  # what `lesionlab train` reads from this file
    assert want.shape == (height, width) and not np.array_equal(want, raw > 0)  # the file as stored differs
    with _project(tmp_path, width, height) as project:
        done = import_masks(project, masks)
        assert done["stored"] == 1
        assert np.array_equal(_stored(project, "img_000"), want)


@pytest.mark.parametrize("mode", ["I;16", "P", "RGBA"])
def test_16_bit_palette_and_rgba_masks_of_an_odd_size_import_as_drawn(tmp_path: Path, mode: str) -> None:
    width, height = 37, 23
    want = np.zeros((height, width), dtype=bool)
    want[3:17, 5:29] = True
    if mode == "I;16":
        im = Image.fromarray(np.where(want, 65535, 0).astype(np.uint16))
    elif mode == "P":
        im = Image.fromarray(want.astype(np.uint8), mode="L").convert("P")
        im.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    else:
        rgba = np.zeros((height, width, 4), dtype=np.uint8)
        rgba[want] = (255, 0, 0, 255)
        im = Image.fromarray(rgba, mode="RGBA")
    masks = tmp_path / "masks"
    masks.mkdir()
    im.save(masks / "img_000_segmentation.png")
    with _project(tmp_path, width, height) as project:
        assert import_masks(project, masks)["stored"] == 1
        assert np.array_equal(_stored(project, "img_000"), want)
