"""The t-SNE figure of originals and mosaics, `ClassifierRuntime.embed_arrays`, and `lesionlab embed-plot`."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lesionlab.cli import app
from lesionlab.data.sources import load_isic2017
from lesionlab.errors import ConfigError
from lesionlab.evaluation.embedding_plot import embed_plot, tsne_plot
from lesionlab.models.classifier import LesionClassifier
from lesionlab.models.registry import create_classifier, save_checkpoint
from lesionlab.supervised import load_trained_run
from lesionlab.training.trainer import TrainConfig, Trainer

pytestmark = pytest.mark.usefixtures("offline_single_thread")


@pytest.fixture(scope="module")
def lite0() -> LesionClassifier:
    return create_classifier("efficientnet_lite0", 2, "imagenet", seed=0)


def test_tsne_plot_writes_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    out = tsne_plot(
        rng.normal(size=(20, 6)),
        rng.integers(0, 2, 20),
        rng.normal(size=(8, 6)),
        rng.integers(0, 2, 8),
        ["benign", "malignant"],
        tmp_path / "sub" / "tsne.png",
    )
    assert out == tmp_path / "sub" / "tsne.png"
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size[0] > 100


def test_tsne_plot_is_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while writing leaves the previous PNG intact and no temporary file behind."""
    target = tmp_path / "tsne.png"
    target.write_bytes(b"previous")

    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    rng = np.random.default_rng(0)
    with pytest.raises(OSError, match=f"no space left in {tmp_path} while writing tsne.png"):
        tsne_plot(rng.normal(size=(8, 3)), np.arange(8) % 2, np.zeros((0, 3)), [], ["a", "b"], target)
    assert target.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["tsne.png"]


def test_tsne_plot_rejects_labels_outside_the_classes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="class_names"):
        tsne_plot(
            np.zeros((5, 2)), np.array([0, 1, 2, 0, 1]), np.zeros((0, 2)), [], ["a", "b"], tmp_path / "x.png"
        )


@pytest.mark.parametrize("freeze_stages", [0, 5])
def test_embed_arrays_matches_embed(
    lite0: LesionClassifier, tiny_isic, tmp_path: Path, freeze_stages: int
) -> None:
    records = load_isic2017(tiny_isic.root).split("train")[:6]
    cfg = TrainConfig(resolution=32, freeze_stages=freeze_stages, num_threads=1, progress=False)
    trainer = Trainer(copy.deepcopy(lite0), cfg, cache_dir=tmp_path)
    images = trainer.images.get_many([r.image_path for r in records])
    expected = trainer.embed(records)
    got = trainer.runtime.embed_arrays(images)
    assert got.shape == expected.shape == (6, lite0.embed_dim)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="32, 32, 3"):
        trainer.runtime.embed_arrays(images[:, :16])


def _fake_run(run_dir: Path, lite0: LesionClassifier, isic_root: Path, cache: Path) -> None:
    """What `lesionlab train` leaves behind, without training: the config and an (untrained) checkpoint."""
    config = {
        "data": {"source": "isic2017", "root": str(isic_root), "task": "melanoma"},
        "train": {"resolution": 32, "freeze_stages": 5, "views": 1, "num_threads": 1, "progress": False},
        "output": str(run_dir),
        "cache_dir": str(cache),
    }
    save_checkpoint(lite0, run_dir / "model.pt", {"classes": ["other", "melanoma"]})
    (run_dir / "metrics.json").write_text(json.dumps({"config": config}))


def test_embed_plot_for_run_and_cli(lite0: LesionClassifier, tiny_isic, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    _fake_run(run_dir, lite0, tiny_isic.root, tmp_path / "cache")
    _, dataset, trainer = load_trained_run(run_dir)
    out = embed_plot(trainer, dataset, run_dir / "tsne.png", "val", n_images=10, n_mosaics=4)
    assert out == run_dir / "tsne.png" and Image.open(out).format == "PNG"
    with pytest.raises(ConfigError, match="at least 2 images"):
        embed_plot(trainer, dataset, tmp_path / "x.png", n_images=1)

    target = tmp_path / "cli.png"
    args = [
        "embed-plot",
        str(run_dir),
        "--split",
        "test",
        "--images",
        "8",
        "--mosaics",
        "3",
        "--out",
        str(target),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert target.is_file()

    with pytest.raises(ConfigError, match="finished `lesionlab train`"):
        CliRunner().invoke(app, ["embed-plot", str(tmp_path / "nowhere")], catch_exceptions=False)


@pytest.mark.parametrize("freeze_stages", [0, 5])
def test_an_empty_list_gives_empty_outputs(
    lite0: LesionClassifier, tmp_path: Path, freeze_stages: int
) -> None:
    """An empty labelled set (e.g. an empty start) asks for embeddings of nothing: shapes, not errors."""
    cfg = TrainConfig(resolution=32, freeze_stages=freeze_stages, num_threads=1, progress=False)
    trainer = Trainer(copy.deepcopy(lite0), cfg, cache_dir=tmp_path)
    assert trainer.embed([]).shape == (0, lite0.embed_dim)
    assert trainer.predict([]).shape == (0, lite0.num_classes)
    probs, embeddings, _ = trainer.outputs([])
    assert probs.shape == (0, lite0.num_classes) and embeddings.shape == (0, lite0.embed_dim)
