"""The experiment runner end to end on a tiny ISIC 2017 tree: rounds, selections, resume, stopping."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from fake_isic import TinyIsic, make_tiny_isic
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.data.pool_state import PoolState
from lesionlab.data.records import LabeledDataset
from lesionlab.errors import ConfigError, DataError
from lesionlab.runner.checkpoints import RoundWeights
from lesionlab.runner.experiment import Experiment, run_experiment
from lesionlab.selection.base import get_strategy
from lesionlab.selection.evidence import collect_evidence
from lesionlab.training.activations import clear_memory
from lesionlab.training.trainer import Trainer
from same_results import assert_same, comparable

STRATEGIES = ["random", "least_confidence", "bald"]
POOL = 40
BUDGET = 8  # 0.2 of the pool
INITIAL = 8


class Killed(Exception):
    """Stands in for a killed process."""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyIsic:
    return make_tiny_isic(tmp_path_factory.mktemp("experiment") / "isic2017")


@pytest.fixture(autouse=True)
def _offline_restore_threads(no_network: None) -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def exp_config(tiny: TinyIsic, out: Path, cache: Path | None = None, **experiment: Any) -> ExperimentConfig:
    return load_config(
        ExperimentConfig,
        {
            "name": "tiny",
            "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
            "train": {
                "resolution": 32,
                "epochs": 2,
                "freeze_stages": 5,
                "views": 2,
                "batch_size": 8,
                "lr": 1e-3,
                "num_threads": 1,  # two threads spin against each other on 2 shared cores
                "progress": False,
            },
            "experiment": {
                "strategies": STRATEGIES,
                "seeds": [0],
                "initial": {"kind": "random", "size": 0.2},
                "budget": 0.2,
                "rounds": 2,
                "mc_samples": 5,
                **experiment,
            },
            "output": str(out),
            "cache_dir": str(cache or out.parent / "cache"),
        },
    )


@pytest.fixture(scope="module")
def uninterrupted(tiny: TinyIsic) -> tuple[Path, dict]:
    out = tiny.root.parent / "A"
    torch.manual_seed(1)
    return out, run_experiment(exp_config(tiny, out), progress=False)


def _state(out: Path, strategy: str, seed: int = 0) -> PoolState:
    return PoolState.load(out / "state" / f"{strategy}_seed{seed}.json")


# ------------------------------------------------------------------------ one uninterrupted run


@pytest.mark.slow
def test_results_file_and_rounds(uninterrupted: tuple[Path, dict]) -> None:
    out, results = uninterrupted
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["runs"] == json.loads(json.dumps(results["runs"]))
    assert results["metric"] == "auc" and results["classes"] == ["other", "melanoma"]
    assert results["pool_size"] == POOL
    assert [(r["strategy"], r["seed"]) for r in results["runs"]] == [(s, 0) for s in STRATEGIES]
    for run in results["runs"]:
        rounds = run["rounds"]
        assert [r["round"] for r in rounds] == [0, 1, 2]
        assert [r["n_labeled"] for r in rounds] == [INITIAL, INITIAL + BUDGET, INITIAL + 2 * BUDGET]
        assert [r["n_trained_on"] for r in rounds] == [r["n_labeled"] for r in rounds]  # retrain
        # The labelled set each round trains on, by class: the initial set first, then each round's buys.
        assert [sum(r["labeled_class_counts"].values()) for r in rounds] == [r["n_labeled"] for r in rounds]
        for before, after in itertools.pairwise(rounds):
            counts = before["labeled_class_counts"]
            grown = {c: after["labeled_class_counts"][c] - n for c, n in counts.items()}
            assert grown == before["new_class_counts"]
        for r in rounds:
            assert set(r["metrics"]) >= {"auc", "sensitivity", "specificity"}
            assert 0.0 <= r["metrics"]["auc"] <= 1.0
            assert "val_correct" not in r  # kept in the state, not in the public results
        assert rounds[-1]["finished"] and rounds[-1]["stop_reason"] == "2 rounds done"
        assert rounds[-1]["new_ids"] == []
    assert results["positive_class"] == "melanoma" and results["n_eval"] == 16  # the tiny test split


def test_selections_are_new_and_add_up(uninterrupted: tuple[Path, dict], tiny: TinyIsic) -> None:
    out, results = uninterrupted
    initial_sets = []
    for run in results["runs"]:
        state = _state(out, run["strategy"])
        bought = state.labeled_ids()  # in order of purchase: the initial set, then each round's picks
        assert len(bought) == INITIAL + 2 * BUDGET
        assert {i: state.labels[i] for i in bought} == {i: tiny.labels[i] for i in bought}  # the oracle
        initial = bought[:INITIAL]
        initial_sets.append(initial)
        seen = set(initial)
        for r in run["rounds"][:-1]:
            new = r["new_ids"]
            assert len(new) == len(set(new)) == BUDGET
            assert not seen & set(new), "a selection repeated an already labelled image"
            assert set(new) <= set(tiny.ids["train"])  # only pool images, never val / test
            seen |= set(new)
            assert sum(r["new_class_counts"].values()) == BUDGET
            assert r["new_class_counts"]["melanoma"] == sum(tiny.labels[i] for i in new)
            assert len(r["new_scores"]) == BUDGET
            assert r["new_scores"] == sorted(r["new_scores"], reverse=True)  # ranked, best first
            assert r["top_images"][0].endswith(f"{new[0]}.jpg")
        assert bought[INITIAL:] == [i for r in run["rounds"] for i in r["new_ids"]]
    assert initial_sets[0] == initial_sets[1] == initial_sets[2]  # paired comparison within a seed
    lc = results["runs"][1]["rounds"][0]["new_scores"]
    assert all(0.0 <= s <= 0.5 for s in lc)  # 1 - max probability for two classes
    bald = results["runs"][2]["rounds"][0]["new_scores"]
    assert all(s >= 0.0 for s in bald) and max(bald) > 0.0


def test_initial_set_depends_on_the_seed_only(tiny: TinyIsic, tmp_path: Path) -> None:
    experiment = Experiment(exp_config(tiny, tmp_path / "out"), progress=False)
    first = experiment._initial_ids(0)
    assert len(first) == INITIAL and first == experiment._initial_ids(0)
    assert first != experiment._initial_ids(1)


# ------------------------------------------------------------------------ resume


def _kill_after(strategy: str, round_: int):
    def on_round(name: str, seed: int, done: int) -> None:
        if (name, done) == (strategy, round_):
            raise Killed

    return on_round


@pytest.mark.slow
def test_resume_after_a_kill_matches_an_uninterrupted_run(
    uninterrupted: tuple[Path, dict], tiny: TinyIsic
) -> None:
    _, expected = uninterrupted
    out, cache = tiny.root.parent / "B", tiny.root.parent / "B_cache"  # cold caches, like a new machine
    clear_memory()
    torch.manual_seed(2)
    config = exp_config(tiny, out, cache)
    with pytest.raises(Killed):
        run_experiment(config, progress=False, on_round=_kill_after("least_confidence", 1))
    assert not (out / "results.json").exists()
    assert _state(out, "random").history[-1]["finished"]
    assert _state(out, "least_confidence").n_rounds == 2
    assert not (out / "state" / "bald_seed0.json").exists()

    clear_memory()  # a new process: empty memory, another global random state, the disk cache kept
    torch.manual_seed(3)
    resumed = run_experiment(config, progress=False)
    assert json.loads((out / "results.json").read_text())["runs"] == json.loads(json.dumps(resumed["runs"]))
    assert_same(comparable(resumed["runs"]), comparable(expected["runs"]), "runs")


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["least_confidence", "bald"])
def test_a_warm_cache_and_other_strategies_change_nothing(
    uninterrupted: tuple[Path, dict], tiny: TinyIsic, strategy: str
) -> None:
    """One strategy alone, on the activation cache the full run left behind, repeats that run exactly,
    though in the full run it loaded the first round's model that `random` trained (bald: and its MC
    dropout samples do not depend on whether this process trained the model)."""
    out, expected = uninterrupted
    alone = run_experiment(
        exp_config(
            tiny, tiny.root.parent / f"alone_{strategy}", cache=out.parent / "cache", strategies=[strategy]
        ),
        progress=False,
    )
    assert "shared_first_round" not in alone["runs"][0]["rounds"][0]
    in_full = expected["runs"][STRATEGIES.index(strategy)]
    assert in_full["rounds"][0]["shared_first_round"] is True
    assert "shared_first_round" not in in_full["rounds"][1]
    assert_same(comparable(alone["runs"][0]), comparable(in_full), strategy)


def test_the_first_round_is_shared_only_by_equal_fits(tmp_path: Path) -> None:
    from lesionlab.data.records import Record
    from lesionlab.runner.first_round import FirstRound

    train = [Record(f"img{i}", tmp_path / f"img{i}.jpg", i % 2) for i in range(4)]
    val = [Record("v", tmp_path / "v.jpg", 0, split="val")]
    key = FirstRound.of(tmp_path, 0, train, val, {"lr": 1e-3}).key
    assert FirstRound.of(tmp_path, 0, train[::-1], val, {"lr": 1e-3}).key == key  # order does not matter
    relabelled = [*train[:3], Record("img3", tmp_path / "img3.jpg", 0)]
    for other in (
        FirstRound.of(tmp_path, 1, train, val, {"lr": 1e-3}),
        FirstRound.of(tmp_path, 0, relabelled, val, {"lr": 1e-3}),
        FirstRound.of(tmp_path, 0, train, [], {"lr": 1e-3}),
        FirstRound.of(tmp_path, 0, train, val, {"lr": 1e-4}),
    ):
        assert other.key != key
    shared = FirstRound.of(tmp_path, 0, train, val, {"lr": 1e-3})
    model = torch.nn.Linear(3, 2)
    assert shared.load(model) is None
    shared.save(model, {"best_epoch": 2, "metrics": {"auc": 0.5}, "n_labeled": 4})
    other = torch.nn.Linear(3, 2)
    assert shared.load(other) == {"best_epoch": 2, "metrics": {"auc": 0.5}}
    assert torch.equal(other.weight, model.weight)
    shared.path.write_bytes(b"not a checkpoint")  # damaged: train as if absent
    assert shared.load(torch.nn.Linear(3, 2)) is None


def test_a_foreign_first_round_file_leaves_the_model_untouched(tmp_path: Path) -> None:
    """load_state_dict copies matching tensors before it fails on the rest: nothing may be copied."""
    from lesionlab.runner.first_round import FirstRound

    shared = FirstRound(tmp_path, "seed0_x")
    saved = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2))
    shared.save(saved, {"best_epoch": 1, "metrics": {}})
    other = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 5))  # second layer differs
    before = [p.detach().clone() for p in other.parameters()]
    assert shared.load(other) is None
    assert all(torch.equal(a, b) for a, b in zip(before, other.parameters(), strict=True))
    torch.save({"model": saved.state_dict(), "entry": "{not json"}, shared.path)
    assert shared.load(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2))) is None


def test_a_shared_first_round_reports_the_fits_own_seconds(uninterrupted: tuple[Path, dict]) -> None:
    """A row's cost must not depend on which unit of its seed happened to train the shared fit."""
    _, results = uninterrupted
    first = [run["rounds"][0] for run in results["runs"]]
    trained = [r for r in first if not r.get("shared_first_round")]
    loaded = [r for r in first if r.get("shared_first_round")]
    assert len(trained) == 1 and loaded
    for r in loaded:
        assert r["train_seconds"] == trained[0]["train_seconds"] > 0
        assert r["train_cpu_seconds"] == trained[0]["train_cpu_seconds"]
        assert 0 <= r["shared_load_seconds"] < r["train_seconds"]


