"""The trainer on tiny separable images: fast path and full fine-tuning, determinism, MC dropout, caching."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from fake_isic import TinyIsic, lesion_image, tiny_train_config
from lesionlab.cache_maintenance import cache_folders
from lesionlab.config import TrainRunConfig, load_config
from lesionlab.data.records import Record
from lesionlab.data.sources import load_isic2017
from lesionlab.errors import ConfigError
from lesionlab.evaluation.metrics import compute_metrics
from lesionlab.models.classifier import LesionClassifier
from lesionlab.models.registry import create_classifier
from lesionlab.training.activations import clear_memory
from lesionlab.training.auxiliary import AuxiliaryHead, EpochEnd
from lesionlab.training.trainer import FitResult, TrainConfig, Trainer


@pytest.fixture(autouse=True)
def _offline_restore_threads(no_network: None) -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def splits(tiny_isic: TinyIsic) -> dict[str, list[Record]]:
    ds = load_isic2017(tiny_isic.root)
    return {s: ds.split(s) for s in ("train", "val", "test")}


@pytest.fixture(scope="module")
def lite0() -> LesionClassifier:
    """ImageNet Lite0 with a fixed head; tests fit deep copies of it."""
    return create_classifier("efficientnet_lite0", 2, "imagenet", seed=0)


def config(**overrides) -> TrainConfig:
    return tiny_train_config(**overrides)


def _labels(records: list[Record]) -> np.ndarray:
    return np.array([r.label for r in records])


# ------------------------------------------------------------------------ fitting


@pytest.mark.slow
@pytest.mark.parametrize("freeze_stages", [5, 0])
def test_fit_returns_history_and_speed(
    lite0: LesionClassifier, splits: dict, tmp_path: Path, freeze_stages: int
) -> None:
    trainer = Trainer(copy.deepcopy(lite0), config(freeze_stages=freeze_stages), cache_dir=tmp_path)
    assert trainer.fast == (freeze_stages > 0)
    result = trainer.fit(splits["train"], splits["val"], ["other", "melanoma"])
    assert isinstance(result, FitResult)
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert all(np.isfinite(row["train_loss"]) and "val_auc" in row for row in result.history)
    assert result.best_epoch in (1, 2)
    assert result.images_per_second > 0 and result.train_seconds > 0
    assert trainer.describe()["fast_path"] == (freeze_stages > 0)


@pytest.mark.slow
def test_fast_path_learns_the_easy_task(lite0: LesionClassifier, splits: dict, tmp_path: Path) -> None:
    trainer = Trainer(copy.deepcopy(lite0), config(epochs=8), cache_dir=tmp_path)
    history = trainer.fit(splits["train"]).history
    losses = [row["train_loss"] for row in history]
    assert len(losses) == 8
    assert losses[-1] < 0.6 * losses[0], losses
    test = splits["test"]
    assert compute_metrics(_labels(test), trainer.predict(test), ["other", "melanoma"])["auc"] >= 0.9


@pytest.mark.slow
def test_full_fine_tuning_reduces_loss_and_trains_the_stem(
    lite0: LesionClassifier, splits: dict, tmp_path: Path
) -> None:
    model = copy.deepcopy(lite0)
    stem_before = copy.deepcopy(model.stem.state_dict())
    trainer = Trainer(model, config(epochs=6, freeze_stages=0, augmentation="light"), cache_dir=tmp_path)
    losses = [row["train_loss"] for row in trainer.fit(splits["train"]).history]
    assert np.mean(losses[-2:]) < 0.8 * losses[0], losses
    changed = [not torch.equal(stem_before[k], v) for k, v in model.stem.state_dict().items()]
    assert any(changed)


def test_fast_path_freezes_the_trunk(lite0: LesionClassifier, splits: dict, tmp_path: Path) -> None:
    model = copy.deepcopy(lite0)
    before = copy.deepcopy(model.state_dict())
    trainer = Trainer(model, config(freeze_stages=5), cache_dir=tmp_path)
    trainer.fit(splits["train"], splits["val"])
    after = model.state_dict()
    trunk = ("stem.", *(f"stages.{i}." for i in range(5)))
    for key, value in after.items():
        if key.startswith(trunk):
            assert torch.equal(before[key], value), f"frozen {key} changed"
    for prefix in ("stages.5.", "stages.6.", "head.", "classifier."):
        assert any(not torch.equal(before[k], v) for k, v in after.items() if k.startswith(prefix)), (
            f"{prefix} did not train"
        )
    assert not any(p.requires_grad for m in model.trunk_modules(5) for p in m.parameters())


def test_best_epoch_weights_are_restored(lite0: LesionClassifier, splits: dict, tmp_path: Path) -> None:
    trainer = Trainer(copy.deepcopy(lite0), config(epochs=3, monitor="loss", lr=3e-3), cache_dir=tmp_path)
    result = trainer.fit(splits["train"], splits["val"], ["other", "melanoma"])
    val_losses = [row["val_loss"] for row in result.history]
    assert result.best_epoch == int(np.argmin(val_losses)) + 1
    assert result.best_score == pytest.approx(-min(val_losses))
    # The model now holds that epoch's weights: its validation loss is the recorded one.
    probs = trainer.predict(splits["val"])
    loss = -np.mean(np.log(np.clip(probs[np.arange(len(probs)), _labels(splits["val"])], 1e-12, None)))
    assert loss == pytest.approx(val_losses[result.best_epoch - 1], rel=1e-5)


@pytest.mark.slow
def test_patience_stops_early(lite0: LesionClassifier, splits: dict, tmp_path: Path) -> None:
    # A huge learning rate wrecks the model after the first epoch, so validation loss stops improving.
    cfg = config(epochs=8, patience=2, lr=0.5, monitor="loss")
    result = Trainer(copy.deepcopy(lite0), cfg, cache_dir=tmp_path).fit(splits["train"], splits["val"])
    best, stale, expected_stop = -np.inf, 0, cfg.epochs
    for row in result.history:
        if -row["val_loss"] > best:
            best, stale = -row["val_loss"], 0
        else:
            stale += 1
        if stale >= cfg.patience:
            expected_stop = row["epoch"]
            break
    assert len(result.history) == expected_stop < cfg.epochs


# ------------------------------------------------------------------------ determinism and outputs


@pytest.mark.slow
@pytest.mark.parametrize("freeze_stages", [5, 0])
def test_same_seed_same_predictions(
    lite0: LesionClassifier, splits: dict, tmp_path: Path, freeze_stages: int
) -> None:
    def fit(seed: int) -> np.ndarray:
        torch.manual_seed(1000 + seed * 17)  # the global state must not matter, only the seed
        cfg = config(seed=seed, freeze_stages=freeze_stages, epochs=2 if freeze_stages else 1)
        trainer = Trainer(copy.deepcopy(lite0), cfg, cache_dir=tmp_path)
        trainer.fit(splits["train"][:24])
        return trainer.predict(splits["test"])

    first, again, other = fit(0), fit(0), fit(1)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_predict_outputs_and_mc_dropout(lite0: LesionClassifier, splits: dict, tmp_path: Path) -> None:
    trainer = Trainer(copy.deepcopy(lite0), config(), cache_dir=tmp_path)
    trainer.fit(splits["train"])
    test = splits["test"]
    probs = trainer.predict(test)
    assert probs.shape == (len(test), 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs >= 0).all()

    p, emb, mc = trainer.outputs(test, mc_samples=6)
    np.testing.assert_array_equal(p, probs)
    assert emb.shape == (len(test), 1280)
    np.testing.assert_array_equal(emb, trainer.embed(test))
    assert mc.shape == (6, len(test), 2)
    np.testing.assert_allclose(mc.sum(axis=2), 1.0, atol=1e-5)
    assert mc.std(axis=0).max() > 1e-4  # dropout was active: the samples differ
    # ... and switched off again afterwards: plain predictions stay deterministic.
    np.testing.assert_array_equal(trainer.predict(test), probs)
    assert trainer.outputs(test)[2].size == 0


def test_test_time_augmentation_averages_the_training_views(
    lite0: LesionClassifier, splits: dict, tmp_path: Path
) -> None:
    """TTA averages the probabilities of the same fixed views in both paths; 1 view is the plain image."""
    model = copy.deepcopy(lite0)
    fast = Trainer(model, config(freeze_stages=3), cache_dir=tmp_path)
    full = Trainer(model, config(freeze_stages=0), cache_dir=tmp_path)  # same weights, no cache
    test = splits["test"]
    plain = fast.predict(test)
    np.testing.assert_array_equal(fast.predict(test, views=1), plain)
    tta = fast.predict(test, views=4)
    assert tta.shape == plain.shape
    np.testing.assert_allclose(tta.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(tta - plain).max() > 1e-4  # the augmented views do change the prediction
    # The full path builds the views from the decoded images, the fast path reads their cached trunk
    # activations (float16): the same views give the same average up to that rounding.
    np.testing.assert_allclose(full.predict(test, views=4), tta, atol=2e-3)
    # The mean of the views, each predicted on its own; view v is the same whatever the count.
    per_view = fast.runtime.view_probs(test, 6)
    assert per_view.shape == (6, len(test), 2)
    np.testing.assert_allclose(per_view[:4].mean(axis=0), tta, atol=1e-6)
    np.testing.assert_allclose(per_view[0], plain, atol=1e-6)
    np.testing.assert_allclose(per_view[:2].mean(axis=0), fast.predict(test, views=2), atol=1e-6)
    # The config's tta_views is the default; a bad count is refused.
    assert np.array_equal(Trainer(model, config(freeze_stages=3, tta_views=4)).predict(test), tta)
    with pytest.raises(ConfigError, match="views must be >= 1"):
        fast.predict(test, views=0)


# ------------------------------------------------------------------------ activation cache


@pytest.mark.slow
def test_activation_cache_is_reused_and_invalidated(
    lite0: LesionClassifier,
    splits: dict,
    tiny_isic: TinyIsic,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[int] = []
    run_trunk = LesionClassifier.run_trunk

    def counting(self: LesionClassifier, x: torch.Tensor, upto: int) -> torch.Tensor:
        seen.append(x.shape[0])
        return run_trunk(self, x, upto)

    monkeypatch.setattr(LesionClassifier, "run_trunk", counting)
    cache = tmp_path / "cache"
    train = splits["train"]

    clear_memory()
    Trainer(copy.deepcopy(lite0), config(views=2), cache_dir=cache).fit(train)
    # Every image, both views, once: in fixed-shape batches (a short one zero-padded), so the rows run
    # exceed the images by less than one batch per view.
    assert len(set(seen)) == 1 and 2 * len(train) <= sum(seen) < 2 * len(train) + 2 * seen[0]
    assert len(list((cache / "activations").rglob("*.npy"))) == 2 * len(train)
    # `lesionlab cache` recognises the folder the trainer wrote, as one in use.
    assert [(f.kind, f.files, f.stale) for f in cache_folders(cache) if f.kind == "trunk activations"] == [
        ("trunk activations", 2 * len(train), False)
    ]

    # A second trainer on the same trunk (another head) in a "new process": served from disk.
    clear_memory()
    seen.clear()
    other_head = create_classifier("efficientnet_lite0", 2, "imagenet", seed=1)
    second = Trainer(other_head, config(views=2, seed=3), cache_dir=cache)
    second.fit(train)
    second.predict(train)
    assert seen == []

    # The same data set copied elsewhere (new paths and mtimes, as a fresh extraction gives) keeps its
    # activations, and so its augmented views.
    clear_memory()
    copies = []
    for r in train:
        target = tmp_path / "copied" / r.image_path.name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(r.image_path.read_bytes())
        copies.append(replace(r, image_path=target))
    second.fit(copies)
    assert seen == []
    before = second.predict(train)
    np.testing.assert_array_equal(second.predict(copies), before)

    # An edited image gets new activations; the others are still reused.
    changed = tiny_isic.image(train[0].id)
    st = changed.stat()
    lesion_image(12345, melanoma=False).save(changed, quality=95)
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    after = second.predict(train)
    assert len(seen) == 1  # one (padded) trunk batch, for the one edited image
    assert not np.allclose(after[0], before[0])
    np.testing.assert_array_equal(after[1:], before[1:])


def test_cached_activations_never_change(lite0: LesionClassifier, splits: dict, tmp_path: Path) -> None:
    """Asking for more views later must not recompute (and re-round) the plain view already served."""
    clear_memory()
    trainer = Trainer(copy.deepcopy(lite0), config(views=3), cache_dir=tmp_path)
    few = splits["train"][:5]
    before = trainer.predict(few)  # view 0 of 5 images, computed as a batch of 5
    trainer.runtime.activations.get([r.image_path for r in splits["train"]], 3)  # all views, a batch of 40
    np.testing.assert_array_equal(trainer.predict(few), before)
    clear_memory()
    np.testing.assert_array_equal(trainer.predict(few), before)  # and from disk


def test_a_different_trunk_does_not_reuse_the_cache(
    lite0: LesionClassifier, splits: dict, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    Trainer(copy.deepcopy(lite0), config(freeze_stages=5), cache_dir=cache).predict(splits["val"])
    Trainer(copy.deepcopy(lite0), config(freeze_stages=4), cache_dir=cache).predict(splits["val"])
    random_trunk = create_classifier("efficientnet_lite0", 2, "none", seed=0)
    Trainer(random_trunk, config(freeze_stages=5), cache_dir=cache).predict(splits["val"])
    assert len([d for d in (cache / "activations").iterdir() if d.is_dir()]) == 3


# ------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"views": 0}, "views"),
        ({"tta_views": 0}, "tta_views"),
        ({"resolution": 16}, "resolution"),
        ({"augmentation": "heavy"}, "augmentation"),
        ({"class_weights": "inverse"}, "class_weights"),
        ({"weight_decay": -1}, "weight_decay"),
        ({"lr": float("inf")}, "lr"),
        ({"seed": -1}, "seed"),
        ({"patience": -1}, "patience"),
        ({"num_threads": 0}, "num_threads"),
        ({"preprocessing": "clahe"}, "preprocessing"),
        ({"device": "gpu"}, "device"),
        ({"device": "cuda:x"}, "device"),
    ],
)
def test_train_config_rejects_bad_values(overrides: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"train.{field}"):
        load_config(TrainRunConfig, {"train": overrides})


def test_preprocessing_choices_match_the_implementation() -> None:
    """The config lists the preprocessing names without importing the image code; the two must agree."""
    from typing import get_args

    from lesionlab.config import Preprocessing
    from lesionlab.data.preprocess import PREPROCESSING, RESIZE_MODES

    assert set(get_args(Preprocessing)) == set(PREPROCESSING)
    assert set(get_args(TrainConfig.model_fields["resize"].annotation)) == set(RESIZE_MODES)


@pytest.mark.parametrize(("monitor", "num_classes"), [("f1", 2), ("accuracy", 2), ("auc", 3), ("acc", 3)])
def test_monitor_is_checked_against_the_task(monitor: str, num_classes: int) -> None:
    model = create_classifier("efficientnet_lite0", num_classes, "none", seed=0)
    if monitor == "accuracy" or (monitor == "acc" and num_classes == 3):  # "acc" is the old name
        Trainer(model, config(monitor=monitor))
        return
    with pytest.raises(ConfigError, match=f"train.monitor: {monitor!r} is not a metric of classification"):
        Trainer(model, config(monitor=monitor))


def test_unknown_loss_lists_the_registered_ones(lite0: LesionClassifier) -> None:
    with pytest.raises(
        ConfigError,
        match="unknown loss 'focal'; choose one of: ce_dice, dice, forward, ousm, ousm_loop, weighted_ce",
    ):
        Trainer(copy.deepcopy(lite0), config(loss="focal"))


def test_freeze_stages_must_leave_the_head_to_train(lite0: LesionClassifier) -> None:
    with pytest.raises(ConfigError, match=r"freeze_stages must be in \[0, 7\]"):
        Trainer(copy.deepcopy(lite0), config(freeze_stages=8))
    resnet = create_classifier("resnet18", 2, "none", seed=0)
    with pytest.raises(ConfigError, match=r"freeze_stages must be in \[0, 4\]"):
        Trainer(resnet, config(freeze_stages=5))
    Trainer(copy.deepcopy(lite0), config(freeze_stages=6))  # the last stage alone is trainable


def test_every_stage_frozen_trains_the_head_and_keeps_mc_dropout(
    lite0: LesionClassifier, splits: dict, tmp_path: Path
) -> None:
    """freeze_stages 7 (all of Lite0's stages; the `sk` demo's cheap unit): the cache holds the last
    stage's output, only the conv head and classifier train, and MC dropout (BALD) still samples."""
    model = copy.deepcopy(lite0)
    before = copy.deepcopy(model.state_dict())
    trainer = Trainer(model, config(freeze_stages=7), cache_dir=tmp_path)
    trainer.fit(splits["train"], splits["val"])
    after = model.state_dict()
    changed = {key for key, value in after.items() if not torch.equal(before[key], value)}
    assert not {key for key in changed if key.startswith(("stem.", "stages."))}
    assert {"head.0.weight", "head.1.weight", "classifier.weight"} <= changed
    assert not any(p.requires_grad for m in model.trunk_modules(7) for p in m.parameters())
    _, _, mc = trainer.outputs(splits["test"], mc_samples=4)
    assert mc.shape == (4, len(splits["test"]), 2) and mc.std(axis=0).max() > 1e-4


