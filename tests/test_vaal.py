"""VAAL (Sinha et al. 2019): the discriminator's "unlabelled" probability as evidence, and the strategy."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

import lesionlab.models.vaal as vaal_module
from fake_isic import TinyIsic
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.data.pool_state import PoolState
from lesionlab.data.records import Record
from lesionlab.data.sources import load_isic2017
from lesionlab.errors import ConfigError
from lesionlab.models.registry import create_classifier
from lesionlab.models.vaal import seed_from_ids, unlabeled_probability, vaal_features
from lesionlab.runner.experiment import run_experiment
from lesionlab.selection.base import Evidence, get_strategy
from lesionlab.selection.evidence import collect_evidence
from lesionlab.training.trainer import TrainConfig, Trainer


@pytest.fixture(autouse=True)
def _one_thread(offline_single_thread: None) -> None:
    pass


class EmbeddingTrainer:
    """Stands in for a trainer without the fast path: `embed` serves fixed feature rows by record id."""

    fast = False

    def __init__(self, features: dict[str, np.ndarray]) -> None:
        self.features = features

    def embed(self, records):
        return np.stack([self.features[r.id] for r in records])


def _records(prefix: str, n: int) -> list[Record]:
    return [Record(id=f"{prefix}{i:03d}", image_path=Path(f"/x/{prefix}{i}.png"), label=0) for i in range(n)]


def _toy(seed: int = 0, shift: float = 2.5) -> tuple[list[Record], list[Record], EmbeddingTrainer]:
    """Labelled rows from N(0, I); unlabelled: 400 more like them (ids u...) and 100 shifted in 8 of the
    64 dimensions (ids v...), the images least like the labelled set."""
    rng = np.random.default_rng(seed)
    labeled, like, unlike = _records("l", 200), _records("u", 400), _records("v", 100)
    shifted = rng.normal(size=(100, 64))
    shifted[:, :8] += shift
    rows = np.concatenate([rng.normal(size=(600, 64)), shifted])
    features = {r.id: row for r, row in zip([*labeled, *like, *unlike], rows, strict=True)}
    return labeled, [*like, *unlike], EmbeddingTrainer(features)


@pytest.mark.slow
def test_vaal_picks_the_unlabelled_least_like_the_labelled() -> None:
    labeled, unlabeled, trainer = _toy()
    strategy = get_strategy("vaal")
    evidence = collect_evidence(strategy, trainer, unlabeled, labeled)
    scores = evidence.vaal_scores
    assert scores.shape == (500,) and np.all((scores >= 0) & (scores <= 1))
    picked = strategy.select(evidence, 100, np.random.default_rng(0))
    unlike = np.mean([i.startswith("v") for i in picked.ids])
    assert unlike >= 0.6  # chance: 0.2
    assert scores[400:].mean() > scores[:400].mean() + 0.1
    # the same request gives the same scores: the seed comes from the ids
    np.testing.assert_array_equal(collect_evidence(strategy, trainer, unlabeled, labeled).vaal_scores, scores)


def test_the_seed_follows_the_sets_not_their_order() -> None:
    assert seed_from_ids(["a", "b"], ["c"]) == seed_from_ids(["b", "a"], ["c"])
    assert seed_from_ids(["a", "b"], ["c"]) != seed_from_ids(["a"], ["b", "c"])
    rows = np.random.default_rng(0).normal(size=(30, 5))
    a = unlabeled_probability(rows[:10], rows[10:], seed=1, epochs=1)
    assert np.array_equal(a, unlabeled_probability(rows[:10], rows[10:], seed=1, epochs=1))
    assert not np.array_equal(a, unlabeled_probability(rows[:10], rows[10:], seed=2, epochs=1))
    assert unlabeled_probability(rows[:0], rows[10:], seed=1).tolist() == [0.5] * 20
    assert unlabeled_probability(rows[:10], rows[:0], seed=1).shape == (0,)


def test_strategy_options_reach_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict = {}

    def fake(labeled, unlabeled, seed, **options):
        seen.update(options)
        return np.linspace(0, 1, len(unlabeled))

    monkeypatch.setattr(vaal_module, "unlabeled_probability", fake)
    labeled, unlabeled, trainer = _toy()
    strategy = get_strategy("vaal", epochs=2, latent_dim=8)
    evidence = collect_evidence(strategy, trainer, unlabeled, labeled)
    assert seen == {
        "latent_dim": 8,
        "beta": 1.0,
        "adversary_weight": 1.0,
        "epochs": 2,
        "batch_size": 64,
        "lr": 5e-4,
    }
    assert strategy.select(evidence, 3, np.random.default_rng(0)).ids.tolist() == ["v099", "v098", "v097"]
    with pytest.raises(ConfigError, match="vaal"):
        get_strategy("vaal", epochs=0)


def test_vaal_strategy_takes_the_top_scores() -> None:
    evidence = Evidence(ids=np.array(list("abcd")), vaal_scores=np.array([0.2, 0.9, 0.5, 0.1]))
    picked = get_strategy("vaal").select(evidence, 2, np.random.default_rng(0))
    assert picked.ids.tolist() == ["b", "c"]


def test_on_the_fast_path_the_vae_reads_the_cached_trunk_activations(
    tiny_isic: TinyIsic, tmp_path: Path
) -> None:
    records = load_isic2017(tiny_isic.root).split("train")
    model = create_classifier("efficientnet_lite0", 2, "imagenet", seed=0)
    config = TrainConfig(resolution=64, freeze_stages=6, num_threads=1, progress=False)
    trainer = Trainer(copy.deepcopy(model), config, cache_dir=tmp_path)
    rows = vaal_features(trainer, records)
    acts = trainer.runtime.activations.get([r.image_path for r in records])[
        0
    ].float()  # (N, 192, 2, 2) at 64 px
    assert rows.shape == (len(records), 192 * 2 * 2)
    np.testing.assert_allclose(rows, acts.flatten(1).numpy())
    full = Trainer(copy.deepcopy(model), config.updated(freeze_stages=0), cache_dir=tmp_path)
    assert vaal_features(full, records[:4]).shape == (4, model.embed_dim)


@pytest.mark.slow
def test_vaal_experiment_end_to_end(
    tiny_isic: TinyIsic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int, dict]] = []
    original = vaal_module.unlabeled_probability

    def spy(labeled, unlabeled, seed, **options):
        calls.append((len(labeled), len(unlabeled), options))
        return original(labeled, unlabeled, seed, **options)

    monkeypatch.setattr(vaal_module, "unlabeled_probability", spy)
    cfg = load_config(
        ExperimentConfig,
        {
            "name": "tiny_vaal",
            "data": {"source": "isic2017", "root": str(tiny_isic.root), "task": "melanoma"},
            "train": {"resolution": 32, "epochs": 1, "freeze_stages": 6, "batch_size": 8, "num_threads": 1},
            "experiment": {
                "strategies": ["vaal"],
                "strategy_params": {"vaal": {"epochs": 2}},
                "seeds": [0],
                "initial": {"kind": "random", "size": 0.2},
                "budget": 0.2,
                "rounds": 1,
            },
            "output": str(tmp_path / "run"),
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    run_experiment(cfg, progress=False)
    state = PoolState.load(tmp_path / "run" / "state" / "vaal_seed0.json")
    assert len(calls) == 1 and calls[0][:2] == (8, 32) and calls[0][2]["epochs"] == 2
    scores = state.history[0]["new_scores"]
    assert len(scores) == 8 and all(0 <= s <= 1 for s in scores) and scores == sorted(scores, reverse=True)
