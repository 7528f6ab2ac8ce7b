"""Experiments whose (strategy, seed) units run in worker processes or as Ray tasks (Ray started locally
here): the same results and states as a serial run, and a unit killed mid-way resumes to that run."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from fake_isic import TinyIsic, make_tiny_isic
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.errors import ConfigError, LesionlabError
from lesionlab.runner.engines import Engine
from lesionlab.runner.experiment import run_experiment
from same_results import assert_same, comparable

STRATEGIES = ["random", "least_confidence"]


class KillAfter:
    """Kills the worker process (no exception, no clean-up) once `strategy` has saved round `round_`."""

    def __init__(self, strategy: str, round_: int) -> None:
        self.strategy, self.round_ = strategy, round_

    def __call__(self, strategy: str, seed: int, round_: int) -> None:
        if (strategy, round_) == (self.strategy, self.round_):
            os._exit(17)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyIsic:
    return make_tiny_isic(tmp_path_factory.mktemp("engines") / "isic2017")


@pytest.fixture(autouse=True)
def _offline_restore_threads(no_network: None) -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def exp_config(tiny: TinyIsic, out: Path) -> ExperimentConfig:
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
                "num_threads": 1,
                "progress": False,
            },
            "experiment": {
                "strategies": STRATEGIES,
                "seeds": [0],
                "initial": {"kind": "random", "size": 0.2},
                "budget": 0.2,
                "rounds": 2,
            },
            "output": str(out),
            "cache_dir": str(out.parent / "cache"),
        },
    )


@pytest.fixture(scope="module")
def serial(tiny: TinyIsic) -> tuple[Path, dict]:
    out = tiny.root.parent / "serial"
    return out, run_experiment(exp_config(tiny, out), progress=False)


def _assert_same_as_serial(out: Path, results: dict, serial: tuple[Path, dict]) -> None:
    serial_out, expected = serial
    assert_same(comparable(results), comparable(expected), "results")
    assert_same(comparable(json.loads((out / "results.json").read_text())), comparable(expected))
    for name in STRATEGIES:
        mine = json.loads((out / "state" / f"{name}_seed0.json").read_text())
        theirs = json.loads((serial_out / "state" / f"{name}_seed0.json").read_text())
        assert_same(comparable(mine), comparable(theirs), f"state {name}")
    # Something was selected and learnt: the comparison is not between two empty runs.
    rounds = results["runs"][1]["rounds"]
    assert len(rounds) == 3 and all(r["metrics"] for r in rounds) and rounds[0]["new_ids"]


def _killed_then_resumed(tiny: TinyIsic, out: Path, engine: str, capfd: pytest.CaptureFixture) -> dict:
    config = exp_config(tiny, out)
    with pytest.raises(LesionlabError, match=r"1 of 2 units failed.*least_confidence seed 0.*resume"):
        run_experiment(config, engine=Engine(engine, on_round=KillAfter("least_confidence", 1)))
    # The other unit finished; the killed one kept its rounds 0 and 1.
    assert json.loads((out / "state" / "random_seed0.json").read_text())["history"][-1]["finished"]
    killed = json.loads((out / "state" / "least_confidence_seed0.json").read_text())["history"]
    assert [h["round"] for h in killed] == [0, 1] and not killed[-1].get("finished")
    assert not (out / "results.json").exists()
    log = capfd.readouterr().err
    assert "finished random seed 0" in log and "FAILED least_confidence seed 0" in log
    finished = (out / "state" / "random_seed0.json").read_text()
    resumed = run_experiment(config, engine=Engine(engine))
    # Only the missing round ran again: the finished unit and the killed unit's saved rounds (with their
    # own timings) are untouched.
    assert (out / "state" / "random_seed0.json").read_text() == finished
    again = json.loads((out / "state" / "least_confidence_seed0.json").read_text())["history"]
    assert again[:2] == killed and again[-1]["round"] == 2
    assert "finished least_confidence seed 0" in capfd.readouterr().err
    return resumed


@pytest.mark.slow
def test_worker_processes_give_the_serial_results_and_a_killed_unit_resumes(
    tiny: TinyIsic, serial: tuple[Path, dict], tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    out = tmp_path / "local"
    resumed = _killed_then_resumed(tiny, out, "local", capfd)
    _assert_same_as_serial(out, resumed, serial)


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    """A local Ray instance on 2 CPUs for this module's tests."""
    ray = pytest.importorskip("ray")
    env = pytest.MonkeyPatch()
    env.setenv("RAY_DEDUP_LOGS", "0")  # what the engine sets when it starts Ray itself
    # The kill hook lives in this test module, which Ray's workers cannot import: send it by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 2**20, log_to_driver=True)
    yield ray
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    env.undo()


