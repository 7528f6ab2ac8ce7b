"""The loss predictor Kim et al. 2020 use: taps, the ranking loss of Eq. 4, learning to rank on a toy problem,
the CPU fast path (pooled taps of frozen stages from the activation cache), and learning_loss end to end."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from fake_isic import TinyIsic, tiny_train_config
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.data.pool_state import PoolState
from lesionlab.data.records import Record
from lesionlab.data.sources import load_isic2017
from lesionlab.errors import ConfigError
from lesionlab.models.classifier import ClassifierOutput, LesionClassifier
from lesionlab.models.loss_predictor import LossPredictor, default_tap_stages, ranking_loss
from lesionlab.models.registry import create_classifier
from lesionlab.models.unet import UNet
from lesionlab.runner.experiment import run_experiment
from lesionlab.selection.base import get_strategy
from lesionlab.selection.learned import LearningLoss
from lesionlab.training.activations import clear_memory
from lesionlab.training.losses import SampleLoss, ce_dice, dice
from lesionlab.training.trainer import TrainConfig, Trainer


@pytest.fixture(autouse=True)
def _offline_one_thread(offline_single_thread: None) -> Iterator[None]:
    yield


@pytest.fixture(scope="module")
def lite0() -> LesionClassifier:
    return create_classifier("efficientnet_lite0", 2, "imagenet", seed=0)


@pytest.fixture
def splits(tiny_isic: TinyIsic) -> dict[str, list[Record]]:
    ds = load_isic2017(tiny_isic.root)
    return {s: ds.split(s) for s in ("train", "val", "test")}


def config(**overrides) -> TrainConfig:
    return tiny_train_config(**{"freeze_stages": 6, **overrides})


def _output(maps: list[torch.Tensor]) -> ClassifierOutput:
    n = len(maps[0])
    return ClassifierOutput(torch.zeros(n, 2), torch.zeros(n, 4), maps)


# ------------------------------------------------------------------------ structure


@pytest.mark.parametrize(
    ("backbone", "stages", "channels"),
    [
        ("efficientnet_lite0", (1, 2, 4, 6), (24, 40, 112, 320)),
        ("resnet18", (0, 1, 2, 3), (64, 128, 256, 512)),
    ],
)
def test_taps_are_the_last_stage_of_the_four_coarsest_resolutions(
    backbone: str, stages: tuple, channels: tuple
) -> None:
    model = create_classifier(backbone, 3, "none", seed=0)
    head = LossPredictor.for_model(model)
    assert head.tap_stages == stages and head.channels == channels
    assert head.name == "loss_predictor" and head.weight == 1.0 and head.margin == 0.5
    # GAP + FC(128) + ReLU per tap, then one FC to a scalar
    assert [fc.out_features for fc in head.taps] == [128] * 4 and head.out.in_features == 512
    assert default_tap_stages([(8, 4, 4), (8, 2, 2), (16, 2, 2), (32, 1, 1)]) == (0, 2, 3)


def test_for_model_is_seeded_by_the_model() -> None:
    a, b = create_classifier("resnet18", 2, "none", seed=0), create_classifier("resnet18", 2, "none", seed=0)
    c = create_classifier("resnet18", 2, "none", seed=1)
    torch.manual_seed(123)  # the global generator does not matter
    ha = LossPredictor.for_model(a)
    torch.manual_seed(456)
    hb, hc = LossPredictor.for_model(b), LossPredictor.for_model(c)
    assert torch.equal(ha.out.weight, hb.out.weight) and not torch.equal(ha.out.weight, hc.out.weight)


def test_ranking_loss_is_eq4_over_the_halves_of_the_batch() -> None:
    pred = torch.tensor([0.2, 1.0, 0.0, 0.9, 0.3])
    loss = torch.tensor([3.0, 1.0, 7.0, 2.0, 1.0])
    # pairs (0, 4) and (1, 3); the middle sample is unpaired
    # pair (0, 4): l0 > l4 so f = +1: max(0, -(0.2 - 0.3) + 0.5) = 0.6
    # pair (1, 3): l1 < l3 so f = -1: max(0, (1.0 - 0.9) + 0.5) = 0.6
    assert ranking_loss(pred, loss).item() == pytest.approx(0.6)
    # well separated in the right order: no loss
    assert ranking_loss(torch.tensor([2.0, 0.0]), torch.tensor([5.0, 1.0])).item() == 0.0
    # equal losses count as f = -1 (Yoo & Kweon's sign convention)
    assert ranking_loss(torch.tensor([0.0, 0.0]), torch.tensor([1.0, 1.0])).item() == pytest.approx(0.5)
    # a sample weighted 0 pairs with nobody
    w = torch.tensor([1.0, 0.0, 1.0, 1.0, 1.0])
    assert ranking_loss(pred, loss, weights=w).item() == pytest.approx(0.6)
    assert ranking_loss(torch.tensor([1.0]), torch.tensor([1.0])).item() == 0.0


def test_the_target_is_every_samples_loss_even_when_ousm_dropped_some() -> None:
    head = LossPredictor(tap_stages=(0,), channels=(3,))
    pred = torch.tensor([1.0, 0.0])
    dropped = SampleLoss(torch.tensor([0.0, 1.0]), raw=torch.tensor([5.0, 1.0]))  # sample 0 dropped
    assert head.loss(pred, dropped, None).item() == 0.0  # ranked right by the raw losses
    assert ranking_loss(pred, dropped.values).item() == pytest.approx(1.5)  # wrong by the dropped ones


@pytest.mark.slow
def test_learns_to_rank_losses_on_a_toy_problem() -> None:
    """Per-sample losses are a known nonlinear function of the tapped features (a sum over taps of
    |pooled tap . u_t|); trained with Eq. 4 alone, the predictor ranks held-out samples by their loss."""
    gen = torch.Generator().manual_seed(0)
    channels = (6, 8, 10, 12)
    directions = [torch.randn(c, generator=gen) / c**0.5 for c in channels]

    def sample(n: int) -> tuple[list[torch.Tensor], torch.Tensor]:
        maps = [3 * torch.randn(n, c, 3, 3, generator=gen) for c in channels]
        return maps, sum((m.mean(dim=(2, 3)) @ u).abs() for m, u in zip(maps, directions, strict=True))

    def ranking(head: LossPredictor) -> tuple[float, float]:
        maps, loss = sample(2000)
        with torch.no_grad():
            pred = head(_output(maps))
        i, j = torch.randint(0, 2000, (2, 20000), generator=gen)
        pair_accuracy = ((pred[i] > pred[j]) == (loss[i] > loss[j])).float().mean().item()
        return float(spearmanr(pred.numpy(), loss.numpy())[0]), pair_accuracy

    head = LossPredictor(tap_stages=(0, 1, 2, 3), channels=channels, seed=0)
    rho_before, acc_before = ranking(head)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
    for _ in range(500):
        maps, loss = sample(64)
        objective = head.loss(head(_output(maps)), SampleLoss(loss), None)
        optimizer.zero_grad()
        objective.backward()
        optimizer.step()
    rho, acc = ranking(head)
    assert abs(rho_before) < 0.3 and acc_before < 0.6  # chance: 0 and 0.5
    assert rho > 0.9 and acc > 0.85  # measured: 0.97 and 0.93


def test_a_missing_tap_is_named() -> None:
    out = ClassifierOutput(torch.zeros(2, 2), torch.zeros(2, 4), [torch.zeros(2, 3, 2, 2)], first_tap=6)
    assert out.pooled_tap(6).shape == (2, 3)
    with pytest.raises(ValueError, match="no tap of stage 4: stages 6-6 ran"):
        out.pooled_tap(4)


# ------------------------------------------------------------------------ the trainer and the fast path


@pytest.mark.parametrize("freeze_stages", [5, 6, 7])  # 7: every stage frozen, all taps from the cache
def test_fast_path_reads_frozen_taps_from_the_cache(
    lite0: LesionClassifier, splits: dict, tmp_path: Path, freeze_stages: int
) -> None:
    """On the fast path the frozen stages' pooled taps come from the cache and match the full forward."""
    model = copy.deepcopy(lite0)
    head = LossPredictor.for_model(model)
    trainer = Trainer(model, config(freeze_stages=freeze_stages), cache_dir=tmp_path, aux_heads=[head])
    records = splits["test"]
    fast = trainer.aux_predict(records)["loss_predictor"]
    images = torch.from_numpy(trainer.images.get_many([r.image_path for r in records]))
    with torch.no_grad():
        full = head(model.eval().forward_all(images.permute(0, 3, 1, 2).float() / 255))
    np.testing.assert_allclose(fast, full.numpy(), atol=2e-3)  # float16 activations on the fast path
    folders = sorted(p.name for p in (tmp_path / "activations").iterdir())
    cached = [s for s in (1, 2, 4, 6) if s < freeze_stages]  # the default taps: stages 1, 2, 4, 6
    assert len(folders) == 2 and folders[1] == folders[0] + "_taps" + "-".join(map(str, cached))