def test_seeded_draws_depend_on_seed_and_salt_only() -> None:
    from lesionlab.training.device import seeded

    cpu = torch.device("cpu")
    torch.manual_seed(0)
    with seeded(5, cpu, 1):
        a = torch.rand(4)
    after = torch.rand(1)
    torch.manual_seed(123)
    with seeded(5, cpu, 1):
        assert torch.equal(torch.rand(4), a)  # whatever was drawn before
    torch.manual_seed(0)
    with seeded(5, cpu, 2):
        assert not torch.equal(torch.rand(4), a)  # another chunk, other masks
    assert torch.equal(torch.rand(1), after)  # the global generator is left as it was
    with seeded(6, cpu, 1):
        assert not torch.equal(torch.rand(4), a)  # another seed


@pytest.mark.slow
@pytest.mark.parametrize("learning", ["acft_q"])
def test_resume_with_a_continued_model(tiny: TinyIsic, learning: str) -> None:
    settings = {"strategies": ["least_confidence"], "learning": learning}
    a = tiny.root.parent / f"{learning}_A"
    expected = run_experiment(exp_config(tiny, a, **settings), progress=False)
    # One model file: the one the last saved state names.
    assert [p.name for p in (a / "state").glob("*.pt")] == ["least_confidence_seed0_model_round2.pt"]
    rounds = expected["runs"][0]["rounds"]
    # acft_q fine-tunes the previous model on the newly bought labels only.
    assert [r["n_trained_on"] for r in rounds] == [INITIAL, BUDGET, BUDGET]

    b = tiny.root.parent / f"{learning}_B"
    with pytest.raises(Killed):
        run_experiment(
            exp_config(tiny, b, **settings), progress=False, on_round=_kill_after("least_confidence", 1)
        )
    clear_memory()
    torch.manual_seed(4)
    resumed = run_experiment(exp_config(tiny, b, **settings), progress=False)
    assert_same(comparable(resumed["runs"]), comparable(expected["runs"]), "runs")

    # Killed after round 1's model is written but before its state: the resumed run repeats round 1
    # from round 0's model and state, and ends as the uninterrupted run.
    c = tiny.root.parent / f"{learning}_C"
    real_save, calls = PoolState.save, []

    def save_then_die(self, path):
        calls.append(len(self.history))
        if len(self.history) == 2 and calls.count(2) == 1:
            raise Killed
        real_save(self, path)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(PoolState, "save", save_then_die)
        with pytest.raises(Killed):
            run_experiment(exp_config(tiny, c, **settings), progress=False)
    assert (c / "state" / "least_confidence_seed0_model_round1.pt").is_file()
    assert _state(c, "least_confidence").n_rounds == 1
    clear_memory()
    # A damaged model file is named, with the way out, instead of a torch traceback.
    current = c / "state" / "least_confidence_seed0_model_round0.pt"
    intact = current.read_bytes()
    current.write_bytes(intact[:100])
    with pytest.raises(DataError, match=r"model_round0\.pt is damaged"):
        run_experiment(exp_config(tiny, c, **settings), progress=False)
    current.write_bytes(intact)
    resumed = run_experiment(exp_config(tiny, c, **settings), progress=False)
    assert_same(comparable(resumed["runs"]), comparable(expected["runs"]), "runs")

    # Killed after round 1's state is saved but before round 0's model is deleted: the resumed run
    # continues from round 1 and leaves no stale file behind.
    d = tiny.root.parent / f"{learning}_D"
    real_drop = RoundWeights.drop_before

    def die_before_dropping(self, round_):
        if round_ == 1:
            raise Killed
        real_drop(self, round_)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RoundWeights, "drop_before", die_before_dropping)
        with pytest.raises(Killed):
            run_experiment(exp_config(tiny, d, **settings), progress=False)
    assert sorted(p.name for p in (d / "state").glob("*.pt")) == [
        "least_confidence_seed0_model_round0.pt",
        "least_confidence_seed0_model_round1.pt",
    ]
    clear_memory()
    resumed = run_experiment(exp_config(tiny, d, **settings), progress=False)
    assert_same(comparable(resumed["runs"]), comparable(expected["runs"]), "runs")
    assert [p.name for p in (d / "state").glob("*.pt")] == ["least_confidence_seed0_model_round2.pt"]