def test_empty_training_set(lite0: LesionClassifier) -> None:
    with pytest.raises(ConfigError, match="empty"):
        Trainer(copy.deepcopy(lite0), config()).fit([])


@pytest.mark.parametrize("bad", [2, -1, None])
def test_labels_out_of_range(lite0: LesionClassifier, splits: dict, bad: int | None) -> None:
    train = list(splits["train"][:6])
    train[3] = replace(train[3], label=bad)
    message = "1 training image.s. have no label" if bad is None else r"\[0, 1\]"
    with pytest.raises(ConfigError, match=message):
        Trainer(copy.deepcopy(lite0), config()).fit(train)


def test_class_weight_schemes() -> None:
    """balanced = n / (C n_c); sqrt is its square root; none gives no weights; an absent class counts as 1."""
    from lesionlab.training.trainer import class_weight_vector

    counts = np.array([90.0, 10.0, 0.0])
    balanced = class_weight_vector(counts, "balanced")
    assert balanced is not None
    np.testing.assert_allclose(balanced.numpy(), [100 / 270, 100 / 30, 100 / 3], rtol=1e-6)
    np.testing.assert_allclose(
        class_weight_vector(counts, "sqrt").numpy(), np.sqrt(balanced.numpy()), rtol=1e-6
    )
    assert class_weight_vector(counts, "none") is None


