"""Models Genesis pre-training end to end on tiny images, and the warm start it gives segmentation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from fake_isic import make_tiny_isic
from lesionlab.cli import app
from lesionlab.config import load_config
from lesionlab.errors import ConfigError
from lesionlab.models.unet import create_segmenter
from lesionlab.selfsup.config import PretrainConfig
from lesionlab.selfsup.pretrain import pretrain


@pytest.fixture(autouse=True)
def _one_thread(no_network: None):
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def pretrain_dict(root: Path, out: Path, **overrides) -> dict:
    return {
        "data": {"source": "isic2017", "root": str(root), "task": "melanoma"},
        "model": {"backbone": "unet", "width": 4, "weights": "none"},
        "epochs": 3,
        "batch_size": 8,
        "resolution": 32,
        "num_threads": 1,
        "progress": False,
        "holdout": 0.1,
        "output": str(out),
        "cache_dir": str(out.parent / "cache"),
        **overrides,
    }


@pytest.mark.slow
def test_pretraining_lowers_the_reconstruction_loss_and_warm_starts(tmp_path: Path) -> None:
    tiny = make_tiny_isic(tmp_path / "isic")
    result = pretrain(load_config(PretrainConfig, pretrain_dict(tiny.root, tmp_path / "pre", epochs=6)))
    losses = [row["holdout_loss"] for row in result["history"]]
    assert min(losses[1:]) < losses[0]
    assert result["n_images"] == 40 and result["n_holdout"] == 4  # the train split only
    ckpt = tmp_path / "pre" / "model.pt"
    warm = create_segmenter("unet", str(ckpt), width=4)
    cold = create_segmenter("unet", "none", width=4)
    saved = torch.load(ckpt, weights_only=True)["state_dict"]
    assert torch.equal(warm.conv_0.conv_0.conv.weight, saved["conv_0.conv_0.conv.weight"])
    assert not torch.equal(cold.conv_0.conv_0.conv.weight, saved["conv_0.conv_0.conv.weight"])
    assert warm.encoder_pretrained and not cold.encoder_pretrained
    # The decoder is warm too, but the output layer (the reconstruction's intensity) starts fresh, as
    # the cold model's of the same seed does.
    assert torch.equal(warm.upcat_1.convs.conv_0.conv.weight, saved["upcat_1.convs.conv_0.conv.weight"])
    assert not torch.equal(warm.final_conv.weight, saved["final_conv.weight"])
    assert torch.equal(warm.final_conv.weight, cold.final_conv.weight)


@pytest.mark.slow
def test_same_seed_same_weights(tmp_path: Path) -> None:
    tiny = make_tiny_isic(tmp_path / "isic")
    a = pretrain(load_config(PretrainConfig, pretrain_dict(tiny.root, tmp_path / "a", epochs=1)))
    b = pretrain(load_config(PretrainConfig, pretrain_dict(tiny.root, tmp_path / "b", epochs=1)))
    assert a["history"] == b["history"]


def test_cli_pretrain_writes_the_checkpoint_and_refuses_to_overwrite(tmp_path: Path) -> None:
    tiny = make_tiny_isic(tmp_path / "isic")
    cfg = tmp_path / "pre.yaml"
    cfg.write_text(yaml.safe_dump(pretrain_dict(tiny.root, tmp_path / "pre", epochs=1)))
    runner = CliRunner()
    res = runner.invoke(app, ["pretrain", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "model.weights" in res.output
    assert json.loads((tmp_path / "pre" / "pretrain.json").read_text())["kind"] == "models_genesis"
    again = runner.invoke(app, ["pretrain", str(cfg)])
    assert isinstance(again.exception, ConfigError) and "--force" in str(again.exception)


def test_pretraining_reads_unlabelled_folder_images(tmp_path: Path) -> None:
    """A user's folder without any label (an annotation project's start) pre-trains."""
    from fake_isic import lesion_image

    images = tmp_path / "images"
    images.mkdir()
    for k in range(6):
        lesion_image(k, bool(k % 2)).save(images / f"img{k}.jpg")
    (tmp_path / "labels.csv").write_text("image_id,label\n" + "".join(f"img{k},\n" for k in range(6)))
    cfg = pretrain_dict(tmp_path, tmp_path / "pre", epochs=1, holdout=0.0)
    options = {"csv": str(tmp_path / "labels.csv"), "classes": ["benign", "malignant"]}
    cfg["data"] = {"source": "folder", "root": str(images), "options": options}
    result = pretrain(load_config(PretrainConfig, cfg))
    assert result["n_images"] == 6 and (tmp_path / "pre" / "model.pt").is_file()
