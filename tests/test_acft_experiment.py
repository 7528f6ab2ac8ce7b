"""ACFT end to end through the runner on the tiny ISIC tree: an empty start, patch evidence from the
cached patch activations, ACFT(HQ)'s training set (Alg. 1 lines 12-14) and its learning rate (Table 3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fake_isic import TinyIsic, make_tiny_isic
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.data.pool_state import PoolState
from lesionlab.runner.experiment import Experiment, run_experiment
from lesionlab.runner.learning import round_lr, training_set

BUDGET = 8
PATCHES = 4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyIsic:
    return make_tiny_isic(tmp_path_factory.mktemp("acft") / "isic2017")


def config(tiny: TinyIsic, out: Path, **experiment: Any) -> ExperimentConfig:
    return load_config(
        ExperimentConfig,
        {
            "name": "tiny acft",
            "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
            "train": {
                "resolution": 32,
                "epochs": 2,
                "freeze_stages": 5,
                "views": 2,
                "batch_size": 8,
                "lr": 1e-3,
                "num_threads": 1,
                "progress": False,
            },
            "experiment": {
                "strategies": ["acft_entropy"],
                "strategy_params": {"acft_entropy": {"patches": PATCHES}},
                "seeds": [0],
                "initial": {"kind": "empty"},
                "budget": BUDGET,
                "rounds": 3,
                "learning": "acft_hq",
                **experiment,
            },
            "output": str(out),
            "cache_dir": str(out.parent / "cache"),
        },
    )


@pytest.mark.slow
def test_acft_hq_from_an_empty_start(tiny: TinyIsic, tmp_path: Path, offline_single_thread: None) -> None:
    out = tmp_path / "run"
    results = run_experiment(config(tiny, out), progress=False)
    state = PoolState.load(out / "state" / "acft_entropy_seed0.json")
    history = state.history
    # Round 0 has no labels and trains nothing: the pre-trained trunk with a fresh head picks the first
    # batch from its patch predictions (Alg. 1 line 1); the curve starts with that batch.
    assert history[0]["n_labeled"] == 0 and history[0]["metrics"] is None
    assert len(history[0]["new_ids"]) == BUDGET
    rounds = results["runs"][0]["rounds"]
    assert [r["n_labeled"] for r in rounds] == [BUDGET, 2 * BUDGET, 3 * BUDGET]
    assert all(np.isfinite(r["metrics"]["auc"]) for r in rounds)
    # The first fine-tuning from M0 runs at train.lr; continual fine-tuning at a tenth of it.
    assert [r["lr"] for r in rounds] == pytest.approx([1e-3, 1e-4, 1e-4])
    # ACFT(HQ): the new batch plus the earlier labels the previous model got wrong, never more.
    assert rounds[0]["n_trained_on"] == BUDGET
    for r in rounds[1:]:
        assert BUDGET <= r["n_trained_on"] <= r["n_labeled"]
    # Every pool image's patches went through the frozen trunk once, into their own cache folder.
    folders = list((tmp_path / "cache" / "activations").glob("*_patches"))
    assert len(folders) == 1
    assert len(list(folders[0].glob("*.npy"))) == len(tiny.ids["train"]) * PATCHES
    # Selections are ranked by a_i and recorded with their scores.
    for entry in history[:-1]:
        assert np.all(np.diff(entry["new_scores"]) <= 0)
    assert (
        json.loads((out / "results.json").read_text())["config"]["experiment"]["initial"]["kind"] == "empty"
    )


class _Predictor:
    """Stands in for M_{t-1}: says class 1 for the ids it is given, class 0 otherwise."""

    def __init__(self, ones: set[str]) -> None:
        self.ones = ones
        self.asked: list[str] = []

    def predict(self, records):
        self.asked += [r.id for r in records]
        return np.array([[0.2, 0.8] if r.id in self.ones else [0.9, 0.1] for r in records])


@pytest.mark.parametrize("learning", ["retrain", "acft_q", "acft_lq", "acft_hq"])
def test_training_sets_of_table2(tiny: TinyIsic, tmp_path: Path, learning: str) -> None:
    """L = the labels before the last batch, Q = the last batch, H = the L that M_{t-1} misclassifies."""
    exp = Experiment(config(tiny, tmp_path / learning, learning=learning), progress=False)
    pool = [r.id for r in exp.pool]
    old, new = pool[:10], pool[10:14]
    state = PoolState(pool_ids=pool, labels={}, held_out=[], history=[])
    state.buy(old + new, {i: exp.by_id[i].label for i in old + new})
    state.history = [{"round": 0, "new_ids": new, "metrics": {"auc": 0.5}}]
    model = _Predictor(ones=set(old[:5]))
    got = {r.id for r in training_set(learning, state, exp.by_id, model)}
    wrong = {i for i in old if (i in model.ones) != bool(exp.by_id[i].label)}
    expected = {
        "retrain": set(old + new),
        "acft_lq": set(old + new),
        "acft_q": set(new),
        "acft_hq": set(new) | wrong,
    }[learning]
    assert got == expected
    if learning == "acft_hq":
        assert 0 < len(wrong) < len(old)
        assert sorted(model.asked) == sorted(old)  # Alg. 1 line 12: M_{t-1} on L, not on Q


def test_round_lr() -> None:
    trained, untrained = [{"metrics": {"auc": 0.6}}], [{"metrics": None}]
    assert round_lr(1e-4, "retrain", trained, 0.1) == 1e-4
    assert round_lr(1e-4, "acft_hq", [], 0.1) == 1e-4
    assert round_lr(1e-4, "acft_hq", untrained, 0.1) == 1e-4
    assert round_lr(1e-4, "acft_q", trained, 0.1) == pytest.approx(1e-5)
