"""The segmentation runtime's decoded masks (kept in memory per mask file, so each is decoded once per fit)
are never served stale or for another file.

Found: the memo was keyed by the mask's path alone, so a mask file corrected (rewritten) while a trainer
lived (a notebook session, a long experiment whose masks were fixed between rounds) kept training on the
decoded old mask. The memo is keyed by the path, its size and its modification time now.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from lesionlab.config import TrainConfig
from lesionlab.data.records import Record
from lesionlab.models.unet import create_segmenter
from lesionlab.tasks import get_task
from lesionlab.training.factory import build_trainer


def _write(path: Path, box: tuple[slice, slice]) -> None:
    mask = np.zeros((32, 32), np.uint8)
    mask[box] = 255
    Image.fromarray(mask).save(path)


def test_a_rewritten_mask_file_is_decoded_again(tmp_path: Path) -> None:
    task = get_task("segmentation")
    config = TrainConfig(resolution=32, freeze_stages=0, progress=False, num_threads=1)
    trainer = build_trainer(task, create_segmenter("unet", "none", width=4), config, tmp_path / "cache")
    Image.new("RGB", (32, 32), (120, 90, 80)).save(tmp_path / "a.png")
    Image.new("RGB", (32, 32), (120, 90, 80)).save(tmp_path / "b.png")
    mask_a, mask_b = tmp_path / "a_segmentation.png", tmp_path / "b_segmentation.png"
    _write(mask_a, (slice(0, 8), slice(0, 8)))
    _write(mask_b, (slice(16, 32), slice(16, 32)))
    records = [Record("a", tmp_path / "a.png", 1, mask_a), Record("b", tmp_path / "b.png", 1, mask_b)]
    first = trainer.runtime.targets(records)
    assert first[0, :8, :8].all() and first[0].sum() == 64 and first[1, 16:, 16:].all()
    stamp = os.stat(mask_a).st_mtime_ns
    _write(mask_a, (slice(24, 32), slice(0, 32)))  # the mask corrected: a band at the bottom
    os.utime(mask_a, ns=(stamp + 10**9, stamp + 10**9))  # a later time even on a coarse clock
    again = trainer.runtime.targets(records)
    assert again[0, 24:, :].all() and again[0].sum() == 256
    assert np.array_equal(again[1], first[1])  # the other image's mask is its own, unchanged
