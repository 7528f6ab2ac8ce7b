"""`lesionlab evaluate` of a segmentation run on the user's own folder of images and masks (issue 31, item 8):
the masks are read, Dice / Jaccard / thresholded Jaccard come with finite intervals, no classification
decision rule is printed, and --positive / --resize are taken or refused with one clear line."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fake_isic import TinyIsic, lesion_image, lesion_mask, make_tiny_isic
from lesionlab.cli import app
from lesionlab.config import TrainRunConfig, load_config
from lesionlab.data.preprocess import load_image, load_mask
from lesionlab.errors import ConfigError, DataError
from lesionlab.supervised import evaluate_run, train_run
from lesionlab.tasks import JACCARD_THRESHOLD, SegmentationTask

pytestmark = pytest.mark.usefixtures("offline_single_thread")
N_FOLDER = 10


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyIsic:
    return make_tiny_isic(tmp_path_factory.mktemp("seg_eval") / "isic2017", masks=True)


@pytest.fixture(scope="module")
def seg_run(tiny: TinyIsic, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny U-Net trained by `train_run` on the ISIC-layout masks (3 epochs at 32 px)."""
    out = tmp_path_factory.mktemp("seg_run") / "run"
    config = {
        "task": "segmentation",
        "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
        "model": {"backbone": "unet", "width": 4, "weights": "none"},
        "train": {
            "resolution": 32,
            "epochs": 3,
            "batch_size": 8,
            "freeze_stages": 0,
            "lr": 1e-2,
            "patience": 0,
            "num_threads": 1,
            "progress": False,
            "preprocessing": "grayscale_minmax",
        },
        "output": str(out),
        "cache_dir": str(out.parent / "cache"),
    }
    train_run(load_config(TrainRunConfig, config))
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's folder: non-square images/ (so --resize matters), masks/ named {id}_mask.png, labels.csv;
    the last image has no mask."""
    root = tmp_path_factory.mktemp("my_data")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    rows = ["image_id,label"]
    box = (0, 4, 32, 28)  # 32 x 24
    for k in range(N_FOLDER + 1):
        image_id, seed = f"img{k:02d}", 5000 + k
        lesion_image(seed, k % 2 == 0).crop(box).save(root / "images" / f"{image_id}.png")
        if k < N_FOLDER:
            lesion_mask(seed, k % 2 == 0).crop(box).save(root / "masks" / f"{image_id}_mask.png")
        rows.append(f"{image_id},lesion")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def folder_args(run: Path, folder: Path) -> list[str]:
    return [
        "evaluate",
        str(run),
        "--data",
        "folder",
        "--root",
        str(folder / "images"),
        "--csv",
        str(folder / "labels.csv"),
        "--masks",
        str(folder / "masks"),
        "--mask-pattern",
        "{id}_mask.png",
        "--split",
        "all",
        "--bootstrap",
        "200",
    ]


def direct_dice(run: Path, folder: Path, resize: str = "squash") -> float:
    """Mean Dice of the saved U-Net on the folder, computed here without `evaluate`."""
    import torch

    from lesionlab.models.unet import create_segmenter

    model = create_segmenter("unet", str(run / "model.pt"), width=4).eval()
    scores = []
    for k in range(N_FOLDER):
        image_id = f"img{k:02d}"
        image = load_image(folder / "images" / f"{image_id}.png", 32, "grayscale_minmax", resize=resize)
        truth = load_mask(folder / "masks" / f"{image_id}_mask.png", 32, resize) > 0
        with torch.no_grad():
            x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
            pred = torch.sigmoid(model(x))[0, 0].numpy() > 0.5
        total = truth.sum() + pred.sum()
        scores.append(1.0 if total == 0 else 2 * (truth & pred).sum() / total)
    return float(np.mean(scores))


def metric_row(output: str, name: str) -> tuple[float, float, float]:
    """(value, low, high) of `name` in the printed table."""
    match = re.search(rf"{name}\s*│\s*(\S+)\s*│\s*(\S+) - (\S+)", output)
    assert match, output
    return tuple(float(g) for g in match.groups())  # type: ignore[return-value]


@pytest.mark.slow
def test_a_segmentation_run_is_evaluated_on_a_folder_with_masks(
    seg_run: Path, folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(app, [*folder_args(seg_run, folder), "--json", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    dice, low, high = metric_row(result.output, "dice")
    assert dice == pytest.approx(direct_dice(seg_run, folder), abs=5e-4)
    for name in ("dice", "jaccard", "thresholded_jaccard"):
        value, low, high = metric_row(result.output, name)
        assert math.isfinite(low) and math.isfinite(high) and low <= value <= high, name
    assert "decision rule" not in result.output
    assert "1 image(s) without a mask left out" in " ".join(result.output.split())
    saved = json.loads(out.read_text())
    assert saved["n"] == N_FOLDER and saved["task"] == "segmentation"
    assert all(math.isfinite(x) for pair in saved["ci95"].values() for x in pair)


def test_resize_replaces_the_runs_and_positive_is_refused(seg_run: Path, folder: Path) -> None:
    result = CliRunner().invoke(app, [*folder_args(seg_run, folder), "--resize", "pad"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    padded = direct_dice(seg_run, folder, "pad")
    assert metric_row(result.output, "dice")[0] == pytest.approx(padded, abs=5e-4)
    assert "resize: pad" in result.output
    assert padded != pytest.approx(direct_dice(seg_run, folder), abs=1e-3)  # the option mattered
    bad = CliRunner().invoke(app, [*folder_args(seg_run, folder), "--resize", "stretch"])
    assert isinstance(bad.exception, ConfigError) and "squash, center_crop, pad" in str(bad.exception)
    positive = CliRunner().invoke(app, [*folder_args(seg_run, folder), "--positive", "lesion"])
    assert isinstance(positive.exception, ConfigError) and "segmentation run" in str(positive.exception)


def test_a_folder_without_masks_says_how_to_give_them(seg_run: Path, folder: Path) -> None:
    args = folder_args(seg_run, folder)
    no_masks = [a for a in args if a not in ("--masks", str(folder / "masks"))]
    no_masks = no_masks[: no_masks.index("--mask-pattern")] + no_masks[no_masks.index("--mask-pattern") + 2 :]
    result = CliRunner().invoke(app, no_masks)
    assert isinstance(result.exception, DataError)
    assert "--masks FOLDER" in str(result.exception) and "--mask-pattern" in str(result.exception)
    pattern_only = CliRunner().invoke(app, [*no_masks, "--mask-pattern", "{id}_mask.png"])
    assert isinstance(pattern_only.exception, ConfigError) and "--masks" in str(pattern_only.exception)


def test_the_runs_own_split_has_finite_intervals_for_every_metric(seg_run: Path) -> None:
    """The thresholded Jaccard's interval was (nan, nan) on every segmentation evaluation: it had no
    per-image value, so the bootstrap never computed it."""
    result = evaluate_run(seg_run, split="val", n_boot=100)
    assert set(result["ci95"]) == set(result["metrics"]) == {"dice", "jaccard", "thresholded_jaccard"}
    for name, (low, high) in result["ci95"].items():
        assert math.isfinite(low) and low <= result["metrics"][name] <= high, name


def test_every_segmentation_metric_is_the_mean_of_a_per_image_value() -> None:
    from lesionlab.evaluation.segmentation import mean_intervals

    rng = np.random.default_rng(0)
    truth = rng.random((6, 8, 8)) > 0.5
    probs = np.clip(truth + rng.normal(0, 0.4, truth.shape), 0, 1)
    task = SegmentationTask()
    per_image = task.per_image(truth, probs)
    assert set(per_image) == set(task.metrics(truth, probs))
    for name, value in task.metrics(truth, probs).items():
        assert value == pytest.approx(per_image[name].mean())
    low_j = per_image["jaccard"] < JACCARD_THRESHOLD
    assert (per_image["thresholded_jaccard"][low_j] == 0).all()
    intervals = mean_intervals(per_image, n_boot=200)
    assert all(math.isfinite(a) and math.isfinite(b) and a <= b for a, b in intervals.values())
    with pytest.raises(ValueError, match="not all finite"):
        mean_intervals({"dice": np.array([0.5, np.nan])}, n_boot=10)