@pytest.mark.slow
def test_the_head_trains_jointly_and_leaves_the_model_as_without_it(
    lite0: LesionClassifier, splits: dict, tmp_path: Path
) -> None:
    plain = Trainer(copy.deepcopy(lite0), config(), cache_dir=tmp_path / "plain")
    plain_fit = plain.fit(splits["train"], splits["val"])
    plain_test = plain.predict(splits["test"])
    trunk_files = {p.name: p.read_bytes() for p in (tmp_path / "plain" / "activations").rglob("*.npy")}

    clear_memory()
    model = copy.deepcopy(lite0)
    head = LossPredictor.for_model(model)
    before = copy.deepcopy(head.state_dict())
    trainer = Trainer(model, config(), cache_dir=tmp_path / "head", aux_heads=[head])
    fit = trainer.fit(splits["train"], splits["val"])
    assert all(np.isfinite(row["train_loss_predictor_loss"]) for row in fit.history)
    assert any(not torch.equal(before[k], v) for k, v in head.state_dict().items())
    # The taps are detached: the model trains exactly as without the head.
    assert fit.best_epoch == plain_fit.best_epoch
    np.testing.assert_array_equal(trainer.predict(splits["test"]), plain_test)
    # The trunk's cache is the same, entry for entry; the pooled taps have a folder of their own.
    folders = sorted((tmp_path / "head" / "activations").iterdir())
    assert {p.name: p.read_bytes() for p in folders[0].glob("*.npy")} == trunk_files
    assert len(list(folders[1].glob("*.npy"))) == len(trunk_files)
    predicted = trainer.aux_predict(splits["test"])["loss_predictor"]
    assert predicted.shape == (len(splits["test"]),) and np.all(np.isfinite(predicted))