def test_acft_lq_trains_on_all_labels(tiny: TinyIsic, tmp_path: Path) -> None:
    out = tmp_path / "lq"
    results = run_experiment(
        exp_config(tiny, out, strategies=["random"], learning="acft_lq", rounds=1), progress=False
    )
    rounds = results["runs"][0]["rounds"]
    assert [r["n_trained_on"] for r in rounds] == [INITIAL, INITIAL + BUDGET]
    assert (out / "state" / "random_seed0_model_round1.pt").is_file()


def test_retrain_saves_no_model_but_the_shared_first_round(uninterrupted: tuple[Path, dict]) -> None:
    """Retraining needs no round's model; only the first fit, shared by the seed's strategies, is kept."""
    out, _ = uninterrupted
    saved = [p.name for p in (out / "state").glob("*.pt")]
    assert len(saved) == 1 and saved[0].startswith("first_round_seed0_")  # one seed in this run


# ------------------------------------------------------------------------ what a resume is tied to


def _partial_run(tiny: TinyIsic, out: Path, **settings: Any) -> None:
    with pytest.raises(Killed):
        run_experiment(
            exp_config(tiny, out, strategies=["random"], **settings),
            progress=False,
            on_round=_kill_after("random", 0),
        )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"budget": 0.3}, "experiment.budget: 0.2 -> 0.3"),
        ({"learning": "acft_lq"}, "experiment.learning: 'retrain' -> 'acft_lq'"),
        ({"oracle": "noisy", "oracle_noise": 0.1}, "oracle.name: 'simulated' -> 'noisy'"),
    ],
)
@pytest.mark.slow
def test_a_resume_under_other_settings_stops_before_any_work(
    tiny: TinyIsic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict, expected: str
) -> None:
    out = tmp_path / "run"
    _partial_run(tiny, out)
    changed = exp_config(tiny, out, strategies=["random"], **change)
    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: pytest.fail("trained before the check"))
    with pytest.raises(ConfigError, match=re.escape(expected)) as info:
        run_experiment(changed, progress=False)
    assert "--force" in str(info.value)
    monkeypatch.undo()
    # --force discards the saved rounds and runs the new settings from the start.
    results = run_experiment(changed, force=True, progress=False)
    assert results["runs"][0]["rounds"][0]["round"] == 0
    # Settings that change no result (threads, progress, another strategy added) resume as before.
    more = exp_config(tiny, out, strategies=["random", "entropy"], **change)
    run_experiment(
        more.model_copy(update={"train": more.train.updated(num_threads=2)}), force=True, progress=False
    )