# ------------------------------------------------------------------------ extension points


class LossGuess(AuxiliaryHead):
    """A toy auxiliary head: guesses each sample's loss from the pooled embedding (squared error)."""

    name = "loss_guess"

    def __init__(self, dim: int) -> None:
        super().__init__(weight=0.5)
        self.fc = torch.nn.Linear(dim, 1)

    def forward(self, output) -> torch.Tensor:
        return self.fc(output.embedding.float()).squeeze(1)

    def loss(self, prediction, task_loss, weights) -> torch.Tensor:
        return ((prediction - task_loss.values.detach()) ** 2).mean()


def test_auxiliary_heads_train_jointly_and_predict(lite0: LesionClassifier, splits: dict) -> None:
    head = LossGuess(lite0.embed_dim)
    before = head.fc.weight.detach().clone()
    trainer = Trainer(copy.deepcopy(lite0), config(), aux_heads=[head])
    fit = trainer.fit(splits["train"], splits["val"])
    assert not torch.equal(before, head.fc.weight.detach())  # its parameters were optimised
    assert all("train_loss_guess_loss" in row for row in fit.history)
    predicted = trainer.aux_predict(splits["test"])["loss_guess"]
    assert predicted.shape == (len(splits["test"]),) and np.all(np.isfinite(predicted))


