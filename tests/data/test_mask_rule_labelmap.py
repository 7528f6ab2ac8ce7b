"""Third reading of the one mask decoder: label maps and faint lossy masks never decode as a wrong mask.

Found:
- a label-map mask (background 1, lesion 2: no pixel 0) decoded as a full mask, every pixel lesion: the
  foreground level was the median of the non-zero values, which is the background's. A mask with no
  pixel 0 now takes its lowest value as background (the level starts from the values above it).
- a JPEG mask of 0/1 values decoded as whatever part of the lesion survived the compression (a small
  lesion: part of it, or nothing): lossy compression rounds a signal that faint away. Such a file (JPEG,
  its brightest value below 16 but not 0) is refused in one line naming it and the fix (save as PNG).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.data.preprocess import FAINT_LOSSY, load_mask, mask_foreground, open_mask
from lesionlab.data.records import LabeledDataset, Record
from lesionlab.data.validate import check_files
from lesionlab.errors import DataError

H, W = 48, 64
_YY, _XX = np.mgrid[:H, :W]
TRUTH = (_YY - 24) ** 2 + (_XX - 30) ** 2 <= 12**2  # a round lesion, 15 % of the image


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_label_map_mask_decodes_as_its_lesion(tmp_path: Path, dtype: type) -> None:
    path = tmp_path / "m.png"
    Image.fromarray(np.where(TRUTH, 2, 1).astype(dtype)).save(path)  # background 1, lesion 2
    assert np.array_equal(open_mask(path), TRUTH)
    assert np.array_equal(load_mask(path, None), TRUTH)


def test_a_label_map_with_two_lesion_classes_keeps_both() -> None:
    values = np.where(TRUTH, 2, 1).astype(np.uint8)
    values[:4, :4] = 3  # a second foreground class, e.g. a satellite lesion
    expected = TRUTH.copy()
    expected[:4, :4] = True
    assert np.array_equal(mask_foreground(Image.fromarray(values)), expected)


def test_full_and_nearly_uniform_masks_stay_full() -> None:
    assert mask_foreground(Image.new("L", (W, H), 255)).all()
    lossy_full = np.full((H, W), 255, np.uint8)
    lossy_full[::3, ::5] = 254  # a full mask after lossy compression: 254s among the 255s
    assert mask_foreground(Image.fromarray(lossy_full)).all()


def test_masks_with_a_zero_background_are_unchanged() -> None:
    for on in (1, 2, 255):
        assert np.array_equal(
            mask_foreground(Image.fromarray(np.where(TRUTH, on, 0).astype(np.uint8))), TRUTH
        )


def test_a_zero_one_jpeg_mask_is_refused_naming_the_file(tmp_path: Path) -> None:
    small = np.zeros((64, 64), np.uint8)
    small[20:30, 20:30] = 1  # 100 pixels; quality 75 kept 64 of them, without a word
    path = tmp_path / "ISIC_0000001_segmentation.jpg"
    Image.fromarray(small).save(path, quality=75)
    assert 0 < np.asarray(Image.open(path)).max() < FAINT_LOSSY
    with pytest.raises(DataError, match=rf"{path.name} cannot be read as a mask: .*JPEG.*save .* as PNG"):
        open_mask(path)
    with pytest.raises(DataError, match=r"save .* as PNG"):
        load_mask(path, 16)


def test_the_file_check_names_it_before_training(tmp_path: Path) -> None:
    image, mask = tmp_path / "a.png", tmp_path / "a_segmentation.jpg"
    Image.new("RGB", (W, H), (120, 90, 80)).save(image)
    Image.fromarray(TRUTH.astype(np.uint8)).save(mask, quality=90)
    records = [Record(id="a", image_path=image, label=None, mask_path=mask)]
    problems = check_files(LabeledDataset("t", "segmentation", ["lesion"], records), workers=1)
    assert [p.path for p in problems] == [mask] and "as PNG" in problems[0].problem


def test_an_empty_jpeg_and_a_zero_255_jpeg_still_decode(tmp_path: Path) -> None:
    Image.new("L", (W, H), 0).save(tmp_path / "empty.jpg")
    assert not open_mask(tmp_path / "empty.jpg").any()
    Image.fromarray(np.where(TRUTH, 255, 0).astype(np.uint8)).save(tmp_path / "m.jpg", quality=75)
    mask = open_mask(tmp_path / "m.jpg")
    assert (mask & TRUTH).sum() / (mask | TRUTH).sum() > 0.9
