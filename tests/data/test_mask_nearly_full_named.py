"""Third reading of the training data path: a mask that is nearly all lesion is named, never used unsaid.

Found: `describe` (and every command that trains or scores on masks) warned at a mask that is exactly full,
or when the median mask covers more than 70 %; one inverted mask (lesion drawn dark on white: 99 % of its
image) among correct ones passed without a word and trained as lesion everywhere but the lesion. Masks
covering more than 95 % of their image are now named in a warning line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from lesionlab.data.mask_stats import MaskSummary, check_masks
from lesionlab.data.sources import load_folder
from lesionlab.data.validate import describe, inspect_files

N = 6


def _folder(tmp_path: Path) -> tuple[Path, Path, Path]:
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for k in range(N):
        Image.new("RGB", (20, 20), (120, 90, 70)).save(images / f"i{k}.png")
        arr = np.zeros((20, 20), np.uint8)
        arr[5:15, 5:15] = 255  # 25 %
        if k == 2:
            arr = np.full((20, 20), 255, np.uint8)
            arr[9:11, 9:11] = 0  # a small lesion drawn dark on white: 99 % "lesion"
        Image.fromarray(arr).save(masks / f"i{k}_segmentation.png")
    csv = tmp_path / "labels.csv"
    csv.write_text("image_id\n" + "".join(f"i{k}\n" for k in range(N)))
    return images, csv, masks


def test_describe_names_a_nearly_full_mask(tmp_path: Path) -> None:
    images, csv, masks = _folder(tmp_path)
    ds = load_folder(images, csv, masks=masks)
    text = describe(ds, report=inspect_files(ds, workers=1))
    assert "0 full (of 6)" in text
    assert "warning: 1 of 6 masks cover more than 95 % of their image" in text
    assert "i2_segmentation.png" in text


def test_commands_that_train_print_it_too(tmp_path: Path, capsys) -> None:
    fractions = {tmp_path / f"m{k}.png": 0.25 for k in range(5)} | {tmp_path / "bad.png": 0.99}
    check_masks(fractions)
    assert "bad.png" in capsys.readouterr().err
    at_95 = {tmp_path / f"m{k}.png": 0.25 for k in range(5)} | {tmp_path / "big.png": 0.95}
    assert MaskSummary.of(at_95).lines()[1:] == []  # 95 % itself is not flagged
