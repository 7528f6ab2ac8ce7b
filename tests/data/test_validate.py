"""check_files and describe on tiny generated images, plus the embedded demo data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from lesionlab.data.demo_subset import demo_root
from lesionlab.data.records import LabeledDataset, Record
from lesionlab.data.sources import load_isic2017
from lesionlab.data.validate import FileProblem, check_files, describe


def _noise_jpeg(path: Path, size: int = 64) -> Path:
    """A JPEG with enough entropy-coded data that cutting it in half really truncates the scan."""
    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return path


def _mask(path: Path, size: int = 64) -> Path:
    Image.new("L", (size, size), 255).save(path)
    return path


def _dataset(records: list[Record]) -> LabeledDataset:
    return LabeledDataset("test", "melanoma", ["other", "melanoma"], records)


@pytest.fixture
def clean(tmp_path: Path) -> LabeledDataset:
    return _dataset(
        [
            Record("a", _noise_jpeg(tmp_path / "a.jpg"), 0, _mask(tmp_path / "a_seg.png"), "train"),
            Record("b", _noise_jpeg(tmp_path / "b.jpg"), 1, None, "val"),
            Record("c", _noise_jpeg(tmp_path / "c.jpg"), None, None, "train"),
        ]
    )


def test_clean_set_passes(clean: LabeledDataset) -> None:
    assert check_files(clean) == []
    text = describe(clean)
    assert clean.summary() in text
    assert "files: all 3 images and 1 masks readable" in text
    assert "note: no test split" in text


def test_finds_truncated_unreadable_missing_and_wrong_size_mask(
    tmp_path: Path, clean: LabeledDataset
) -> None:
    truncated = _noise_jpeg(tmp_path / "t.jpg")
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not an image")
    small_mask = _mask(tmp_path / "m_seg.png", size=32)
    bad_mask = tmp_path / "bad_seg.png"
    bad_mask.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    ds = clean.subset(
        [
            *clean.records,
            Record("t", truncated, 0),
            Record("junk", junk, 0),
            Record("gone", tmp_path / "gone.jpg", 1),
            Record("m", _noise_jpeg(tmp_path / "m.jpg"), 1, small_mask),
            Record("bm", _noise_jpeg(tmp_path / "bm.jpg"), 1, bad_mask),
        ]
    )
    problems = check_files(ds)
    by_path = {p.path: p.problem for p in problems}
    assert set(by_path) == {truncated, junk, tmp_path / "gone.jpg", small_mask, bad_mask}
    assert "cannot be read" in by_path[truncated] and "truncated" in by_path[truncated]
    assert "cannot be read" in by_path[junk]
    assert by_path[tmp_path / "gone.jpg"] == "file not found"
    assert "32x32" in by_path[small_mask] and "64x64" in by_path[small_mask]
    assert by_path[bad_mask].startswith("mask cannot be read")
    assert all(isinstance(p, FileProblem) for p in problems)
    text = describe(ds)
    assert "files: 5 problem(s)" in text and str(junk) in text


def test_truncation_found_even_when_pil_is_lenient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    truncated = _noise_jpeg(tmp_path / "t.jpg")
    truncated.write_bytes(truncated.read_bytes()[:-400])
    assert [p.path for p in check_files(_dataset([Record("t", truncated, 0)]))] == [truncated]
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


def test_progress_flag_without_terminal(clean: LabeledDataset) -> None:
    assert check_files(clean, progress=True) == []


def test_demo_data_files_are_valid() -> None:
    ds = load_isic2017(demo_root(), task="3class")
    assert check_files(ds) == []


def test_describe_reuses_given_problems(clean: LabeledDataset, tmp_path: Path) -> None:
    given = [FileProblem(tmp_path / "x.jpg", "made up")]
    assert f"  {tmp_path / 'x.jpg'}: made up" in describe(clean, problems=given)
