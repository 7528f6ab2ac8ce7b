"""The activation cache survives damaged entries, a full disk and a cache path that is a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import lesionlab.training.activations as act_mod
from lesionlab.data.cache import ImageCache
from lesionlab.models.classifier import LesionClassifier
from lesionlab.models.registry import create_classifier
from lesionlab.training.activations import ActivationCache, clear_memory


@pytest.fixture(scope="module")
def model() -> LesionClassifier:
    return create_classifier("efficientnet_lite0", 2, "none", seed=0)


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    paths = []
    for i in range(3):
        arr = np.random.default_rng(i).integers(0, 256, (20, 28, 3), dtype=np.uint8)
        Image.fromarray(arr).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    return paths


def _cache(model: LesionClassifier, cache_dir: Path | None, resize: str = "squash") -> ActivationCache:
    clear_memory()  # a new process: only the disk is shared
    images = ImageCache(None, 32, "none", resize=resize)
    return ActivationCache(model, 2, images, cache_dir=cache_dir, show_progress=False)


def _damage(entry: Path, how: str) -> None:
    if how == "empty":
        entry.write_bytes(b"")
    elif how == "truncated":
        entry.write_bytes(entry.read_bytes()[:-10])
    elif how == "huge_shape":
        header = "{'descr': '<f2', 'fortran_order': False, 'shape': (99999999, 24, 8, 8), }".ljust(117) + "\n"
        entry.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
    elif how == "wrong_dtype":
        np.save(entry, np.zeros((2, 2, 2), np.float64))
    elif how == "garbage":
        entry.write_bytes(b"not a numpy file at all")


@pytest.mark.parametrize("how", ["empty", "truncated", "huge_shape", "wrong_dtype", "garbage"])
def test_damaged_entry_is_recomputed(
    model: LesionClassifier, images: list[Path], tmp_path: Path, how: str, offline_single_thread: None
) -> None:
    first = _cache(model, tmp_path / "c").get(images, 2)
    entries = sorted((tmp_path / "c" / "activations").rglob("*.npy"))
    assert len(entries) == 6
    _damage(entries[0], how)
    again = _cache(model, tmp_path / "c").get(images, 2)  # was a numpy traceback or "Aborted."
    assert torch.equal(first, again)
    rewritten = np.load(entries[0])
    assert rewritten.dtype == np.float16 and rewritten.shape == tuple(again.shape[2:])
    third = _cache(model, tmp_path / "c").get(images, 2)  # rewritten: read back intact
    assert torch.equal(first, third)


def test_cache_path_that_is_a_file_warns_once_and_still_works(
    model: LesionClassifier, images: list[Path], tmp_path: Path, offline_single_thread: None
) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    expected = _cache(model, None).get(images)
    with pytest.warns(RuntimeWarning) as caught:
        out = _cache(model, blocker).get(images)
    assert torch.equal(out, expected) and len(caught) == 1
    message = str(caught[0].message)
    assert str(blocker) in message and "LESIONLAB_CACHE" in message and "lesionlab cache clear" in message


def test_full_disk_warns_once_and_leaves_no_temporaries(
    model: LesionClassifier,
    images: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    offline_single_thread: None,
) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    expected = _cache(model, None).get(images, 2)
    monkeypatch.setattr(act_mod.np, "save", full)
    with pytest.warns(RuntimeWarning, match="No space left on device") as caught:
        out = _cache(model, tmp_path / "c").get(images, 2)
    assert torch.equal(out, expected) and len(caught) == 1
    assert not [p for p in (tmp_path / "c").rglob("*") if p.is_file()]


def test_resize_is_part_of_the_folder_and_changes_the_activations(
    model: LesionClassifier, images: list[Path], tmp_path: Path, offline_single_thread: None
) -> None:
    squash = _cache(model, tmp_path / "c").get(images)
    pad = _cache(model, tmp_path / "c", resize="pad").get(images)
    assert not torch.equal(squash, pad)
    names = sorted(p.name for p in (tmp_path / "c" / "activations").iterdir())
    assert len(names) == 2 and names[1].endswith("_s0_pad") and not names[0].endswith("_pad")