def test_a_resume_on_changed_data_stops(tiny: TinyIsic, tmp_path: Path) -> None:
    out = tmp_path / "run"
    _partial_run(tiny, out)
    run_file = out / "state" / "run.json"
    saved = json.loads(run_file.read_text())
    saved["data"]["digest"] = "0" * 16  # as if a label had changed since
    run_file.write_text(json.dumps(saved))
    with pytest.raises(ConfigError, match=r"data\.digest"):
        run_experiment(exp_config(tiny, out, strategies=["random"]), progress=False)


def test_an_output_that_cannot_be_written_is_refused_first(tiny: TinyIsic, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot write to the output folder"):
        run_experiment(exp_config(tiny, blocker / "run", strategies=["random"]), progress=False)


# ------------------------------------------------------------------------ stopping


@pytest.mark.slow
def test_paper000_stopping_stops_when_the_gain_is_not_significant(tiny: TinyIsic, tmp_path: Path) -> None:
    # With 12 validation images the smallest exact one-sided McNemar p is 2**-12 > 1e-6: never significant.
    cfg = exp_config(
        tiny, tmp_path / "stop", strategies=["random"], rounds=4, stopping="paper000", stopping_alpha=1e-6
    )
    rounds = run_experiment(cfg, progress=False)["runs"][0]["rounds"]
    assert [r["round"] for r in rounds] == [0, 1]
    assert "stop_reason" not in rounds[0] and len(rounds[0]["new_ids"]) == BUDGET
    last = rounds[-1]
    assert last["finished"] and last["stop_reason"].startswith("no significant gain")
    assert 2**-12 <= last["stop_test_p"] <= 1.0 and last["new_ids"] == []


# ------------------------------------------------------------------------ errors before any work


@pytest.mark.slow
def test_finished_run_needs_force(tiny: TinyIsic, tmp_path: Path) -> None:
    out = tmp_path / "done"
    cfg = exp_config(tiny, out, strategies=["random"], rounds=0)
    first = run_experiment(cfg, progress=False)
    assert [r["round"] for r in first["runs"][0]["rounds"]] == [0]
    with pytest.raises(ConfigError, match="already holds a finished run"):
        run_experiment(cfg, progress=False)
    marker = out / "state" / "stale.txt"
    marker.write_text("left over from the first run")
    # --force with a config that fails its checks keeps the finished run: nothing is removed before.
    too_big = exp_config(tiny, out, strategies=["random"], rounds=0, budget=1000)
    with pytest.raises(ConfigError, match="larger than the pool"):
        run_experiment(too_big, force=True, progress=False)
    assert (out / "results.json").is_file() and marker.exists()
    again = run_experiment(cfg, force=True, progress=False)
    assert not marker.exists()  # the old state was cleared, not resumed
    assert_same(comparable(again["runs"]), comparable(first["runs"]))


def test_unknown_strategy_fails_before_any_work(
    tiny: TinyIsic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_training(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("trained before validating the config")

    monkeypatch.setattr(Trainer, "fit", no_training)
    out = tmp_path / "typo"
    with pytest.raises(ConfigError, match="unknown strategy 'least_confidance'") as err:
        run_experiment(exp_config(tiny, out, strategies=["random", "least_confidance"]), progress=False)
    for valid in ("least_confidence", "entropy", "bald", "random"):
        assert valid in str(err.value)
    assert not out.exists()
    with pytest.raises(ConfigError, match="strategy_params"):
        run_experiment(exp_config(tiny, out, strategy_params={"entropy": {}}), progress=False)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"budget": 100}, "budget of 100 images is larger than the pool of 40"),
        ({"initial": {"kind": "random", "size": 41}}, "initial of 41 images is larger than the pool"),
        ({"budget": 0}, "experiment.budget: Input should be greater than 0"),
        ({"budget": 2.5}, "experiment.budget of 2.5 is neither a fraction of the pool"),
        ({"budget": float("nan")}, "experiment.budget: Input should be a finite number"),
        ({"strategies": []}, "experiment.strategies: Value error, name at least one strategy"),
        ({"seeds": []}, "experiment.seeds: List should have at least 1 item"),
        ({"seeds": [0, 0]}, r"seeds must be distinct; repeated: \[0\]"),
        ({"seeds": [-1]}, r"experiment.seeds.0: Input should be greater than or equal to 0"),
        ({"metric": "f1"}, "experiment.metric: 'f1' is not a metric of classification with 2 classes"),
        ({"metric": "accuracy"}, None),
    ],
)
def test_bad_amounts_are_config_errors(
    tiny: TinyIsic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: dict, message: str
) -> None:
    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: pytest.fail("trained with a bad config"))
    if message is None:  # a valid setting: the check lets it through to training
        with pytest.raises(pytest.fail.Exception, match="trained"):
            run_experiment(exp_config(tiny, tmp_path / "ok", **settings), progress=False)
        return
    with pytest.raises(ConfigError, match=message):
        run_experiment(exp_config(tiny, tmp_path / "bad", **settings), progress=False)


