"""Per-epoch synthetic samples (mosaics, mix-up), the soft-target loss, and fits that use them."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lesionlab.config import TrainRunConfig, load_config
from lesionlab.data.sources import load_isic2017
from lesionlab.errors import ConfigError
from lesionlab.models.classifier import LesionClassifier
from lesionlab.models.registry import create_classifier
from lesionlab.training.losses import soft_cross_entropy
from lesionlab.training.synthetic import epoch_samples
from lesionlab.training.trainer import TrainConfig, Trainer

CLASS_VALUE = np.array([30.0, 130.0, 230.0])  # every image of class c is filled with CLASS_VALUE[c] +- 10


pytestmark = pytest.mark.usefixtures("offline_single_thread")


def class_coded(labels: list[int], size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Constant images whose value range gives away their class, so a mosaic shows where it came from."""
    rng = np.random.default_rng(0)
    values = CLASS_VALUE[labels] + rng.uniform(-10, 10, len(labels))
    images = np.broadcast_to(values[:, None, None, None], (len(labels), size, size, 3))
    return images.round().astype(np.uint8), np.array(labels)


# ------------------------------------------------------------------------ the helper


@pytest.mark.parametrize("kind", ["mosaic", "mixup"])
@pytest.mark.parametrize(("n_images", "ratio", "expected"), [(10, 0.25, 3), (12, 0.5, 6), (10, 0.0, 0)])
def test_helper_returns_the_requested_count(kind: str, n_images: int, ratio: float, expected: int) -> None:
    images, labels = class_coded([i % 2 for i in range(n_images)])
    x, soft = epoch_samples(images, labels, 3, kind, ratio, np.random.default_rng(1))
    assert x.shape == (expected, 8, 8, 3) and soft.shape == (expected, 3)
    assert x.dtype == (np.uint8 if kind == "mosaic" else np.float32) or expected == 0
    assert soft.dtype == np.float32


def test_none_draws_nothing_and_leaves_the_rng_alone() -> None:
    images, labels = class_coded([0, 1, 0, 1])
    rng = np.random.default_rng(3)
    state = copy.deepcopy(rng.bit_generator.state)
    x, soft = epoch_samples(images, labels, 2, "none", 1.0, rng)
    assert len(x) == 0 and soft.shape == (0, 2)
    assert rng.bit_generator.state == state


@pytest.mark.parametrize("mode", ["different", "replicate"])
def test_mosaic_targets_are_one_hot_of_the_sources_class(mode: str) -> None:
    images, labels = class_coded([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2])
    x, soft = epoch_samples(images, labels, 3, "mosaic", 2.0, np.random.default_rng(0), mosaic_mode=mode)
    assert len(x) == 24
    np.testing.assert_array_equal(soft.sum(1), 1.0)
    assert set(np.unique(soft)) == {0.0, 1.0}
    source_class = np.abs(x.reshape(len(x), -1).astype(float)[:, :, None] - CLASS_VALUE).argmin(2)
    assert (source_class == source_class[:, :1]).all()  # every pixel from one class
    np.testing.assert_array_equal(soft.argmax(1), source_class[:, 0])


def test_mixup_targets_are_convex_mixtures_of_two_different_classes() -> None:
    images, labels = class_coded([0, 0, 1, 1, 1, 2, 2, 2])
    images = images.astype(np.float32)
    # alpha = 1 (uniform lam), so no target rounds to a one-hot and both classes always show up.
    x, soft = epoch_samples(images, labels, 3, "mixup", 4.0, np.random.default_rng(0), mixup_alpha=1.0)
    assert len(x) == 32
    assert (soft >= 0).all() and np.allclose(soft.sum(1), 1.0)
    assert ((soft > 0).sum(1) == 2).all()  # exactly two classes, never the same one twice
    # The image is the same mixture of two images as the target is of their classes (values +- 10).
    mixed = x[:, 0, 0, 0]
    assert np.all(np.abs(mixed - soft @ CLASS_VALUE) <= 10.5)


def test_mixup_with_a_single_class_yields_no_samples() -> None:
    images, labels = class_coded([1, 1, 1, 1])
    x, soft = epoch_samples(images, labels, 2, "mixup", 1.0, np.random.default_rng(0))
    assert len(x) == 0 and soft.shape == (0, 2)


def test_unknown_kind_is_rejected() -> None:
    images, labels = class_coded([0, 1])
    with pytest.raises(ValueError, match="synthetic"):
        epoch_samples(images, labels, 2, "cutmix", 1.0, np.random.default_rng(0))


# ------------------------------------------------------------------------ the loss


@pytest.mark.parametrize("weighted", [True, False])
def test_one_hot_soft_loss_equals_hard_label_loss(weighted: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 3, generator=gen)
    y = torch.tensor([0, 0, 0, 0, 1, 2, 2])
    weight = torch.tensor([0.5, 2.0, 1.0]) if weighted else None
    hard = F.cross_entropy(logits, y, weight=weight)
    soft = soft_cross_entropy(logits, F.one_hot(y, 3).float(), weight)
    torch.testing.assert_close(soft, hard, rtol=0, atol=1e-6)