@pytest.mark.slow
def test_epoch_callbacks_see_every_epoch_and_can_reweight(lite0: LesionClassifier, splits: dict) -> None:
    seen: list[int] = []
    train = splits["train"]

    def only_first_class(event: EpochEnd) -> None:
        seen.append(event.epoch)
        assert event.trainer is not None and len(event.train) == len(train)
        event.sample_weights = (_labels(train) == 0).astype(float)
        event.row["weighted"] = float(event.sample_weights.sum())

    fit = Trainer(copy.deepcopy(lite0), config(epochs=3), callbacks=[only_first_class]).fit(train)
    assert seen == [1, 2, 3]
    assert fit.history[-1]["weighted"] == float((_labels(train) == 0).sum())

    def broken(event: EpochEnd) -> None:
        event.sample_weights = np.full(len(train), -1.0)

    with pytest.raises(ValueError, match="sample weights"):
        Trainer(copy.deepcopy(lite0), config(), callbacks=[broken]).fit(train)


@pytest.mark.slow
def test_sample_weights_count_in_the_loss(lite0: LesionClassifier, splits: dict) -> None:
    """Equal weights change nothing; zero weight on one class moves the model towards the other."""
    train, test = splits["train"], splits["test"]
    plain = Trainer(copy.deepcopy(lite0), config(epochs=3, class_weights="none"))
    plain.fit(train)
    ones = Trainer(copy.deepcopy(lite0), config(epochs=3, class_weights="none"))
    ones.fit(train, sample_weights=np.full(len(train), 2.0))
    np.testing.assert_allclose(plain.predict(test), ones.predict(test), atol=1e-4)
    zero_first = Trainer(copy.deepcopy(lite0), config(epochs=3, class_weights="none", lr=1e-2))
    zero_first.fit(train, sample_weights=(_labels(train) == 1).astype(float))
    assert zero_first.predict(test)[:, 1].mean() > plain.predict(test)[:, 1].mean()


