"""Several annotators' masks fused into one: a tie is no decision, and no stale file is ever read.

Found:
- `fuse_masks` took a pixel as lesion where at least half of the masks had it: with two annotators the
  union, so pixels only one person drew were trained on as agreed (and a 2-2 split of four likewise),
  where a class tie is unresolved. A pixel is now lesion where more than half drew it (a tie: background).
- a consensus file was named by the image's key and its annotations' ids alone and read back whenever it
  existed: a file fused by the earlier rule stayed the training mask after an upgrade, and one left in
  `masks/consensus/` by an earlier database (same key, same ids: a project folder set up again) was taken
  as the fusion of other masks. The name now carries the rule and the annotations' mask files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.project import init_project
from lesionlab.project.consensus import fuse_masks, mask_consensus
from project_fixtures import make_images


def test_a_tie_adds_no_pixel_only_half_drew() -> None:
    a, b, c, d = (np.zeros((4, 8), bool) for _ in range(4))
    a[:, :5], b[:, 1:6], c[:, 2:7], d[:, 3:8] = True, True, True, True
    assert np.array_equal(fuse_masks([a, b]), a & b)
    assert fuse_masks([a, b, c])[0].tolist() == [False, True, True, True, True, True, False, False]
    four = fuse_masks([a, b, c, d])[0]  # 3 or 4 of 4 votes in columns 2-5; 2-2 ties in 1 and 6
    assert four.tolist() == [False, False, True, True, True, True, False, False]
    assert np.array_equal(fuse_masks([a]), a)  # one annotator: their mask
    _, fused = mask_consensus([a, a], 2)
    assert fused is not None and np.array_equal(fused, a)


def _segmentation_project(tmp_path: Path):
    return init_project(
        tmp_path / "proj",
        tmp_path / "images",
        ["background", "lesion"],
        task="segmentation",
        show_progress=False,
        overlap=2,
    )


def _fused(p) -> np.ndarray:
    (record,) = p.records(labelled_only=True)
    return np.array(Image.open(record.mask_path)) > 0


def test_two_annotators_train_on_what_both_drew(tmp_path: Path) -> None:
    make_images(tmp_path / "images", n=1)
    a, b = np.zeros((32, 32), bool), np.zeros((32, 32), bool)
    a[8:20, 8:20], b[8:20, 9:21] = True, True  # Dice 0.92: agreed
    with _segmentation_project(tmp_path) as p:
        p.store_mask("img_000", a, "ana")
        p.store_mask("img_000", b, "bob")
        assert np.array_equal(_fused(p), a & b)
        from lesionlab.project.service.review import fused_mask

        assert np.array_equal(fused_mask(p, "img_000"), a & b)  # what the reviewer is shown


@pytest.mark.parametrize("new_process", [False, True])
def test_a_consensus_file_of_an_earlier_database_is_never_read(tmp_path: Path, new_process: bool) -> None:
    from lesionlab.project import mask_files

    make_images(tmp_path / "images", n=1)
    first, second = np.zeros((32, 32), bool), np.zeros((32, 32), bool)
    first[2:12, 2:12], second[18:30, 18:30] = True, True
    with _segmentation_project(tmp_path) as p:
        p.store_mask("img_000", first, "ana")
        p.store_mask("img_000", first, "bob")
        assert np.array_equal(_fused(p), first)
    # the project set up again in its folder (the masks folder kept): the same image key, the same ids
    (tmp_path / "proj" / "project.yaml").unlink()
    (tmp_path / "proj" / "project.db").unlink()
    shutil.rmtree(tmp_path / "proj" / "cache", ignore_errors=True)
    if new_process:
        mask_files._FUSED.clear()
    with _segmentation_project(tmp_path) as p:
        p.store_mask("img_000", second, "ana")
        p.store_mask("img_000", second, "bob")
        assert np.array_equal(_fused(p), second)


def test_a_file_fused_by_the_earlier_rule_is_not_read(tmp_path: Path) -> None:
    """A union left under the name the earlier rule gave it (key and ids) is not today's consensus."""
    import hashlib

    from lesionlab.project import mask_files

    make_images(tmp_path / "images", n=1)
    a, b = np.zeros((32, 32), bool), np.zeros((32, 32), bool)
    a[8:20, 8:20], b[8:20, 9:21] = True, True
    with _segmentation_project(tmp_path) as p:
        ids = [p.store_mask("img_000", a, "ana"), p.store_mask("img_000", b, "bob")]
        key = p.store.image("img_000").key
        old = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]
        mask_files.write_png(p.masks_dir / "consensus" / f"{key}-{old}.png", a | b)
        mask_files._FUSED.clear()
        assert np.array_equal(_fused(p), a & b)
