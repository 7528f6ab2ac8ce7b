"""A segmentation folder's CSV needs only `image_id`: its masks are its annotations (issue 31, item 8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.data.sources import load_folder
from lesionlab.errors import DataError


def _folder(tmp_path: Path, header: str, rows: list[str]) -> Path:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for k in range(3):
        Image.fromarray(np.full((8, 12, 3), 40 * k, np.uint8)).save(tmp_path / "images" / f"a{k}.png")
        mask = np.zeros((8, 12), np.uint8)
        mask[2:6, 3:9] = 255
        Image.fromarray(mask).save(tmp_path / "masks" / f"a{k}_segmentation.png")
    (tmp_path / "list.csv").write_text("\n".join([header, *rows]) + "\n")
    return tmp_path


def test_ids_only_csv_with_masks_loads_every_image_with_its_mask(tmp_path: Path) -> None:
    root = _folder(tmp_path, "image_id", ["a0", "a1", "a2"])
    dataset = load_folder(root / "images", root / "list.csv", masks=root / "masks")
    assert dataset.classes == ["lesion"]
    records = dataset.records
    assert [r.id for r in records] == ["a0", "a1", "a2"]
    assert all(r.label == 0 and r.mask_path is not None for r in records)


def test_without_masks_the_label_column_is_still_required(tmp_path: Path) -> None:
    root = _folder(tmp_path, "image_id", ["a0", "a1", "a2"])
    with pytest.raises(DataError, match="missing required column"):
        load_folder(root / "images", root / "list.csv")
