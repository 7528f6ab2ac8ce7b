"""Second reading of the Label Studio mask import (issue 33): the lesion's mask is its own brush label's
strokes. Found: every brushlabels result was OR-ed into the lesion, so a config with a lesion and a hair
(or ruler) layer stored the hair as lesion; and an annotation drawn with another tool (polygon, rectangle)
was read as "no brush" and left out without a word ("imported 0 label(s) of 0 read")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.data.preprocess import open_mask
from lesionlab.errors import DataError
from lesionlab.project import init_project
from lesionlab.project.brush_rle import decode_mask, encode, encode_mask
from lesionlab.project.interchange import import_labels

SIZE = 16


def _project(tmp_path: Path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.full((SIZE, SIZE, 3), 90, dtype=np.uint8)).save(folder / "img_000.png")
    return init_project(
        tmp_path / "p", folder, ["background", "lesion"], task="segmentation", show_progress=False
    )


def _brush(mask: np.ndarray, label: str) -> dict:
    return {
        "from_name": "tag",
        "to_name": "image",
        "type": "brushlabels",
        "original_width": SIZE,
        "original_height": SIZE,
        "value": {"format": "rle", "rle": encode_mask(mask), "brushlabels": [label]},
    }


def _tasks(tmp_path: Path, result: list[dict]) -> Path:
    path = tmp_path / "tasks.json"
    task = {
        "id": 7,
        "data": {"image": "/data/local-files/?d=img_000.png"},
        "annotations": [{"result": result}],
    }
    path.write_text(json.dumps([task]))
    return path


def test_only_the_lesions_brush_label_is_the_lesion(tmp_path: Path) -> None:
    lesion = np.zeros((SIZE, SIZE), dtype=bool)
    lesion[3:9, 4:11] = True
    hair = np.zeros((SIZE, SIZE), dtype=bool)
    hair[13, :] = True
    with _project(tmp_path) as p:
        path = _tasks(tmp_path, [_brush(hair, "Hair"), _brush(lesion, "Lesion")])
        assert import_labels(p, path)["stored"] == 1
        assert np.array_equal(open_mask(p.mask_path("img_000")), lesion), (
            "the hair layer was stored as lesion"
        )


def test_several_brush_labels_none_the_lesions_is_refused(tmp_path: Path) -> None:
    a = np.zeros((SIZE, SIZE), dtype=bool)
    a[2:5, 2:5] = True
    with _project(tmp_path) as p:
        path = _tasks(tmp_path, [_brush(a, "hair"), _brush(~a, "ruler")])
        with pytest.raises(DataError, match=r"several labels \(hair, ruler\) and none is .* 'lesion'"):
            import_labels(p, path)
        assert p.mask_path("img_000") is None


def test_one_brush_label_of_any_name_is_the_lesion(tmp_path: Path) -> None:
    a = np.zeros((SIZE, SIZE), dtype=bool)
    a[2:7, 3:9] = True
    with _project(tmp_path) as p:
        assert import_labels(p, _tasks(tmp_path, [_brush(a, "Melanoma")]))["stored"] == 1
        assert np.array_equal(open_mask(p.mask_path("img_000")), a)


def test_a_polygon_annotation_is_refused_not_left_out_unsaid(tmp_path: Path) -> None:
    polygon = {
        "from_name": "outline",
        "to_name": "image",
        "type": "polygonlabels",
        "original_width": SIZE,
        "original_height": SIZE,
        "value": {"points": [[10, 10], [60, 10], [40, 50]], "polygonlabels": ["lesion"]},
    }
    where = r"task 0 \(id 7\) \(img_000\), annotation 0: a polygonlabels"
    with _project(tmp_path) as p, pytest.raises(DataError, match=where):
        import_labels(p, _tasks(tmp_path, [polygon]))


@pytest.mark.parametrize("colour", [(0, 0, 0), (0, 0, 90), (255, 32, 32)])
def test_a_brush_layer_is_its_alpha_whatever_its_colour(colour: tuple[int, int, int]) -> None:
    """Label Studio's converter reads a layer's alpha; its colour is the label's. A layer painted over the
    whole frame in black (or a dark blue) was an opaque black RGBA image, and decoded as no lesion."""
    for drawn in (
        np.ones((SIZE, SIZE), dtype=bool),
        np.eye(SIZE, dtype=bool) | np.eye(SIZE, k=1, dtype=bool),
    ):
        layer = np.zeros((SIZE, SIZE, 4), dtype=np.uint8)
        layer[drawn] = (*colour, 255)
        assert np.array_equal(decode_mask(encode(layer.ravel()), SIZE, SIZE), drawn), colour
