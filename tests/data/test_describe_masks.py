"""What `datasets describe` says about masks, and the refusal of degenerate masks before training (issue 31,
items 1 and 2). Before the fix, describe said "all readable" for masks that decoded empty, training ran to
Dice 0.000, and a `mask_pattern` without `{id}` gave every image the same mask ("masks: 20 of 20")."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fake_isic import make_tiny_isic
from lesionlab.cli import app
from lesionlab.config import TrainRunConfig, load_config
from lesionlab.data.loading import load_dataset
from lesionlab.data.mask_stats import MaskSummary, check_masks
from lesionlab.data.sources import load_folder
from lesionlab.data.validate import describe, inspect_files
from lesionlab.errors import ConfigError, DataError
from lesionlab.supervised import train_run

runner = CliRunner()
N = 10


def _folder(
    tmp_path: Path, n_empty: int = 0, n_full: int = 0, inverted: bool = False
) -> tuple[Path, Path, Path]:
    """N images with masks named {id}_mask.png: the first `n_empty` empty, the next `n_full` full, the rest
    a 4 x 4 lesion (25 % of the 8 x 8 image), drawn dark on white when `inverted`."""
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    for k in range(N):
        Image.new("RGB", (8, 8), (120, 90, 70)).save(images / f"i{k}.png")
        arr = np.zeros((8, 8), np.uint8)
        if k >= n_empty + n_full:
            arr[2:6, 2:6] = 255
        elif k >= n_empty:
            arr[:] = 255
        Image.fromarray(255 - arr if inverted else arr).save(masks / f"i{k}_mask.png")
    csv = tmp_path / "labels.csv"
    csv.write_text("image_id,label\n" + "".join(f"i{k},lesion\n" for k in range(N)))
    return images, csv, masks


def _describe(tmp_path: Path, **kwargs: int | bool) -> str:
    images, csv, masks = _folder(tmp_path, **kwargs)
    ds = load_folder(images, csv, masks=masks, mask_pattern="{id}_mask.png")
    return describe(ds, report=inspect_files(ds, workers=1))


def test_describe_reports_the_foreground_fraction_of_each_mask(tmp_path: Path) -> None:
    text = _describe(tmp_path, n_empty=1)
    assert "files: all 10 images and 10 masks readable" in text
    assert (
        "masks: foreground 0.0 % min / 25.0 % median / 25.0 % max of each image; 1 empty, 0 full (of 10)"
        in text
    )
    assert "warning" not in text  # 1 of 10 empty is not more than 10 %


def test_describe_warns_about_empty_full_and_inverted_masks(tmp_path: Path) -> None:
    empty = _describe(tmp_path / "e", n_empty=2)
    assert f"warning: 2 of 10 masks in {tmp_path / 'e' / 'masks'} are empty (more than 10%)" in empty
    full = _describe(tmp_path / "f", n_full=1)
    assert "warning: 1 of 10 masks in" in full and "are full (every pixel is lesion)" in full
    inverted = _describe(tmp_path / "i", inverted=True)
    assert "covers 75.0 % of its image; are the masks inverted (lesion dark on white)?" in inverted


def test_describe_says_training_refuses_mostly_empty_masks(tmp_path: Path) -> None:
    text = _describe(tmp_path, n_empty=6)
    assert "warning: segmentation training refuses these masks: 6 of 10 masks in" in text
    assert "are empty (more than 50%)" in text


def test_segmentation_training_refuses_mostly_empty_masks_in_one_line(tmp_path: Path) -> None:
    images, csv, masks = _folder(tmp_path, n_empty=6)
    options = {"csv": csv, "masks": masks, "mask_pattern": "{id}_mask.png"}
    data = SimpleNamespace(source="folder", root=images, task=None, options=options)
    with pytest.raises(DataError) as err:
        load_dataset(SimpleNamespace(data=data, check_files=True, task="segmentation"))
    message = str(err.value)
    assert "\n" not in message and str(masks) in message and "mask_pattern" in message
    assert message.startswith("masks unusable for segmentation: 6 of 10 masks in")
    # Classification ignores masks, and 5 of 10 (not more than half) is only a warning.
    load_dataset(SimpleNamespace(data=data, check_files=True, task="classification"))
    check_masks({Path(f"m{k}"): float(k >= 5) for k in range(10)})
    with pytest.raises(DataError, match=r"6 of 10 masks in .* are full"):
        check_masks({Path(f"m{k}"): float(k < 6) for k in range(10)})


def test_train_run_stops_on_empty_masks_before_any_training(tmp_path: Path) -> None:
    tiny = make_tiny_isic(tmp_path / "isic", masks=True)
    for mask in (tiny.root / "ISIC-2017_Training_Part1_GroundTruth").glob("*.png"):
        Image.new("L", Image.open(mask).size, 0).save(mask)  # a lost export: every mask black
    out = tmp_path / "run"
    config = {
        "task": "segmentation",
        "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
        "model": {"backbone": "unet", "width": 4, "weights": "none"},
        "train": {"resolution": 32, "epochs": 1, "num_threads": 1, "progress": False},
        "output": str(out),
        "cache_dir": str(tmp_path / "cache"),
    }
    with pytest.raises(
        DataError, match=r"masks unusable for segmentation: 40 of 52 masks in .*Training_Part1"
    ):
        train_run(load_config(TrainRunConfig, config))
    assert not (out / "model.pt").exists() and not (tmp_path / "cache").exists()


def test_cli_describe_prints_the_mask_lines(tmp_path: Path) -> None:
    images, csv, masks = _folder(tmp_path, n_empty=6)
    args = ["datasets", "describe", "folder", "--root", str(images), "--csv", str(csv)]
    result = runner.invoke(
        app, [*args, "--masks", str(masks), "--mask-pattern", "{id}_mask.png"], terminal_width=300
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "6 empty, 0 full (of 10)" in said and "segmentation training refuses" in said


@pytest.mark.parametrize(
    "pattern", ["mask.png", "{}_mask.png", "{name}_mask.png", "{{id}}.png", "{id}_{x}.png"]
)
def test_a_mask_pattern_without_id_is_refused(tmp_path: Path, pattern: str) -> None:
    images, csv, masks = _folder(tmp_path)
    (masks / "mask.png").write_bytes((masks / "i0_mask.png").read_bytes())  # one file all ids would share
    with pytest.raises(ConfigError, match=r"must contain \{id\} \(the image id\)"):
        load_folder(images, csv, masks=masks, mask_pattern=pattern)
    args = ["datasets", "describe", "folder", "--root", str(images), "--csv", str(csv), "--masks", str(masks)]
    result = runner.invoke(app, [*args, "--mask-pattern", pattern])
    assert isinstance(result.exception, ConfigError) and "masks: 10 of 10" not in result.output


def test_summary_of_no_masks_says_nothing() -> None:
    assert MaskSummary.of({}).lines() == [] and MaskSummary.of({}).refusal() is None
