"""Third reading of the project's import of a masks folder: no mask is skipped or taken unsaid.

Found:
- ISIC 2016's ground truth names its masks `<id>_Segmentation.png` (capital S); the import matched the
  suffix by case, so every such mask was "ignored" and the project kept no mask (ISIC 2017's lower-case
  names imported). The suffix is matched in any case now (as `project scan` skips them); two files of one
  image differing only in case are refused, naming both.
- an inverted mask (lesion dark on white) decodes as nearly full, and the import stored it without a word;
  masks covering more than 95 % of their image are listed now, and the command warns naming the files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lesionlab.cli import app as cli
from lesionlab.errors import DataError
from lesionlab.project import init_project
from lesionlab.project.interchange import import_masks

H, W = 12, 16


def _lesion() -> np.ndarray:
    m = np.zeros((H, W), dtype=np.uint8)
    m[3:9, 4:12] = 255
    return m


def _project(tmp_path: Path, n: int = 2):
    images = tmp_path / "images"
    images.mkdir()
    for k in range(n):
        Image.fromarray(np.full((H, W, 3), 70 + k, dtype=np.uint8)).save(images / f"ISIC_000000{k}.jpg")
    return init_project(
        tmp_path / "p", images, ["background", "lesion"], task="segmentation", show_progress=False
    )


def test_isic_2016_capitalised_mask_names_are_imported(tmp_path: Path) -> None:
    masks = tmp_path / "ISBI2016_ISIC_Part1_Training_GroundTruth"
    masks.mkdir()
    Image.fromarray(_lesion()).save(masks / "ISIC_0000000_Segmentation.png")
    Image.fromarray(_lesion()).save(masks / "ISIC_0000001_SEGMENTATION.PNG")
    with _project(tmp_path) as p:
        done = import_masks(p, masks)
        assert done["stored"] == 2 and done["ignored"] == [] and done["unknown"] == []
        for iid in ("ISIC_0000000", "ISIC_0000001"):
            assert p.mask_path(iid) is not None


def test_two_masks_of_one_image_differing_in_case_are_refused(tmp_path: Path) -> None:
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(_lesion()).save(masks / "ISIC_0000000_Segmentation.png")
    Image.fromarray(np.zeros((H, W), np.uint8)).save(masks / "ISIC_0000000_segmentation.png")
    with _project(tmp_path) as p:
        with pytest.raises(
            DataError, match=r"ISIC_0000000_Segmentation.png and .*ISIC_0000000_segmentation.png"
        ):
            import_masks(p, masks)
        assert p.mask_path("ISIC_0000000") is None  # nothing stored


def test_nearly_full_masks_are_listed_and_the_command_warns(tmp_path: Path) -> None:
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(255 - _lesion()).save(masks / "ISIC_0000000_segmentation.png")  # drawn dark on white
    inverted_small = np.full((H, W), 255, np.uint8)
    inverted_small[5, 5] = 0  # 99.5 % of the image
    Image.fromarray(inverted_small).save(masks / "ISIC_0000001_segmentation.png")
    with _project(tmp_path) as p:
        done = import_masks(p, masks)
    assert done["nearly_full"] == ["ISIC_0000001_segmentation.png"]  # 75 % is not flagged
    masks_2 = tmp_path / "again"
    masks_2.mkdir()
    Image.fromarray(inverted_small).save(masks_2 / "ISIC_0000000_segmentation.png")
    out = CliRunner().invoke(cli, ["project", "import", str(tmp_path / "p"), str(masks_2)])
    assert out.exit_code == 0, out.output
    assert "warning: 1 mask(s) cover more than 95 % of their image" in out.output
    assert "ISIC_0000000_segmentation.png" in out.output


def test_a_label_studio_import_lists_nearly_full_masks_too(tmp_path: Path) -> None:
    from lesionlab.project.interchange import import_labels
    from test_project_import_ls_brush import _brush, _tasks
    from test_project_import_ls_brush import _project as ls_project

    everything_but_a_corner = np.ones((16, 16), dtype=bool)
    everything_but_a_corner[0, 0] = False
    with ls_project(tmp_path) as p:
        done = import_labels(p, _tasks(tmp_path, [_brush(everything_but_a_corner, "Lesion")]))
    assert done["stored"] == 1 and done["nearly_full"] == ["img_000"]