def test_plain_probability_cross_entropy_would_not_match_with_class_weights() -> None:
    """Why `soft_cross_entropy` exists: torch averages probability targets over the batch, not the weights.

    Balanced weights make the two agree over the whole training set, but not in a mini-batch whose class
    mix differs from the set's (here 2:4 with weights set for 4:2).
    """
    logits = torch.randn(6, 2, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 0, 1, 1, 1, 1])
    weight = torch.tensor([0.75, 1.5])
    plain = F.cross_entropy(logits, F.one_hot(y, 2).float(), weight=weight)
    assert not torch.isclose(plain, F.cross_entropy(logits, y, weight=weight))


def test_soft_loss_gradient_flows() -> None:
    logits = torch.zeros(2, 2, requires_grad=True)
    loss = soft_cross_entropy(logits, torch.tensor([[0.7, 0.3], [0.0, 1.0]]), torch.tensor([1.0, 2.0]))
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert np.isclose(loss.item(), np.log(2))  # uniform predictions: log 2 whatever the targets


# ------------------------------------------------------------------------ fits


@pytest.fixture(scope="module")
def lite0() -> LesionClassifier:
    return create_classifier("efficientnet_lite0", 2, "imagenet", seed=0)


def tiny_config(**overrides) -> TrainConfig:
    base = dict(
        epochs=2, batch_size=8, resolution=32, views=2, num_threads=1, progress=False, lr=1e-3, patience=0
    )
    return TrainConfig(**{**base, **overrides})


@pytest.mark.parametrize("kind", ["mosaic", "mixup"])
@pytest.mark.parametrize("freeze_stages", [5, 0])
def test_fit_with_synthetic_samples(
    lite0: LesionClassifier, tiny_isic, tmp_path: Path, kind: str, freeze_stages: int
) -> None:
    train = load_isic2017(tiny_isic.root).split("train")[:16]
    cfg = tiny_config(freeze_stages=freeze_stages, synthetic=kind, synthetic_ratio=0.5)
    model = copy.deepcopy(lite0)
    trainer = Trainer(model, cfg, cache_dir=tmp_path)
    trunk_calls: list[int] = []
    run_trunk = model.run_trunk

    def counting(x: torch.Tensor, upto: int) -> torch.Tensor:
        trunk_calls.append(len(x))
        return run_trunk(x, upto)

    model.run_trunk = counting  # type: ignore[method-assign]
    trunk_before = {k: v.clone() for k, v in model.stem.state_dict().items()}
    result = trainer.fit(train, (), ["other", "melanoma"])

    assert result.synthetic_per_epoch == [8, 8]
    assert [row["n_synthetic"] for row in result.history] == [8, 8]
    assert all(np.isfinite(row["train_loss"]) for row in result.history)
    if freeze_stages:
        # cached trunk for the 16 originals (2 views), then one pass per epoch for the 8 new samples, in the
        # cache's fixed batch shape (zero-padded), so they meet the trunk as cached images do
        assert trunk_calls[-2:] == [trainer.runtime.activations.batch_size] * 2
        for k, v in model.stem.state_dict().items():
            torch.testing.assert_close(v, trunk_before[k])
    else:
        assert trunk_calls == []  # full fine-tuning never runs the trunk on its own
        assert any(not torch.equal(v, trunk_before[k]) for k, v in model.stem.state_dict().items())


def test_default_fit_adds_no_synthetic_samples(lite0: LesionClassifier, tiny_isic, tmp_path: Path) -> None:
    train = load_isic2017(tiny_isic.root).split("train")[:8]
    result = Trainer(copy.deepcopy(lite0), tiny_config(epochs=1), cache_dir=tmp_path).fit(train)
    assert result.synthetic_per_epoch == [0] and result.history[0]["n_synthetic"] == 0


# ------------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"synthetic": "cutmix"}, "synthetic"),
        ({"synthetic_ratio": -0.1}, "synthetic_ratio"),
        ({"synthetic_ratio": float("nan")}, "synthetic_ratio"),
        ({"mosaic_mode": "shuffle"}, "mosaic_mode"),
        ({"mixup_alpha": 0.0}, "mixup_alpha"),
        ({"mixup_alpha": float("inf")}, "mixup_alpha"),
    ],
)
def test_bad_synthetic_settings_are_config_errors(overrides: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"train.{field}"):
        load_config(TrainRunConfig, {"train": overrides})


def test_synthetic_fields_reach_run_configs() -> None:
    train = {"synthetic": "mixup", "synthetic_ratio": 0.5, "mosaic_mode": "replicate", "mixup_alpha": 0.4}
    config = load_config(TrainRunConfig, {"train": train})
    assert (config.train.synthetic, config.train.synthetic_ratio) == ("mixup", 0.5)
    assert (config.train.mosaic_mode, config.train.mixup_alpha) == ("replicate", 0.4)
