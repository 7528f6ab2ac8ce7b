"""`lesionlab demo`: the shipped presets are the documented ones; a tiny preset runs end to end, quietly."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lesionlab.cli import app
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.data.demo_subset import demo_root
from lesionlab.data.loading import load_dataset
from lesionlab.demo_presets import DEFAULT, PRESETS, preset
from lesionlab.errors import ConfigError
from lesionlab.runner.demo import SplitEngine, demo_engine, shares
from lesionlab.runner.engines import run_unit
from lesionlab.runner.experiment import Experiment, run_experiment

README = Path(__file__).resolve().parents[1] / "README.md"
# README's preset table: column heading -> DemoPreset field
COLUMNS = {
    "preset": "name",
    "data": "data",
    "task": "task",
    "strategies": "strategies",
    "seeds": "seeds",
    "start": "initial",
    "per round": "budget",
    "rounds": "rounds",
    "px": "resolution",
    "epochs": "epochs",
    "patience": "patience",
    "batch": "batch_size",
    "lr": "lr",
    "frozen stages": "freeze_stages",
    "views": "views",
    "workers": "workers",
}


def _readme_presets() -> dict[str, dict[str, str]]:
    """The rows of README's table whose first heading is `preset`, as {name: {heading: cell}}."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| preset |"))
    head = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(head, cells, strict=True))
    return rows


def _as_text(value: object, field: str = "") -> str:
    if isinstance(value, tuple):
        return ", ".join(value)
    if field == "lr":
        return f"{value:g}"
    if isinstance(value, float) and value < 1:
        return f"{value:.0%}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def test_readme_documents_every_preset_as_shipped() -> None:
    rows = _readme_presets()
    assert set(rows) == set(PRESETS)
    fields = {f.name for f in dataclasses.fields(PRESETS[DEFAULT])}
    assert set(COLUMNS.values()) == fields - {"title"}  # every setting is in the table
    for name, p in PRESETS.items():
        for heading, field in COLUMNS.items():
            assert rows[name][heading] == _as_text(getattr(p, field), field), (name, heading)
    # The first command of the README runs the default preset.
    assert "lesionlab demo --out lesionlab-demo\n" in README.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_is_a_valid_experiment_on_shipped_data(name: str, tmp_path: Path) -> None:
    config = preset(name).config(tmp_path / name)
    assert ExperimentConfig.model_validate(config.model_dump()) == config
    assert config.train.progress is False and config.train.num_threads == 1
    dataset = load_dataset(config, verify_files=False)
    root = demo_root(PRESETS[name].data)
    assert all(r.image_path.is_relative_to(root) for r in dataset.records)
    assert dataset.classes[1] == PRESETS[name].task


def test_demo_data_the_presets_read() -> None:
    small = load_dataset(preset("melanoma").config(Path("x")), verify_files=False)
    assert [len(small.split(s)) for s in ("train", "val", "test")] == [240, 60, 120]
    pool = load_dataset(preset("sk").config(Path("x")), verify_files=False)
    assert [len(pool.split(s)) for s in ("train", "val", "test")] == [1000, 150, 600]
    # natural class rates: the official test split has 90 seborrheic keratoses in 600
    assert pool.class_counts(pool.split("test"))["seborrheic_keratosis"] == 90


def test_unknown_preset_and_bad_seeds_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown demo preset 'nope': choose one of sk, melanoma, tiny"):
        preset("nope")
    with pytest.raises(ConfigError, match="--seeds must be at least 1"):
        preset("sk").config(tmp_path, seeds=0)