def test_pool_features_follow_the_strategy_parameters(tiny: TinyIsic, tmp_path: Path) -> None:
    """A dual-criteria strategy with its own K and PCA components gets buckets hashed with those."""
    config = exp_config(
        tiny,
        tmp_path / "run",
        strategies=["pca_lsh"],
        strategy_params={"pca_lsh": {"n_buckets": 3, "n_components": 2}},
        initial={"kind": "strategy", "strategy": "pca_lsh"},
        rounds=1,
    )
    experiment = Experiment(config, progress=False)
    strategy = experiment.strategies["pca_lsh"]
    assert experiment.initial_strategy.n_buckets == 3  # the initial strategy gets its parameters too
    settings = experiment.evidence_settings
    features = collect_evidence(strategy, None, experiment.pool, settings=settings).features
    assert features["pca"].shape == (POOL, 2)
    assert sorted(set(features["lsh_bucket"].tolist())) == [0, 1, 2]
    default = collect_evidence(get_strategy("pca_lsh"), None, experiment.pool, settings=settings).features
    assert default["pca"].shape == (POOL, 1)
    assert sorted(set(default["lsh_bucket"].tolist())) == list(range(10))
    assert (tmp_path / "run" / "state" / "pool_features_pca2_k3.npz").exists()


@pytest.mark.slow
def test_a_noisy_oracle_answers_the_run(tiny: TinyIsic, tmp_path: Path) -> None:
    """The runner buys labels from its oracle: with a noisy one, some bought labels differ from the data."""
    config = exp_config(
        tiny, tmp_path / "noisy", strategies=["random"], oracle="noisy", oracle_noise=0.5, rounds=1
    )
    experiment = Experiment(config, progress=False)
    state = experiment.run_one("random", 0)
    truth = {r.id: r.label for r in experiment.pool}
    wrong = [i for i, label in state.labels.items() if label != truth[i]]
    assert wrong, "a 50 % noisy oracle gave only right answers"
    assert sorted(wrong) == sorted(experiment.oracle(0).flipped(list(state.labels)))


