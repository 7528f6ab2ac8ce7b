"""An import is credited to one name, and a name's newest answer is its standing one. Importing under an
invited person's name, or the name of someone who answered in the page, replaced that expert's own answers
with the file's (and credited them with labels several people gave in Label Studio). Refused now, before
anything is read; the default name `import` (or any name of its own) still imports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.errors import DataError
from lesionlab.project import init_project
from lesionlab.project.interchange import import_labels, import_masks
from lesionlab.project.people import invite
from project_fixtures import make_images


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "gt.csv"
    path.write_text("image_id,melanoma\nimg_000,1.0\nimg_001,0.0\n")
    return path


def test_an_import_never_takes_the_name_of_someone_who_answered_in_the_page(tmp_path: Path) -> None:
    images = tmp_path / "images"
    make_images(images, n=3)
    with init_project(tmp_path / "p", images, ["other", "melanoma"], show_progress=False) as p:
        p.store.add_annotation("img_000", 0, annotator="alice")  # alice's answer, from the page
        with pytest.raises(DataError, match="'alice' is an annotator with answers from the page"):
            import_labels(p, _csv(tmp_path), annotator="alice")
        assert p.store.labels() == {"img_000": 0}  # her answer stands, nothing else stored
        done = import_labels(p, _csv(tmp_path), annotator="labelstudio")
        assert done["stored"] >= 1 and p.store.labels()["img_001"] == 0


def test_an_import_never_takes_an_invited_persons_name(tmp_path: Path) -> None:
    images = tmp_path / "images"
    make_images(images, n=3)
    with init_project(tmp_path / "p", images, ["other", "melanoma"], show_progress=False) as p:
        invite(p, "bob")
        with pytest.raises(DataError, match="'bob' is an invited person"):
            import_labels(p, _csv(tmp_path), annotator="bob")
        assert p.store.labels() == {}


def test_a_masks_import_never_takes_an_experts_name(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(folder / "img_000.png")
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(np.full((8, 8), 255, dtype=np.uint8)).save(masks / "img_000_segmentation.png")
    with init_project(
        tmp_path / "p", folder, ["background", "lesion"], task="segmentation", show_progress=False
    ) as p:
        invite(p, "carol")
        with pytest.raises(DataError, match="'carol' is an invited person"):
            import_masks(p, masks, annotator="carol")
        assert import_masks(p, masks)["stored"] == 1  # under `import`, as before
