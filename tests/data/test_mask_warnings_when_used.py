"""Masks that `describe` warns about are warned about by the commands that use them too (issue 31, item 1,
another instance): a segmentation set with 4 of 10 masks empty (under the 50 % refusal) trained without
a word unless the user had run `describe`; `load_dataset` now prints describe's warnings on stderr."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from lesionlab.data.loading import load_dataset


def _config(tmp_path: Path, n_empty: int, task: str = "segmentation") -> SimpleNamespace:
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    for k in range(10):
        Image.new("RGB", (8, 8), (120, 90, 70)).save(images / f"i{k}.png")
        arr = np.zeros((8, 8), np.uint8)
        if k >= n_empty:
            arr[2:6, 2:6] = 255
        Image.fromarray(arr).save(masks / f"i{k}_mask.png")
    csv = tmp_path / "labels.csv"
    csv.write_text("image_id,label\n" + "".join(f"i{k},lesion\n" for k in range(10)))
    options = {"csv": csv, "masks": masks, "mask_pattern": "{id}_mask.png"}
    data = SimpleNamespace(source="folder", root=images, task=None, options=options)
    return SimpleNamespace(data=data, check_files=True, task=task)


def test_training_on_many_empty_masks_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load_dataset(_config(tmp_path, n_empty=4))
    err = capsys.readouterr().err
    assert f"warning: 4 of 10 masks in {tmp_path / 'masks'} are empty (more than 10%)" in err
    assert "masks: foreground" not in err  # the warning, not describe's whole summary


def test_sound_masks_and_classification_say_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load_dataset(_config(tmp_path / "a", n_empty=1))
    load_dataset(_config(tmp_path / "b", n_empty=4, task="classification"))
    assert "warning" not in capsys.readouterr().err
