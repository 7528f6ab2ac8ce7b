"""Third reading of the training data path: a mask on disk is found whatever the case of its name.

Found: `find_masks` (the folder source and ISIC 2017) looked each mask up by its exact name, so a mask
saved as `b_segmentation.PNG` (a Windows export) or `c_Segmentation.png` (ISIC 2016's naming) was taken
for no mask at all: a segmentation pool holds only images with a mask, so those images were left out of
training and evaluation without a word (the summary said "masks: 1 of 3 images"). A name matching only in
case is taken now when it is the only one; two such files of one image are refused, naming both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.data.sources import load_folder
from lesionlab.errors import DataError


def _folder(tmp_path: Path, mask_names: dict[str, str]) -> tuple[Path, Path, Path]:
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for image_id, name in mask_names.items():
        Image.new("RGB", (8, 8), (120, 90, 70)).save(images / f"{image_id}.jpg")
        arr = np.zeros((8, 8), np.uint8)
        arr[2:6, 2:6] = 255
        Image.fromarray(arr).save(masks / name, format="PNG")
    csv = tmp_path / "labels.csv"
    csv.write_text("image_id\n" + "".join(f"{i}\n" for i in mask_names))
    return images, csv, masks


def test_masks_named_in_another_case_are_found(tmp_path: Path) -> None:
    names = {"a": "a_segmentation.png", "b": "b_segmentation.PNG", "c": "c_Segmentation.png"}
    images, csv, masks = _folder(tmp_path, names)
    ds = load_folder(images, csv, masks=masks)
    assert {r.id: Path(r.mask_path).name for r in ds.records if r.mask_path} == names
    assert "masks: 3 of 3 images" in ds.summary()


def test_the_exact_name_wins_and_two_others_are_refused(tmp_path: Path) -> None:
    images, csv, masks = _folder(tmp_path, {"a": "a_segmentation.png", "b": "b_Segmentation.png"})
    Image.new("L", (8, 8), 0).save(masks / "a_SEGMENTATION.png")  # beside the exact name: not asked for
    ds = load_folder(images, csv, masks=masks)
    assert Path(ds.records[0].mask_path).name == "a_segmentation.png"
    Image.new("L", (8, 8), 0).save(masks / "b_segmentation.PNG")
    with pytest.raises(DataError, match=r"b_Segmentation.png, b_segmentation.PNG.* image 'b'"):
        load_folder(images, csv, masks=masks)


def test_another_images_exact_mask_is_not_taken_as_a_case_match(tmp_path: Path) -> None:
    images, csv, masks = _folder(tmp_path, {"A": "A_segmentation.png"})
    Image.new("RGB", (8, 8), (1, 2, 3)).save(images / "a.jpg")  # a second image, its mask not drawn yet
    if (images / "A.jpg").read_bytes() == (images / "a.jpg").read_bytes():
        pytest.skip("a case-insensitive file system: A.jpg and a.jpg are one file")
    csv.write_text("image_id\nA\na\n")
    ds = load_folder(images, csv, masks=masks)
    assert {r.id: r.mask_path and Path(r.mask_path).name for r in ds.records} == {
        "A": "A_segmentation.png",
        "a": None,
    }