def test_one_class_validation_falls_back_to_the_loss(lite0: LesionClassifier, splits: dict, capsys) -> None:
    val = [r for r in splits["val"] if r.label == 0]
    fit = Trainer(copy.deepcopy(lite0), config(epochs=2, progress=True)).fit(splits["train"], val)
    assert fit.monitor == "loss"
    assert "validation split holds one class only" in capsys.readouterr().err
    assert fit.best_score is not None and np.isfinite(fit.best_score)


def test_unlabelled_validation_images_are_left_out(lite0: LesionClassifier, splits: dict) -> None:
    val = list(splits["val"])
    val[0] = replace(val[0], label=None)
    fit = Trainer(copy.deepcopy(lite0), config()).fit(splits["train"], val)
    assert np.isfinite(fit.history[-1]["val_loss"])


def test_a_best_epoch_at_the_limit_is_noted(
    lite0: LesionClassifier, splits: dict, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lesionlab.progress._said", set())  # said once per process: not yet in this one
    fit = Trainer(copy.deepcopy(lite0), config(epochs=2, progress=True)).fit(splits["train"], splits["val"])
    err = capsys.readouterr().err
    assert ("best validation epoch is the last allowed (2)" in err) == (fit.best_epoch == 2)
    assert "epoch 1/2: train loss" in err and "ETA" in err  # one line per epoch where no bar shows


def test_the_progress_bar_shows_the_last_validation_score(
    lite0: LesionClassifier, splits: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lesionlab.training.trainer as trainer_module

    descriptions: list[str] = []

    def recording(items, description, total=None, enabled=True):
        descriptions.append(description)
        yield from items

    monkeypatch.setattr(trainer_module, "progress", recording)
    Trainer(copy.deepcopy(lite0), config(epochs=2)).fit(splits["train"], splits["val"])
    assert descriptions[0] == "epoch 1/2"
    assert re.fullmatch(r"epoch 2/2 \(last val auc \d\.\d{3}\)", descriptions[1])