@pytest.mark.slow
def test_ray_tasks_give_the_serial_results_and_a_killed_unit_resumes(
    tiny: TinyIsic, serial: tuple[Path, dict], tmp_path: Path, capfd: pytest.CaptureFixture, ray_local: Any
) -> None:
    out = tmp_path / "ray"
    config = exp_config(tiny, out)
    results = run_experiment(config, engine=Engine("ray"))
    _assert_same_as_serial(out, results, serial)
    out = tmp_path / "ray_killed"
    resumed = _killed_then_resumed(tiny, out, "ray", capfd)
    _assert_same_as_serial(out, resumed, serial)


@pytest.mark.slow
def test_pool_scoring_in_ray_chunks_equals_scoring_here(
    tiny: TinyIsic, tmp_path: Path, ray_local: Any
) -> None:
    """`lesionlab score --ray-chunk`: chunks scored by Ray tasks into one pair of memory-mapped arrays."""
    pytest.importorskip("onnxruntime")
    from lesionlab.models.registry import create_classifier
    from lesionlab.scoring.score_files import score_folder
    from test_scoring import _fake_run

    run = tmp_path / "run"
    run.mkdir()
    _fake_run(run, create_classifier("efficientnet_lite0", 3, "imagenet", seed=0))
    images = tiny.root / "ISIC-2017_Test_v2_Data"
    here = score_folder(run, images, tmp_path / "here", "onnxruntime", 1, show_progress=False)
    on_ray = score_folder(run, images, tmp_path / "ray", "onnxruntime", 1, show_progress=False, ray_chunk=5)
    assert on_ray["n_images"] == here["n_images"] == 16 and on_ray["ray_chunk"] == 5
    for name in ("probs", "embeddings"):
        a, b = np.load(tmp_path / "here" / f"{name}.npy"), np.load(tmp_path / "ray" / f"{name}.npy")
        assert a.shape == b.shape and np.abs(a).sum() > 0
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)
    assert (tmp_path / "ray" / "scores.csv").read_text().count("\n") == 17
    assert not [p for p in (tmp_path / "ray").iterdir() if p.name.startswith(".")]  # no temporaries left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("spark",), "unknown --engine 'spark'"),
        (("local", 0), "--workers must be >= 1"),
        (("local", None, 0), "--threads-per-task must be >= 1"),
        (("local", None, None, "ray://head:10001"), "use it with --engine ray"),
    ],
)
def test_engine_options_are_checked(args: tuple, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Engine(*args)


def test_the_ray_engine_without_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "ray" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[ray\]"'):
        Engine("ray")
    Engine("local")  # the other engines need nothing more


def test_run_command_checks_engine_options_before_any_work(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lesionlab.cli import app

    config = tmp_path / "never_read.yaml"
    result = CliRunner().invoke(app, ["run", str(config), "--engine", "local", "--address", "head:6379"])
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
    assert "use it with --engine ray" in str(result.exception)


def test_threads_and_workers_default_to_what_the_machine_holds(tiny: TinyIsic, tmp_path: Path) -> None:
    class Exp:
        config = exp_config(tiny, tmp_path / "x")

    assert Engine("local").task_threads(Exp) == 1  # the config's train.num_threads
    assert Engine("local", threads=2).task_threads(Exp) == 2
    cores = os.cpu_count() or 1
    assert Engine("local").task_workers(100, 1) == cores
    assert Engine("local").task_workers(1, 1) == 1  # never more workers than units
    assert Engine("local").task_workers(100, cores * 2) == 1
    assert Engine("local", workers=3).task_workers(100, 1) == 3


def test_a_unit_limits_blas_and_openmp_pools_not_only_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """scikit-learn and numpy (k-means, PCA, the audit's neighbours) size their pools to every core unless
    the unit limits them: two workers of 1 thread must not become two workers of all cores."""
    from threadpoolctl import threadpool_info

    from lesionlab.runner import engines
    from lesionlab.runner.experiment import Experiment

    seen: list[int] = []

    class Stop(Exception):
        pass

    def fake_run_one(self, strategy, seed, on_round=None):
        seen.extend(pool["num_threads"] for pool in threadpool_info())
        raise Stop

    def fake_init(self, cfg, force, progress):
        self.round_log = SimpleNamespace(show_eta=True)  # what the real one builds and run_unit quiets

    monkeypatch.setattr(Experiment, "__init__", fake_init)
    monkeypatch.setattr(Experiment, "run_one", fake_run_one)
    with pytest.raises(Stop):
        engines.run_unit(ExperimentConfig().model_dump(mode="json"), "random", 0, threads=1)
    assert seen and all(n == 1 for n in seen)
