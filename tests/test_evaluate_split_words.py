"""`lesionlab evaluate` words (issue 31, item 8, other instances): a split that does not exist (`--split
tset`) is refused by name before the run loads (it read as "no 'tset' images with a mask"), and the hint
that ISIC 2017 has masks for train and val only is given for ISIC 2017, not for a folder of one's own."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lesionlab.cli import app
from lesionlab.data.records import LabeledDataset, Record
from lesionlab.errors import ConfigError, DataError
from lesionlab.evaluation.segmentation import require_masks
from lesionlab.supervised import evaluate_run


@pytest.mark.parametrize("split", ["tset", "validation", "Test", ""])
def test_an_unknown_split_is_refused_before_anything_loads(tmp_path: Path, split: str) -> None:
    with pytest.raises(
        ConfigError, match=f"unknown --split '{split}': choose one of train, val, test or all"
    ):
        evaluate_run(tmp_path / "no_run", split=split)
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "no_run"), "--split", "tset"])
    assert "unknown --split 'tset'" in str(result.exception)


def _dataset(name: str, tmp_path: Path) -> LabeledDataset:
    records = [
        Record(f"i{k}", tmp_path / f"i{k}.png", 0, tmp_path / f"m{k}.png", split)
        for k, split in enumerate(["train", "val"])
    ]
    records.append(Record("t", tmp_path / "t.png", 0, None, "test"))
    return LabeledDataset(name, "lesion", ["lesion"], records)


def test_the_isic_mask_hint_is_for_isic_only(tmp_path: Path) -> None:
    for name, hinted in (("folder", False), ("isic2017", True)):
        dataset = _dataset(name, tmp_path)
        with pytest.raises(DataError, match="has no 'test' images with a mask") as info:
            require_masks(dataset, "test", dataset.split("test"))
        assert ("ISIC 2017 has masks" in str(info.value)) is hinted
