"""Segmentation through `lesionlab train`: ISIC 2017 masks, a U-Net, CE + Dice, Dice and Jaccard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fake_isic import make_tiny_isic
from lesionlab.config import TrainRunConfig, load_config
from lesionlab.errors import ConfigError, DataError
from lesionlab.models.unet import UNet, create_segmenter, load_segmenter_checkpoint
from lesionlab.supervised import train_run


@pytest.fixture(autouse=True)
def _one_thread(no_network: None):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def seg_config(root: Path, out: Path, **train) -> TrainRunConfig:
    return load_config(
        TrainRunConfig,
        {
            "task": "segmentation",
            "data": {"source": "isic2017", "root": str(root), "task": "melanoma"},
            "model": {"backbone": "unet", "width": 4, "weights": "none"},
            "train": {
                "resolution": 32,
                "epochs": 6,
                "batch_size": 8,
                "freeze_stages": 0,
                "lr": 1e-2,
                "patience": 0,
                "num_threads": 1,
                "progress": False,
                "preprocessing": "grayscale_minmax",
                **train,
            },
            "output": str(out),
            "cache_dir": str(out / "cache"),
        },
    )


@pytest.mark.slow
def test_paper_unet_shape() -> None:
    """Width 64 puts 512 channels at 1/16 resolution (the paper's 512 x 16 x 16 at 256 px)."""
    model = UNet(width=64)
    feats = model.encode(torch.zeros(1, 3, 64, 64))
    assert feats[-1].shape == (1, 512, 4, 4)
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 64, 64)
    small = UNet(width=16)
    assert small.embed(small.encode(torch.zeros(2, 3, 32, 32)), pool=2).shape == (2, 128 * 4)


def test_lite0_unet_loads_the_offline_encoder_weights() -> None:
    from lesionlab.models.efficientnet_lite import offline_weights_path

    model = create_segmenter("unet_lite0", "imagenet", seed=0)
    state = torch.load(offline_weights_path(), map_location="cpu", weights_only=True)
    assert torch.equal(model.encoder.conv_stem.weight, state["_conv_stem.weight"])
    assert model.encoder_pretrained
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 1, 64, 64)


@pytest.mark.slow
def test_train_segments_the_tiny_lesions(tmp_path: Path) -> None:
    tiny = make_tiny_isic(tmp_path / "isic", masks=True)
    result = train_run(seg_config(tiny.root, tmp_path / "run"))
    # The tiny tree has no test masks (as ISIC 2017): the validation masks are reported.
    assert "test" not in result
    assert result["val"]["dice"] > 0.8, result["val"]
    assert set(result["val"]) >= {"dice", "jaccard", "thresholded_jaccard"}
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["val"] == result["val"]
    # The checkpoint initialises a fresh U-Net to the trained weights.
    fresh = create_segmenter("unet", "none", width=4)
    load_segmenter_checkpoint(fresh, tmp_path / "run" / "model.pt")
    x = torch.rand(1, 3, 32, 32)
    trained = create_segmenter("unet", str(tmp_path / "run" / "model.pt"), width=4)
    fresh.eval(), trained.eval()
    assert torch.allclose(fresh(x), trained(x))


def test_evaluate_a_saved_segmentation_run(tmp_path: Path) -> None:
    from lesionlab.supervised import evaluate_run

    tiny = make_tiny_isic(tmp_path / "isic", masks=True)
    trained = train_run(seg_config(tiny.root, tmp_path / "run", epochs=3))
    result = evaluate_run(tmp_path / "run", split="val", n_boot=200)
    assert result["n"] == 12 and result["metrics"] == pytest.approx(trained["val"])
    low, high = result["ci95"]["dice"]
    assert low <= result["metrics"]["dice"] <= high
    assert len(result["per_image"]["jaccard"]) == 12
    with pytest.raises(DataError, match="no 'test' images with a mask"):
        evaluate_run(tmp_path / "run", split="test")