def test_full_fine_tuning_taps_every_stage_live(lite0: LesionClassifier, splits: dict) -> None:
    model = copy.deepcopy(lite0)
    trainer = Trainer(model, config(freeze_stages=0, epochs=1), aux_heads=[LossPredictor.for_model(model)])
    fit = trainer.fit(splits["train"][:16])
    assert np.isfinite(fit.history[0]["train_loss_predictor_loss"])
    assert trainer.aux_predict(splits["test"])["loss_predictor"].shape == (len(splits["test"]),)


def test_synthetic_samples_with_cached_taps_are_refused(lite0: LesionClassifier, splits: dict) -> None:
    model = copy.deepcopy(lite0)
    trainer = Trainer(model, config(synthetic="mixup"), aux_heads=[LossPredictor.for_model(model)])
    with pytest.raises(ConfigError, match="synthetic"):
        trainer.fit(splits["train"], splits["val"])


# ------------------------------------------------------------------------ learning_loss end to end


def test_learning_loss_strategy_takes_the_top_predicted_loss() -> None:
    from lesionlab.selection.base import Evidence

    evidence = Evidence(ids=np.array(list("abcde")), predicted_loss=np.array([0.1, 2.0, -1.0, 5.0, 0.3]))
    selection = get_strategy("learning_loss").select(evidence, 2, np.random.default_rng(0))
    assert selection.ids.tolist() == ["d", "b"] and selection.scores.tolist() == [5.0, 2.0]
    assert get_strategy("learning_loss").requires == {"predicted_loss"}


