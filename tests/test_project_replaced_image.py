"""An image file replaced after its masks were drawn never trains with them stretched onto it.

Found: `check_images` (`project status`, `serve`) re-inspected a file whose size changed but kept the
image's recorded geometry and said nothing when it still decoded. A file replaced by one of another
geometry (a portrait re-export of a landscape image, a new EXIF orientation) kept its masks drawn on the
earlier file: training squashed both to a square and learned a lesion where there was none, the page's
new drawings were refused as "another version of this image" for ever. Such an image is now `changed`
(left out, named with both sizes) until the earlier file is back; a replacement of the same geometry,
or of an image without masks, is recorded as the image's file now. `train` and `export` check first.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from lesionlab.project import init_project, open_project
from lesionlab.project.interchange import export_project
from project_fixtures import make_images


def _project(tmp_path: Path, task: str = "segmentation"):
    make_images(tmp_path / "images", n=1)
    Image.new("RGB", (40, 24), (150, 100, 90)).save(tmp_path / "images" / "wide.png")
    classes = ["background", "lesion"] if task == "segmentation" else ["other", "melanoma"]
    return init_project(tmp_path / "proj", tmp_path / "images", classes, task=task, show_progress=False)


def _lesion() -> np.ndarray:
    mask = np.zeros((24, 40), bool)
    mask[:, :10] = True  # along the left edge
    return mask


def test_a_file_replaced_in_another_geometry_leaves_its_masks_out(tmp_path: Path) -> None:
    with _project(tmp_path) as p:
        p.store_mask("wide", _lesion(), "ana")
        p.store_mask("img_000", np.eye(32, dtype=bool), "ana")
    original = tmp_path / "wide_original.png"
    shutil.copyfile(tmp_path / "images" / "wide.png", original)
    Image.new("RGB", (24, 40), (150, 100, 90)).save(tmp_path / "images" / "wide.png")  # portrait now
    with open_project(tmp_path / "proj") as p:
        (problem,) = p.check_images()
        assert problem["image_id"] == "wide" and problem["status"] == "changed"
        assert "24x40" in problem["problem"] and "40x24" in problem["problem"]
        assert [r.id for r in p.records(labelled_only=True)] == ["img_000"]
        done = export_project(p, tmp_path / "out", ("masks",))
        assert done["masks"]["files"] == 1
    shutil.copyfile(original, tmp_path / "images" / "wide.png")  # the earlier file back
    with open_project(tmp_path / "proj") as p:
        assert p.check_images() == []
        assert {r.id for r in p.records(labelled_only=True)} == {"img_000", "wide"}


def test_other_replacements_are_recorded_as_the_file_now(tmp_path: Path) -> None:
    with _project(tmp_path) as p:
        p.store_mask("wide", _lesion(), "ana")
    Image.new("RGB", (40, 24), (160, 110, 95)).save(tmp_path / "images" / "wide.png")  # same geometry
    Image.new("RGB", (20, 36), (150, 100, 90)).save(tmp_path / "images" / "img_000.png")  # no masks
    (tmp_path / "images" / "img_000.jpg").unlink()
    shutil.move(tmp_path / "images" / "img_000.png", tmp_path / "images" / "img_000.jpg")
    with open_project(tmp_path / "proj") as p:
        assert p.check_images() == []
        row = p.store.image("img_000")
        assert (row.status, row.width, row.height) == ("ok", 20, 36)  # the page draws on it at its size
        assert (tmp_path / "images" / "img_000.jpg").stat().st_size == row.size_bytes
        assert {r.id for r in p.records(labelled_only=True)} == {"wide"}


def test_a_classification_project_keeps_its_labels_on_a_turned_file(tmp_path: Path) -> None:
    with _project(tmp_path, task="classification") as p:
        p.store.add_annotation("wide", 1, "ana")
    Image.new("RGB", (24, 40), (150, 100, 90)).save(tmp_path / "images" / "wide.png")
    with open_project(tmp_path / "proj") as p:
        assert p.check_images() == []
        assert (p.store.image("wide").width, p.store.image("wide").height) == (24, 40)
        assert p.store.labels() == {"wide": 1}
