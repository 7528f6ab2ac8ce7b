"""Second reading of the project's scan (issue 33): the files ISIC keeps beside its images are not images.
Found: the ISIC 2017 training download holds a `*_superpixels.png` beside each image, and many folders
keep `*_segmentation.png` masks beside theirs; `project init` took them all as images, so experts were
offered superpixel maps and masks to label and draw on. They are recorded as skipped now, with the reason,
and such a folder can be its own `--labels` masks folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from lesionlab.project import init_project
from lesionlab.project.interchange import import_masks


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "ISIC-2017_Training_Data"
    folder.mkdir()
    for k in range(2):
        iid = f"ISIC_000000{k}"
        Image.fromarray(np.full((16, 16, 3), 60 + k, dtype=np.uint8)).save(folder / f"{iid}.jpg")
        labels = np.arange(256, dtype=np.uint32).reshape(16, 16)
        Image.fromarray(np.stack([labels % 256] * 3, -1).astype(np.uint8)).save(
            folder / f"{iid}_superpixels.png"
        )
    mask = np.zeros((16, 16), dtype=np.uint8)
    mask[4:12, 3:9] = 255
    Image.fromarray(mask).save(folder / "ISIC_0000000_Segmentation.png")
    Image.fromarray(mask).save(folder / "ISIC_0000001_segmentation.png")
    return folder


def test_superpixel_maps_and_masks_beside_the_images_are_not_images(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    with init_project(
        tmp_path / "p", folder, ["background", "lesion"], task="segmentation", show_progress=False
    ) as p:
        assert p.store.image_ids() == ["ISIC_0000000", "ISIC_0000001"]
        skipped = {r["image_id"]: r for r in p.scan.problems}
        assert set(skipped) == {
            "ISIC_0000000_superpixels",
            "ISIC_0000001_superpixels",
            "ISIC_0000000_Segmentation",
            "ISIC_0000001_segmentation",
        }
        assert all(r["status"] == "not_image" for r in skipped.values())
        assert "*_superpixels.png" in skipped["ISIC_0000000_superpixels"]["problem"]
        assert {r["status"] for r in p.check_images()} == {"not_image"}  # a re-check leaves them out
        assert p.store.image_ids() == ["ISIC_0000000", "ISIC_0000001"]
        done = import_masks(p, folder)  # the same folder holds the masks
        assert done["stored"] == 2 and done["unknown"] == []  # ISIC 2016's _Segmentation.png too


def test_an_image_merely_containing_the_word_is_an_image(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("segmentation_study_01.png", "lesion_superpixels_x.png", "a_segmentation.jpg"):
        Image.fromarray(np.full((8, 8, 3), 90, dtype=np.uint8)).save(folder / name)
    with init_project(tmp_path / "p", folder, ["a", "b"], show_progress=False) as p:
        assert len(p.store.image_ids()) == 3