@pytest.mark.slow
def test_learning_loss_experiment_end_to_end(
    tiny_isic: TinyIsic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner trains the loss predictor with the model every round and the strategy selects by it."""
    losses: list[float] = []
    seen: list[np.ndarray] = []
    original_loss, original_select = LossPredictor.loss, LearningLoss.select

    def spy_loss(self, prediction, task_loss, weights):
        value = original_loss(self, prediction, task_loss, weights)
        losses.append(value.item())
        return value

    def spy_select(self, evidence, budget, rng):
        seen.append(np.array(evidence.predicted_loss))
        return original_select(self, evidence, budget, rng)

    monkeypatch.setattr(LossPredictor, "loss", spy_loss)
    monkeypatch.setattr(LearningLoss, "select", spy_select)
    cfg = load_config(
        ExperimentConfig,
        {
            "name": "tiny_ll",
            "data": {"source": "isic2017", "root": str(tiny_isic.root), "task": "melanoma"},
            "train": {
                "resolution": 32,
                "epochs": 2,
                "freeze_stages": 6,
                "views": 2,
                "batch_size": 8,
                "lr": 1e-3,
                "num_threads": 1,
                "progress": False,
            },
            "experiment": {
                "strategies": ["learning_loss"],
                "seeds": [0],
                "initial": {"kind": "random", "size": 0.2},
                "budget": 0.2,
                "rounds": 2,
            },
            "output": str(tmp_path / "run"),
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    results = run_experiment(cfg, progress=False)
    state = PoolState.load(tmp_path / "run" / "state" / "learning_loss_seed0.json")
    assert len(results["runs"][0]["rounds"]) == 3 and len(state.labels) == 8 + 2 * 8
    assert len(losses) >= 2 * 2 * 2 and all(np.isfinite(losses))  # every batch of every epoch and round
    assert len(seen) == 2  # two selections, each over the whole unlabelled pool
    for entry, predicted in zip(state.history[:2], seen, strict=True):
        assert predicted.shape == (40 - entry["n_labeled"],) and np.ptp(predicted) > 0
        np.testing.assert_allclose(entry["new_scores"], np.sort(predicted)[::-1][:8], rtol=1e-6)
    assert any(p.name.endswith("_taps1-2-4") for p in (tmp_path / "cache" / "activations").iterdir())


def test_a_segmenters_predictor_learns_the_dice_term_of_ce_dice() -> None:
    torch.manual_seed(0)
    logits = torch.randn(6, 1, 8, 8)
    masks = (torch.rand(6, 8, 8) > 0.5).float()
    task_loss = ce_dice(logits, masks)
    assert set(task_loss.parts) == {"ce", "dice"}
    torch.testing.assert_close(task_loss.parts["ce"] + task_loss.parts["dice"], task_loss.values)
    torch.testing.assert_close(task_loss.parts["dice"], dice(logits, masks).values)

    head = LossPredictor.for_segmenter(UNet(width=4))
    assert head.target == "dice"
    prediction = torch.randn(6)
    expected = ranking_loss(prediction, task_loss.parts["dice"], head.margin, None)
    torch.testing.assert_close(head.loss(prediction, task_loss, None), expected)
    # The ranking loss reads only the order of pairs: a sum whose Dice term ranks the images the other way
    # round shows which one the head learns; a classifier's predictor (no target) learns the whole loss.
    reversed_parts = SampleLoss(torch.arange(6.0), parts={"dice": -torch.arange(6.0)})
    whole = LossPredictor([0], [4])
    assert head.loss(prediction, reversed_parts, None) != whole.loss(prediction, reversed_parts, None)
    torch.testing.assert_close(
        head.loss(prediction, reversed_parts, None), ranking_loss(prediction, -torch.arange(6.0), 0.5, None)
    )
    torch.testing.assert_close(
        whole.loss(prediction, reversed_parts, None), ranking_loss(prediction, torch.arange(6.0), 0.5, None)
    )
