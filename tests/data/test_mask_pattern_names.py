"""Every image gets its own mask (issue 31, item 2, other instances): a `mask_pattern` whose `{id}` is cut by
a format spec (`{id:.3}`) or quoted (`{id!r}`), a pattern with a folder part, and two images whose ids
differ only in their extension (both fill the pattern with one stem) are refused in one line. Before,
`{id:.3}_mask.png` gave all 10 images one mask file and `describe` said every mask was readable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lesionlab.cli import app
from lesionlab.data.sources import load_folder
from lesionlab.errors import ConfigError, DataError

runner = CliRunner()


def _folder(tmp_path: Path, ids: list[str]) -> tuple[Path, Path, Path]:
    """Images named by `ids` (with their extension, or .png), a lesion mask per stem, and the CSV."""
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    for image_id in ids:
        name = image_id if Path(image_id).suffix else f"{image_id}.png"
        Image.new("RGB", (8, 8), (120, 90, 70)).save(images / name)
        arr = np.zeros((8, 8), np.uint8)
        arr[2:6, 2:6] = 255
        Image.fromarray(arr).save(masks / f"{Path(image_id).stem}_mask.png")
    csv = tmp_path / "labels.csv"
    csv.write_text("image_id,label\n" + "".join(f"{i},lesion\n" for i in ids))
    return images, csv, masks


@pytest.mark.parametrize("pattern", ["{id:.3}_mask.png", "{id!r}_mask.png", "{id:>12}_mask.png"])
def test_a_pattern_that_changes_the_id_is_refused(tmp_path: Path, pattern: str) -> None:
    images, csv, masks = _folder(tmp_path, [f"img{k}" for k in range(10)])
    Image.new("L", (8, 8), 255).save(masks / "img_mask.png")  # what `{id:.3}` makes of every id
    with pytest.raises(ConfigError, match=r"conversion \(!r\) or format"):
        load_folder(images, csv, masks=masks, mask_pattern=pattern)
    args = ["datasets", "describe", "folder", "--root", str(images), "--csv", str(csv), "--masks", str(masks)]
    result = runner.invoke(app, [*args, "--mask-pattern", pattern])
    assert isinstance(result.exception, ConfigError), result.output
    assert "readable" not in result.output


@pytest.mark.parametrize("pattern", ["sub/{id}_mask.png", "../masks/{id}_mask.png", "..\\{id}_mask.png"])
def test_a_pattern_with_a_folder_part_is_refused(tmp_path: Path, pattern: str) -> None:
    images, csv, masks = _folder(tmp_path, ["a", "b"])
    with pytest.raises(ConfigError, match="without a folder part"):
        load_folder(images, csv, masks=masks, mask_pattern=pattern)


def test_two_images_that_would_share_one_mask_are_refused(tmp_path: Path) -> None:
    images, csv, masks = _folder(tmp_path, ["a.png", "b.png"])
    Image.new("RGB", (8, 8), (10, 20, 30)).save(images / "a.jpg")  # a second image with the stem `a`
    csv.write_text("image_id,label\na.png,lesion\na.jpg,lesion\nb.png,lesion\n")
    with pytest.raises(DataError, match=r"a_mask.png for 'a.png', 'a.jpg'") as info:
        load_folder(images, csv, masks=masks, mask_pattern="{id}_mask.png")
    assert "\n" not in str(info.value) and "its own mask" in str(info.value)


def test_the_whole_id_once_or_twice_is_taken(tmp_path: Path) -> None:
    images, csv, masks = _folder(tmp_path, ["a", "b"])
    for stem in ("a", "b"):
        (masks / f"{stem}_mask.png").rename(masks / f"{stem}-{stem}.png")
    ds = load_folder(images, csv, masks=masks, mask_pattern="{id}-{id}.png")
    assert sorted(Path(r.mask_path).name for r in ds.records) == ["a-a.png", "b-b.png"]
