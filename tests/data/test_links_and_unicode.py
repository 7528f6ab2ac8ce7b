"""Image folders with symbolic link loops, and ids whose Unicode form differs from the file name's (issue 31,
item 7). Before the fix a looping link in an image folder stopped describe, train, audit, pretrain and
`evaluate --data` with an OSError traceback (`DirEntry.is_file` raises ELOOP), and a file name saved in NFD
(as macOS writes `é`) was "not found" for the NFC id in the CSV."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from test_sources import make_ham10000
from typer.testing import CliRunner

from fake_isic import make_tiny_isic
from lesionlab.cli import app
from lesionlab.data.loading import load_dataset
from lesionlab.data.sources import load_folder, load_ham10000, load_isic2017
from lesionlab.data.validate import inspect_files
from lesionlab.errors import DataError
from lesionlab.project.scan import image_files, scan_folder

runner = CliRunner()
NFC, NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")


def _loops(folder: Path, name: str = "self.png") -> Path:
    """A link to the folder inside itself, and a file link that points at itself."""
    os.symlink(folder, folder / "loop")
    os.symlink(folder / name, folder / name)
    return folder / name


def _images(folder: Path, ids: list[str], masks: Path | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, i in enumerate(ids):
        Image.new("RGB", (8, 8), (30 * k, 90, 60)).save(folder / f"{i}.png")
        if masks is not None:
            masks.mkdir(exist_ok=True)
            arr = np.zeros((8, 8), np.uint8)
            arr[2:6, 2:6] = 255
            Image.fromarray(arr).save(masks / f"{i}_mask.png")


def _csv(path: Path, ids: list[str]) -> Path:
    path.write_text("image_id,label\n" + "".join(f"{i},{'ab'[k % 2]}\n" for k, i in enumerate(ids)), "utf-8")
    return path


# --- symbolic link loops -------------------------------------------------------------------------------


def test_folder_source_skips_link_loops_it_does_not_need(tmp_path: Path) -> None:
    images = tmp_path / "images"
    _images(images, ["a", "b", "c"])
    _loops(images)
    ds = load_folder(images, _csv(tmp_path / "l.csv", ["a", "b", "c"]))
    assert [r.id for r in ds.records] == ["a", "b", "c"]


def test_a_listed_image_that_is_a_link_loop_is_named_in_one_line(tmp_path: Path) -> None:
    images = tmp_path / "images"
    _images(images, ["a", "b"])
    loop = _loops(images)
    csv = _csv(tmp_path / "l.csv", ["a", "b", "self"])
    with pytest.raises(DataError) as err:
        load_folder(images, csv)
    assert str(err.value) == (
        f"image 'self': {loop} is a symbolic link loop (it leads back to itself); "
        "remove the link or point it at the real image file"
    )
    result = runner.invoke(app, ["datasets", "describe", "folder", "--root", str(images), "--csv", str(csv)])
    assert isinstance(result.exception, DataError)  # the CLI prints it as one line (cli.main)


def test_a_looping_data_root_and_mask_are_named(tmp_path: Path) -> None:
    os.symlink(tmp_path / "root", tmp_path / "root")
    with pytest.raises(DataError, match=r"ISIC 2017 data root folder .*root is a symbolic link loop"):
        load_isic2017(tmp_path / "root")
    images, masks = tmp_path / "images", tmp_path / "masks"
    _images(images, ["a", "b"], masks)
    (masks / "b_mask.png").unlink()
    os.symlink(masks / "b_mask.png", masks / "b_mask.png")
    ds = load_folder(images, _csv(tmp_path / "l.csv", ["a", "b"]), masks=masks, mask_pattern="{id}_mask.png")
    [problem] = inspect_files(ds, workers=1).problems
    assert problem.path == masks / "b_mask.png" and "mask is a symbolic link loop" in problem.problem


def test_isic_and_ham_sources_with_link_loops(tmp_path: Path) -> None:
    tiny = make_tiny_isic(tmp_path / "isic")
    _loops(tiny.root / "ISIC-2017_Training_Data", "ISIC_9999999.jpg")
    assert len(load_isic2017(tiny.root).split("train")) == 40
    ham = make_ham10000(tmp_path / "ham")
    _loops(ham / "HAM10000_images", "ISIC_9999999.jpg")
    _loops(ham / "ISIC2018_Task3_Test_Images", "ISIC_9999998.jpg")
    assert len(load_ham10000(ham).records) == 21


def test_load_dataset_for_train_audit_pretrain_and_evaluate_with_link_loops(tmp_path: Path) -> None:
    """Every command that reads a data source goes through `load_dataset` (evaluate --data, audit and
    pretrain included): the loops are skipped and the images checked."""
    images = tmp_path / "images"
    _images(images, ["a", "b", "c", "d"])
    _loops(images)
    data = SimpleNamespace(
        source="folder", root=images, task=None, options={"csv": _csv(tmp_path / "l.csv", list("abcd"))}
    )
    assert len(load_dataset(SimpleNamespace(data=data, check_files=True)).records) == 4
    assert len(load_dataset(SimpleNamespace(data=data, check_files=True), labels=False).records) == 4


def test_project_scan_does_not_follow_folder_loops_and_reports_file_loops(tmp_path: Path) -> None:
    folder = tmp_path / "project_images"
    _images(folder / "sub", ["a", "b"])
    os.symlink(folder, folder / "sub" / "up")  # a link to an ancestor: rglob-style listing would never end
    loop = _loops(folder)
    assert image_files(folder) == [loop, folder / "sub" / "a.png", folder / "sub" / "b.png"]
    scan = scan_folder(folder, show_progress=False)
    [problem] = scan.problems
    assert problem["image_id"] == "self" and "symbolic link loop" in problem["problem"]
    os.symlink(tmp_path / "gone", tmp_path / "gone")
    with pytest.raises(DataError, match="is a symbolic link loop"):
        image_files(tmp_path / "gone")


# --- Unicode normal forms ------------------------------------------------------------------------------


@pytest.mark.parametrize(("on_disk", "in_csv"), [(NFD, NFC), (NFC, NFD)])
def test_ids_match_file_names_in_either_unicode_form(tmp_path: Path, on_disk: str, in_csv: str) -> None:
    images, masks = tmp_path / "images", tmp_path / "masks"
    _images(images, [on_disk, "plain"], masks)
    assert (images / f"{on_disk}.png").exists() and not (images / f"{in_csv}.png").exists()
    ds = load_folder(
        images, _csv(tmp_path / "l.csv", [in_csv, "plain"]), masks=masks, mask_pattern="{id}_mask.png"
    )
    record = ds.records[0]
    assert record.id == in_csv and record.image_path == images / f"{on_disk}.png"
    assert record.mask_path == masks / f"{on_disk}_mask.png"
    assert ds.unlisted == []
    with pytest.raises(DataError, match="already listed on line 2"):
        load_folder(images, _csv(tmp_path / "twice.csv", [in_csv, on_disk]))