@pytest.mark.slow
def test_each_round_logs_a_line_with_the_metric_and_an_eta(
    tiny: TinyIsic, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = exp_config(tiny, tmp_path / "logged", strategies=["random"], rounds=1)
    config = config.model_copy(update={"train": config.train.updated(progress=False)})
    run_experiment(config, progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if "random seed 0: round" in line]
    assert len(lines) == 2
    assert re.search(r"round 0/1, 8 labels, test auc \d\.\d{3}, \d+ s, ETA", lines[0])
    assert "stopped: 1 rounds done" in lines[1]


def test_a_metric_undefined_on_the_evaluation_split_is_refused_before_training(
    tiny: TinyIsic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AUC needs both classes: on a one-class evaluation split it would be NaN in every round."""
    experiment = Experiment(exp_config(tiny, tmp_path / "ok", strategies=["random"]), progress=False)
    one_class = [r for r in experiment.eval_records if r.label == 0]
    monkeypatch.setattr(
        LabeledDataset,
        "split",
        lambda self, *names, labeled_only=False: (
            one_class if "test" in names else [r for r in self.records if r.split in names]
        ),
    )
    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: pytest.fail("trained with an undefined metric"))
    with pytest.raises(ConfigError, match=r"experiment\.metric 'auc' is undefined on the 8 test images"):
        Experiment(exp_config(tiny, tmp_path / "bad", strategies=["random"]), progress=False)


def test_paper000_stopping_without_validation_says_so_at_start(
    tiny: TinyIsic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    real_split = LabeledDataset.split

    def no_val(self, *names, labeled_only=False):
        return [] if names == ("val",) else real_split(self, *names, labeled_only=labeled_only)

    monkeypatch.setattr(LabeledDataset, "split", no_val)
    Experiment(
        exp_config(tiny, tmp_path / "noval", strategies=["random"], stopping="paper000"), progress=False
    )
    assert "stopping: paper000 tests each round's gain on the validation split" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["learning_loss", "vaal", "confident_coreset"])
def test_paper003_strategies_resume_exactly(tiny: TinyIsic, tmp_path: Path, strategy: str) -> None:
    """A jointly trained loss predictor and a VAAL discriminator are seeded like the rest: a run killed after
    round 1 and resumed in a new process makes the selections and numbers of an uninterrupted one."""
    settings = {"strategies": [strategy], "rounds": 2}
    expected = run_experiment(exp_config(tiny, tmp_path / "A", **settings), progress=False)
    clear_memory()
    torch.manual_seed(5)
    with pytest.raises(Killed):
        run_experiment(
            exp_config(tiny, tmp_path / "B", **settings), progress=False, on_round=_kill_after(strategy, 1)
        )
    clear_memory()
    torch.manual_seed(6)
    resumed = run_experiment(exp_config(tiny, tmp_path / "B", **settings), progress=False)
    assert_same(comparable(resumed["runs"]), comparable(expected["runs"]), strategy)


@pytest.mark.slow
def test_evaluating_on_val_keeps_val_out_of_the_epoch_choice(
    tiny: TinyIsic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With evaluate_on val the curves are measured on the validation images, so they must not also pick
    each round's epoch (that would report the best of several epochs on the very images scored)."""
    seen_val: list[int] = []
    real_fit = Trainer.fit

    def spy(self, train, val, *args, **kwargs):
        seen_val.append(len(val))
        return real_fit(self, train, val, *args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", spy)
    config = exp_config(tiny, tmp_path / "run", strategies=["random"], rounds=1, evaluate_on="val")
    experiment = Experiment(config, progress=False)
    assert experiment.eval_records and {r.split for r in experiment.eval_records} == {"val"}
    experiment.run()
    assert seen_val == [0, 0]
    seen_val.clear()
    Experiment(exp_config(tiny, tmp_path / "test", strategies=["random"], rounds=1), progress=False).run()
    assert seen_val and all(n > 0 for n in seen_val)


@pytest.mark.slow
def test_evidence_sees_the_bought_labels_and_nothing_of_the_hidden_pool(
    tiny: TinyIsic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Providers get the unbought images without label or mask, and the bought ones with the label the
    oracle gave (a noisy oracle's wrong answer included), never the data set's hidden truth."""
    import lesionlab.runner.experiment as experiment_module

    calls: list[tuple[list, list, list]] = []
    real = experiment_module.collect_evidence

    def spy(strategy, trainer, unlabeled, labeled, pool, settings):
        calls.append((list(unlabeled), list(labeled), list(pool)))
        return real(strategy, trainer, unlabeled, labeled, pool, settings)

    monkeypatch.setattr(experiment_module, "collect_evidence", spy)
    config = exp_config(
        tiny, tmp_path / "run", strategies=["least_confidence"], rounds=1, oracle="noisy", oracle_noise=0.5
    )
    experiment = Experiment(config, progress=False)
    state = experiment.run_one("least_confidence", 0)
    unlabeled, labeled, pool = calls[0]
    assert unlabeled and all(r.label is None and r.mask_path is None for r in [*unlabeled, *pool])
    bought = state.history[0]  # round 0's selection happened with the initial labels
    assert len(labeled) == bought["n_labeled"]
    truth = {r.id: r.label for r in experiment.pool}
    given = {r.id: r.label for r in labeled}
    assert all(given[i] == state.labels[i] for i in given)
    assert any(given[i] != truth[i] for i in given)  # the noisy oracle's wrong answers, as bought
