"""What the model sees is what people see (issue 31, item 4): an image with alpha and an EXIF-rotated JPEG
give the same pixels in training (`load_image`) as in the report's and the audit's thumbnails, and the
project scan records the oriented size. Before the fix the thumbnails composited alpha on black (PIL's
`convert("RGB")` drops it, showing whatever RGB lies under transparent pixels) and ignored EXIF
orientation, so a reviewer saw a different (turned, darker) image than the one the model was trained on."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.audit.core import AuditResult
from lesionlab.audit.review_files import write_audit
from lesionlab.data.preprocess import EXIF_ORIENTATION, load_image
from lesionlab.evaluation.page import thumbnail
from lesionlab.project.scan import inspect_image

H, W = 48, 64


def rgba_image(folder: Path) -> Path:
    """Left half fully transparent over black, right half opaque red: white | red once composited."""
    arr = np.zeros((H, W, 4), np.uint8)
    arr[:, W // 2 :] = (200, 30, 30, 255)
    path = folder / "alpha.png"
    Image.fromarray(arr, "RGBA").save(path)
    return path


def rotated_jpeg(folder: Path) -> Path:
    """Shown as W x H with a red top-left quadrant; stored turned (EXIF orientation 6: rotate to view)."""
    shown = np.full((H, W, 3), 40, np.uint8)
    shown[: H // 2, : W // 2] = (220, 40, 40)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    path = folder / "turned.jpg"
    Image.fromarray(np.ascontiguousarray(np.rot90(shown, k=1))).save(path, quality=95, exif=exif)
    return path


CASES = {"rgba": rgba_image, "exif": rotated_jpeg}


def _decode_uri(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/jpeg;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))


def _same_pixels(shown: np.ndarray, trained: np.ndarray) -> None:
    assert shown.shape == trained.shape == (H, W, 3)  # 64 x 48 fits in a 96 px thumbnail unscaled
    assert np.abs(shown.astype(int) - trained.astype(int)).mean() < 6  # JPEG noise only


def _expected(case: str) -> np.ndarray:
    out = np.zeros((H, W, 3), np.uint8)
    if case == "rgba":
        out[:, : W // 2] = 255
        out[:, W // 2 :] = (200, 30, 30)
    else:
        out[:] = 40
        out[: H // 2, : W // 2] = (220, 40, 40)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_training_decodes_the_image_as_shown(tmp_path: Path, case: str) -> None:
    trained = load_image(CASES[case](tmp_path), None, "none")
    _same_pixels(_expected(case), trained)


@pytest.mark.parametrize("case", list(CASES))
def test_report_thumbnail_shows_the_training_pixels(tmp_path: Path, case: str) -> None:
    path = CASES[case](tmp_path)
    _same_pixels(_decode_uri(thumbnail(path)), load_image(path, None, "none"))


@pytest.mark.parametrize("case", list(CASES))
def test_audit_gallery_shows_the_training_pixels(tmp_path: Path, case: str) -> None:
    path = CASES[case](tmp_path)
    result = AuditResult(
        ids=["x"],
        classes=["a", "b"],
        given=np.array([0]),
        suggested=np.array([1]),
        score=np.array([0.9]),
        probs=np.array([[0.1, 0.9]]),
        signals={},
    )
    write_audit(result, tmp_path / "audit", paths={"x": path})
    html = (tmp_path / "audit" / "audit.html").read_text()
    [uri] = re.findall(r'src="(data:image/jpeg;base64,[^"]+)"', html)
    _same_pixels(_decode_uri(uri), load_image(path, None, "none"))


@pytest.mark.parametrize("case", list(CASES))
def test_project_scan_records_the_shown_size(tmp_path: Path, case: str) -> None:
    info = inspect_image(CASES[case](tmp_path))
    assert info["status"] == "ok" and (info["width"], info["height"]) == (W, H)


def test_a_thumbnail_of_an_unreadable_file_is_none(tmp_path: Path) -> None:
    (tmp_path / "junk.png").write_bytes(b"not an image")
    assert thumbnail(tmp_path / "junk.png") is None and thumbnail(tmp_path / "absent.png") is None