@pytest.mark.slow
def test_tiny_demo_end_to_end_quiet_and_repeatable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs from a cold cache: the same selections; stderr has one line per round per strategy and
    seed (no epoch lines, no once-per-run notes, no bars) after one line saying what will run."""
    monkeypatch.setenv("LESIONLAB_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    selections = []
    for k in range(2):
        out = tmp_path / f"demo{k}"
        result = runner.invoke(app, ["demo", "--preset", "tiny", "--out", str(out)])
        assert result.exit_code == 0, result.output
        err = result.stderr.splitlines()
        assert err[0].startswith("demo tiny: random, bald on ISIC 2017 seborrheic keratosis vs rest, 2 seeds")
        rounds = [line for line in err[1:] if re.match(r"  (random|bald) seed \d: round \d/1, ", line)]
        assert len(rounds) == len(err) - 1 == 2 * 2 * 2, err  # strategies x seeds x (rounds + 1)
        assert (out / "report.html").is_file()
        stdout = " ".join(result.stdout.split())
        assert stdout.startswith(("bald reached random's best", "No strategy saved labels"))
        runs = json.loads((out / "results.json").read_text())["runs"]
        selections.append({(r["strategy"], r["seed"]): [x["new_ids"] for x in r["rounds"]] for r in runs})
    assert selections[0] == selections[1]
    assert any(ids for picks in selections[0].values() for ids in picks)


def test_a_worker_unit_prints_round_lines_without_an_experiment_eta(
    tiny_isic, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A worker runs one (strategy, seed) of many: it cannot know the experiment's ETA. It printed one
    computed as if its unit were the whole run ("ETA 16 min" on the last round); now its lines have none."""
    train = {
        "resolution": 32,
        "epochs": 1,
        "freeze_stages": 6,
        "views": 1,
        "num_threads": 1,
        "progress": False,
    }
    experiment = {"strategies": ["random"], "seeds": [0, 1], "initial": {"kind": "random", "size": 0.2}}
    raw = {"data": {"source": "isic2017", "root": str(tiny_isic.root), "task": "melanoma"}, "train": train}
    raw |= {"experiment": experiment | {"budget": 0.2, "rounds": 1}, "output": str(tmp_path / "out")}
    config = load_config(ExperimentConfig, raw | {"cache_dir": str(tmp_path / "cache")})
    Experiment(config)  # prepares the output folder, as the parent process does
    run_unit(config.model_dump(mode="json"), "random", 0, threads=1)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "  random seed 0: round 0/1",
        "  random seed 0: round 1/1",
    ]
    assert not any("ETA" in line for line in lines), lines


def test_split_engine_deals_whole_seeds_to_each_process() -> None:
    units = [(s, seed) for seed in (0, 1, 2, 3, 4) for s in ("random", "bald")]
    parts = shares(units, 2)
    assert parts[0] == [(s, seed) for seed in (0, 2, 4) for s in ("random", "bald")]
    assert parts[1] == [(s, seed) for seed in (1, 3) for s in ("random", "bald")]
    assert shares(units[:2], 3)[1:] == [[], []]
    assert demo_engine(1) is None and demo_engine(2) == SplitEngine(2)


@pytest.mark.slow
def test_split_engine_selects_what_the_serial_run_selects(
    tiny_isic, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's two long-lived processes (this one and one spawned) give the serial run's selections,
    whichever process ran a seed, and print one line per round without an ETA."""
    train = {
        "resolution": 32,
        "epochs": 1,
        "freeze_stages": 7,
        "views": 1,
        "num_threads": 1,
        "progress": False,
    }
    experiment = {
        "strategies": ["random", "bald"],
        "seeds": [0, 1, 2],
        "initial": {"kind": "random", "size": 0.2},
    }
    raw = {"data": {"source": "isic2017", "root": str(tiny_isic.root), "task": "melanoma"}, "train": train}
    raw |= {"experiment": experiment | {"budget": 0.2, "rounds": 1}, "cache_dir": str(tmp_path / "cache")}
    picks = []
    for name, engine in (("serial", None), ("split", SplitEngine(2))):
        config = load_config(ExperimentConfig, raw | {"output": str(tmp_path / name)})
        runs = run_experiment(config, engine=engine)["runs"]
        picks.append({(r["strategy"], r["seed"]): [x["new_ids"] for x in r["rounds"]] for r in runs})
    assert picks[0] == picks[1] and any(ids for p in picks[0].values() for ids in p)
    lines = [line for line in capsys.readouterr().err.splitlines() if ": round " in line]
    # serial: 6 units x 2 rounds; split: this process's seeds 0 and 2 (the spawned one writes to fd 2)
    assert len(lines) == 12 + 8, lines
    assert not any("ETA" in line for line in lines[12:]), lines