def test_an_untrained_frozen_encoder_is_refused(tmp_path: Path) -> None:
    tiny = make_tiny_isic(tmp_path / "isic", masks=True)
    with pytest.raises(ConfigError, match="freeze_stages: 0"):
        train_run(seg_config(tiny.root, tmp_path / "run", freeze_stages=5))


def test_missing_masks_are_named(tmp_path: Path) -> None:
    tiny = make_tiny_isic(tmp_path / "isic", masks=False)
    with pytest.raises(ConfigError, match="have no mask"):
        train_run(seg_config(tiny.root, tmp_path / "run"))


def test_a_checkpoint_of_another_width_is_refused(tmp_path: Path) -> None:
    from lesionlab.models.unet import save_segmenter

    save_segmenter(UNet(width=8), tmp_path / "w8.pt")
    with pytest.raises(ConfigError, match=r"model\.width"):
        create_segmenter("unet", str(tmp_path / "w8.pt"), width=4)


def test_frozen_lite0_encoder_trains_only_the_decoder(tmp_path: Path) -> None:
    from fake_isic import tiny_train_config
    from lesionlab.data.sources import load_source
    from lesionlab.training.trainer import Trainer

    tiny = make_tiny_isic(tmp_path / "isic", masks=True)
    data = load_source("isic2017", tiny.root, "melanoma")
    model = create_segmenter("unet_lite0", "imagenet", seed=0)
    encoder_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    decoder_before = model.final_conv.weight.detach().clone()
    cfg = tiny_train_config(epochs=2, freeze_stages=5, loss="auto", monitor="auto")
    trainer = Trainer(model, cfg, cache_dir=tmp_path / "cache")
    fit = trainer.fit(data.split("train"), data.split("val"))
    assert fit.monitor == "jaccard" and len(fit.history) == 2
    for k, v in model.encoder.state_dict().items():
        assert torch.equal(v, encoder_before[k]), k  # weights and batch-norm statistics kept
    assert not torch.equal(model.final_conv.weight, decoder_before)
    # The frozen maps were computed once per image (train + val), then reused.
    assert len(trainer.runtime._features) == 40 + 12
    probs = trainer.predict(data.split("val"))
    assert probs.shape == (12, 32, 32) and probs.min() >= 0 and probs.max() <= 1
    scores = trainer.runtime.pixel_uncertainty(data.split("val"), mc_samples=3)
    assert set(scores) == {"entropy", "confidence", "mutual_information"}
    # Dropout before the output convolution makes the T passes differ.
    assert (scores["mutual_information"] >= 0).all() and scores["mutual_information"].mean() > 1e-4


def test_loss_predictor_trains_with_the_unet(tmp_path: Path) -> None:
    """Kim et al. 2020's loss predictor on the U-Net's encoder maps (what confident coreset reads)."""
    from fake_isic import tiny_train_config
    from lesionlab.data.sources import load_source
    from lesionlab.selection.evidence import _loss_predictor
    from lesionlab.training.trainer import Trainer

    tiny = make_tiny_isic(tmp_path / "isic", masks=True)
    data = load_source("isic2017", tiny.root, "melanoma")
    model = create_segmenter("unet", "none", width=4, seed=0)
    head = _loss_predictor(model)
    assert head.channels == (8, 16, 32, 32) and head.tap_stages == (1, 2, 3, 4)
    before = head.out.weight.detach().clone()
    cfg = tiny_train_config(epochs=2, freeze_stages=0, loss="auto", monitor="auto", lr=1e-2)
    trainer = Trainer(model, cfg, cache_dir=tmp_path / "cache", aux_heads=[head])
    fit = trainer.fit(data.split("train"), data.split("val"))
    assert len(fit.history) == 2
    assert not torch.equal(head.out.weight, before)
    pred = trainer.aux_predict(data.split("val"))["loss_predictor"]
    assert pred.shape == (12,) and np.isfinite(pred).all()
