"""Each loss, strategy and oracle owns its options; the resume fingerprint is built from them, versioned.

The old flat `train` fields and the new `train.loss_options`, written out or left to their defaults, are
one configuration: one fingerprint, and the same selections on a tiny run. A run saved under an older
fingerprint format is refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fake_isic import TinyIsic, make_tiny_isic
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.data.records import LabeledDataset
from lesionlab.errors import ConfigError
from lesionlab.runner.experiment import run_experiment
from lesionlab.runner.oracles import build_oracle
from lesionlab.runner.resume import FINGERPRINT_FORMAT, check_resume, fingerprint
from lesionlab.training.trainer import Trainer

DATASET = LabeledDataset("tiny", "melanoma", ["other", "melanoma"])


def _fingerprint(train: dict | None = None, experiment: dict | None = None) -> dict:
    config = load_config(ExperimentConfig, {"train": train or {}, "experiment": experiment or {}})
    return fingerprint(config, DATASET)


def test_old_flat_loss_fields_and_loss_options_give_one_fingerprint(capsys) -> None:
    old = _fingerprint({"loss": "ousm_loop", "ousm_fraction": 0.2, "reweight_every": 3, "loop_neighbors": 7})
    assert "deprecated" in capsys.readouterr().err
    new = _fingerprint(
        {"loss": "ousm_loop", "loss_options": {"fraction": 0.2, "reweight_every": 3, "neighbors": 7}}
    )
    assert old == new
    assert new["loss"] == {
        "name": "ousm_loop",
        "options": {
            "fraction": 0.2,
            "alpha": 0.5,
            "beta": 0.5,
            "reweight_after": 5,
            "reweight_every": 3,
            "neighbors": 7,
            "extent": 3.0,
        },
    }
    # A default written out is the default: the same run.
    assert _fingerprint({"loss": "forward"}) == _fingerprint(
        {"loss": "forward", "loss_options": {"warmup": 5}}
    )
    assert _fingerprint() == _fingerprint({"loss": "weighted_ce"})  # auto is the task's default
    assert _fingerprint({"loss": "ousm"}) != _fingerprint({"loss": "ousm", "loss_options": {"fraction": 0.3}})


def test_strategy_options_with_defaults_written_or_not_give_one_fingerprint() -> None:
    given = {"strategies": ["dual_criteria"], "strategy_params": {"dual_criteria": {"gamma": 0.7}}}
    assert _fingerprint(experiment={"strategies": ["dual_criteria"]}) == _fingerprint(experiment=given)
    changed = {"strategies": ["dual_criteria"], "strategy_params": {"dual_criteria": {"gamma": 0.5}}}
    assert _fingerprint(experiment=changed)["strategy_params"]["dual_criteria"]["gamma"] == 0.5
    initial = {"initial": {"kind": "strategy", "strategy": "pca_lsh"}}
    assert _fingerprint(experiment=initial)["initial_strategy"] == {
        "name": "pca_lsh",
        "options": {"n_buckets": 10, "n_components": 1},
    }


def test_oracle_options_are_the_oracles_own() -> None:
    noisy = _fingerprint(experiment={"oracle": "noisy", "oracle_noise": 0.2})
    assert noisy["oracle"] == {"name": "noisy", "options": {"noise": 0.2}}
    # The simulated oracle reads no noise: a leftover oracle_noise changes nothing it does.
    assert _fingerprint(experiment={"oracle_noise": 0.2}) == _fingerprint()
    with pytest.raises(ConfigError, match="noisy_ranked needs oracle_difficulty"):
        build_oracle("noisy_ranked", [], ["a", "b"], 0.1, None, 0)


def _saved_run(tmp_path: Path, run: dict) -> Path:
    state = tmp_path / "out" / "state"
    state.mkdir(parents=True)
    (state / "random_seed0.json").write_text("{}")
    (state / "run.json").write_text(json.dumps(run))
    return state


def test_a_run_saved_under_an_older_fingerprint_format_is_refused_in_one_line(tmp_path: Path) -> None:
    current = _fingerprint()
    old = {k: v for k, v in current.items() if k not in ("format", "loss", "oracle", "initial_strategy")}
    state = _saved_run(tmp_path, old)  # format 1 had no `format` field
    with pytest.raises(ConfigError) as info:
        check_resume(state, current, force=False)
    message = str(info.value)
    assert "\n" not in message
    assert f"fingerprint format 1 and this lesionlab writes format {FINGERPRINT_FORMAT}" in message
    assert "own their options" in message and "--force" in message
    check_resume(state, current, force=True)  # --force starts again under today's format
    assert json.loads((state / "run.json").read_text())["format"] == FINGERPRINT_FORMAT
    check_resume(state, current, force=False)  # and then resumes


def test_unknown_options_stop_a_run_before_any_training(tmp_path: Path, monkeypatch) -> None:
    tiny = make_tiny_isic(tmp_path / "isic")
    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: pytest.fail("trained before the check"))
    bad = [
        (
            {"experiment": {"strategies": ["vaal"], "strategy_params": {"vaal": {"latentdim": 8}}}},
            "latentdim",
        ),
        ({"experiment": {"strategies": ["ceal"], "strategy_params": {"ceal": {"pseudo": 2.5}}}}, "pseudo"),
        ({"train": {"loss": "ousm", "loss_options": {"fractoin": 0.2}}}, "loss 'ousm': unknown option"),
    ]
    for settings, match in bad:
        with pytest.raises(ConfigError, match=match):
            run_experiment(_tiny_config(tiny, tmp_path / "out", **settings), progress=False)


def _tiny_config(tiny: TinyIsic, out: Path, train: dict | None = None, experiment: dict | None = None):
    return load_config(
        ExperimentConfig,
        {
            "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
            "train": {
                "resolution": 32,
                "epochs": 2,
                "views": 2,
                "batch_size": 8,
                "lr": 1e-3,
                "num_threads": 1,
                "progress": False,
                **(train or {}),
            },
            "experiment": {
                "strategies": ["entropy"],
                "seeds": [0],
                "initial": {"kind": "random", "size": 0.2},
                "budget": 0.2,
                "rounds": 1,
                **(experiment or {}),
            },
            "output": str(out),
            "cache_dir": str(out.parent / "cache"),
        },
    )


@pytest.mark.slow
def test_old_and_new_loss_forms_select_the_same_images(tmp_path: Path, offline_single_thread) -> None:
    """Same numbers: the loss configured the old way and the new way trains and selects identically."""
    tiny = make_tiny_isic(tmp_path / "isic")
    old = _tiny_config(tiny, tmp_path / "old", {"loss": "ousm", "ousm_fraction": 0.25})
    new = _tiny_config(tiny, tmp_path / "new", {"loss": "ousm", "loss_options": {"fraction": 0.25}})
    runs = [run_experiment(config, progress=False)["runs"][0] for config in (old, new)]
    picks = [[r["new_ids"] for r in run["rounds"]] for run in runs]
    assert picks[0] == picks[1] and any(picks[0])
    metrics = [[r["metrics"] for r in run["rounds"]] for run in runs]
    assert metrics[0] == metrics[1]
