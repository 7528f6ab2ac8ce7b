"""`lesionlab score` on file names as they come (issue 31, item 7, other instances): a name that is not
UTF-8 (Linux keeps raw bytes), a decomposed (NFD) name, a link from a subfolder back to its parent and an
images folder that is a link loop. Before, one non-UTF-8 name failed the whole command with a
UnicodeEncodeError traceback after scoring, and a looping images folder was "not a folder of images"."""

from __future__ import annotations

import csv
import json
import os
import unicodedata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fake_isic import lesion_image
from lesionlab.cli import app
from lesionlab.errors import ConfigError, DataError
from lesionlab.models.registry import create_classifier, save_checkpoint

pytestmark = pytest.mark.usefixtures("offline_single_thread")


def _fake_run(run_dir: Path) -> Path:
    """What `lesionlab train` leaves behind (config and checkpoint), without training."""
    config = {
        "data": {"source": "isic2017", "root": str(run_dir / "unused"), "task": "melanoma"},
        "train": {"resolution": 32, "num_threads": 1, "progress": False},
        "output": str(run_dir),
    }
    model = create_classifier("efficientnet_lite0", 2, "none", seed=0).eval()
    save_checkpoint(model, run_dir / "model.pt", {"classes": ["a", "b"]})
    (run_dir / "metrics.json").write_text(json.dumps({"config": config, "classes": ["a", "b"]}))
    return run_dir


def test_score_writes_every_name_and_never_follows_a_folder_link(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    (pool / "sub").mkdir(parents=True)
    names = [b"plain.jpg", b"bad\xff.jpg", unicodedata.normalize("NFD", "café.jpg").encode()]
    for k, name in enumerate(names):
        lesion_image(k, melanoma=k % 2 == 0).save(os.fsdecode(os.path.join(os.fsencode(pool), name)))
    lesion_image(9, melanoma=True).save(pool / "sub" / "deep.jpg")
    (pool / "sub" / "up").symlink_to("..", target_is_directory=True)  # would list the pool forever
    out = tmp_path / "scores"
    args = ["score", str(_fake_run(tmp_path / "run")), str(pool), "--out", str(out), "--threads", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with open(out / "scores.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    shown = sorted(Path(r["image"]).name for r in rows)
    nfd = unicodedata.normalize("NFD", "café.jpg")
    assert shown == sorted(["plain.jpg", "bad\\xff.jpg", nfd, "deep.jpg"])
    assert all(r["predicted"] in ("a", "b") for r in rows)


def test_score_names_an_images_folder_that_is_a_link_loop(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    result = CliRunner().invoke(app, ["score", str(_fake_run(tmp_path / "run")), str(loop)])
    assert isinstance(result.exception, DataError)
    assert "symbolic link loop" in str(result.exception) and str(loop) in str(result.exception)


@pytest.mark.parametrize(
    "option", [["--batch-size", "0"], ["--batch-size", "-3"], ["--decode-workers", "-1"]]
)
def test_score_refuses_a_batch_size_or_workers_out_of_range_in_one_line(
    tmp_path: Path, option: list[str]
) -> None:
    """They were a ZeroDivisionError and a ValueError traceback."""
    (tmp_path / "pool").mkdir()
    lesion_image(0, melanoma=True).save(tmp_path / "pool" / "a.jpg")
    args = ["score", str(_fake_run(tmp_path / "run")), str(tmp_path / "pool"), *option]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, ConfigError), result.exception
    assert "--batch-size must be >= 1 and --decode-workers >= 0" in str(result.exception)
