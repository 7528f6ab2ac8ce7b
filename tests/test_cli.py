"""The `lesionlab` command on a tiny ISIC 2017 tree: describe, train, evaluate, run, report, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from fake_isic import TinyIsic, make_tiny_isic
from lesionlab import cli
from lesionlab.cli import app
from lesionlab.config import ExperimentConfig
from lesionlab.data.demo_subset import demo_root
from lesionlab.data.loading import load_dataset
from lesionlab.errors import ConfigError
from lesionlab.evaluation.decision import RuleScore, choose_rule
from lesionlab.runner.demo import demo_config

runner = CliRunner()
TRAIN = {
    "resolution": 32,
    "epochs": 2,
    "freeze_stages": 5,
    "views": 1,
    "batch_size": 8,
    "lr": 1e-3,
    "num_threads": 1,
    "progress": False,
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyIsic:
    return make_tiny_isic(tmp_path_factory.mktemp("cli") / "isic2017")


@pytest.fixture(autouse=True)
def _offline_restore_threads(no_network: None) -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _yaml(path: Path, payload: dict) -> Path:
    path.write_text(yaml.safe_dump(payload))
    return path


def _train_config(tiny: TinyIsic, tmp: Path, **extra: object) -> dict:
    return {
        "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
        "train": dict(TRAIN),
        "output": str(tmp / "run"),
        "cache_dir": str(tmp / "cache"),
        **extra,
    }


def _flat(text: str) -> str:
    """Console output without line breaks (rich wraps long lines to the terminal width)."""
    return text.replace("\n", "")


def _words(text: str) -> str:
    """Console output with every run of white space, line breaks included, as one space."""
    return " ".join(text.split())


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LESIONLAB_CACHE": str(cwd / "cache"), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "lesionlab.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


# ------------------------------------------------------------------------ datasets describe


def test_describe_counts_images(tiny: TinyIsic) -> None:
    result = runner.invoke(app, ["datasets", "describe", "isic2017", "--root", str(tiny.root)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(
        line.split()[:1] == ["melanoma"] and line.split()[1:] == ["16", "6", "8", "30"] for line in lines
    )
    assert any(
        line.split()[:1] == ["total"] and line.split()[1:] == ["40", "12", "16", "68"] for line in lines
    )
    assert "all 68 images readable" in result.output


def test_describe_lists_a_corrupted_jpeg(tmp_path: Path) -> None:
    tiny = make_tiny_isic(tmp_path / "isic2017")
    broken = tiny.image(tiny.ids["val"][3])
    broken.write_bytes(broken.read_bytes()[:200])  # a truncated download
    result = runner.invoke(app, ["datasets", "describe", "isic2017", "--root", str(tiny.root)])
    assert result.exit_code != 0
    assert "1 problem(s)" in result.output
    assert str(broken) in _flat(result.output)


# ------------------------------------------------------------------------ train / evaluate


@pytest.mark.slow
def test_train_then_evaluate(tiny: TinyIsic, tmp_path: Path) -> None:
    config = _yaml(tmp_path / "train.yaml", _train_config(tiny, tmp_path))
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert (run / "model.pt").is_file()
    assert metrics["n_train"] == 40 and metrics["n_val"] == 12 and metrics["n_test"] == 16
    assert 0.0 <= metrics["test"]["auc"] <= 1.0
    assert metrics["positive_class"] == "melanoma" and metrics["positive_guessed"] is False
    assert len(metrics["history"]) == 2 and metrics["best_epoch"] in (1, 2)
    assert "test metrics (16 images)" in _words(result.output)
    assert f"best epoch {metrics['best_epoch']}; wrote" in _words(result.output)
    assert str(run / "metrics.json") in _flat(result.output)

    # A finished run is not overwritten silently.
    again = runner.invoke(app, ["train", str(config)])
    assert again.exit_code != 0 and "already holds a finished run" in str(again.exception)

    out_json = tmp_path / "eval.json"
    result = runner.invoke(app, ["evaluate", str(run), "--bootstrap", "50", "--json", str(out_json)])
    assert result.exit_code == 0, result.output
    assert "95% CI" in result.output and "auc" in result.output
    evaluated = json.loads(out_json.read_text())
    assert evaluated["split"] == "test" and evaluated["n"] == 16
    # The saved model reproduces the metrics written at training time.
    assert evaluated["metrics"]["auc"] == pytest.approx(metrics["test"]["auc"], abs=1e-9)
    low, high = evaluated["ci95"]["auc"]
    assert low <= evaluated["metrics"]["auc"] <= high
    assert evaluated["tta_views"] == 1  # the run's own setting

    # Test-time augmentation on request: the average over 3 fixed views of each test image.
    result = runner.invoke(
        app, ["evaluate", str(run), "--bootstrap", "20", "--tta-views", "3", "--json", str(out_json)]
    )
    assert result.exit_code == 0, result.output
    with_tta = json.loads(out_json.read_text())
    assert with_tta["tta_views"] == 3 and 0.0 <= with_tta["metrics"]["auc"] <= 1.0

    # Logit adjustment keeps the ranking (so the AUC) and moves the threshold-0.5 decisions.
    args = ["evaluate", str(run), "--bootstrap", "20", "--logit-adjustment", "1", "--json", str(out_json)]
    assert runner.invoke(app, args).exit_code == 0
    adjusted = json.loads(out_json.read_text())
    assert adjusted["logit_adjustment"] == 1.0
    assert adjusted["metrics"]["auc"] == pytest.approx(evaluated["metrics"]["auc"], abs=1e-9)
    # Melanoma is the minority class in training (16 of 40): a very strong adjustment calls every image
    # melanoma, so it was applied.
    args[args.index("1")] = "30"
    assert runner.invoke(app, args).exit_code == 0
    extreme = json.loads(out_json.read_text())["metrics"]
    assert extreme["sensitivity"] == 1.0 and extreme["specificity"] == 0.0
    assert evaluated["metrics"]["specificity"] > 0.0  # which the plain prediction does not


@pytest.mark.slow
def test_choose_rule_on_val_is_stored_applied_by_evaluate_and_dropped_on_retraining(
    tiny: TinyIsic, tmp_path: Path
) -> None:
    config = _yaml(tmp_path / "train.yaml", _train_config(tiny, tmp_path))
    assert runner.invoke(app, ["train", str(config)]).exit_code == 0
    run, out_json = tmp_path / "run", tmp_path / "eval.json"

    # The whole grid is scored on the 12 validation images, and the choice is the library's.
    result = runner.invoke(app, ["choose-rule", str(run), "--views", "1,2", "--taus", "0,0.5,30"])
    assert result.exit_code == 0, result.output
    stored = json.loads((run / "decision_rule.json").read_text())
    assert stored["split"] == "val" and stored["n"] == 12
    assert [(r["tta_views"], r["tau"]) for r in stored["rules"]] == [
        (v, t) for v in (1, 2) for t in (0.0, 0.5, 30.0)
    ]
    best = choose_rule([RuleScore(**r) for r in stored["rules"]], "accuracy")
    assert (stored["tta_views"], stored["tau"]) == (best.tta_views, best.tau)
    assert f"chosen: {best.tta_views} view(s), tau {best.tau:g}" in _words(result.output)

    # A one-rule grid forces tau 30 (every image called melanoma); evaluate applies it from the file.
    assert runner.invoke(app, ["choose-rule", str(run), "--views", "1", "--taus", "30"]).exit_code == 0
    result = runner.invoke(app, ["evaluate", str(run), "--bootstrap", "20", "--json", str(out_json)])
    assert result.exit_code == 0, result.output
    applied = json.loads(out_json.read_text())
    assert applied["logit_adjustment"] == 30.0 and applied["rule_source"] == str(run / "decision_rule.json")
    assert applied["metrics"]["sensitivity"] == 1.0 and applied["metrics"]["specificity"] == 0.0
    # An option on the command line replaces the stored rule.
    args = ["evaluate", str(run), "--bootstrap", "20", "--logit-adjustment", "0", "--json", str(out_json)]
    assert runner.invoke(app, args).exit_code == 0
    overridden = json.loads(out_json.read_text())
    assert overridden["rule_source"] == "options" and overridden["metrics"]["specificity"] > 0.0

    # A damaged rule file is named, with what to do, before anything is evaluated.
    (run / "decision_rule.json").write_text('{"tta_views": 2')
    damaged = runner.invoke(app, ["evaluate", str(run), "--bootstrap", "20"])
    assert damaged.exit_code != 0
    assert "decision_rule.json is unreadable" in str(damaged.exception)
    assert "choose-rule" in str(damaged.exception)

    # A floor no rule reaches: warned about, and the rule closest to it is kept.
    result = runner.invoke(app, ["choose-rule", str(run), "--views", "1", "--min-balanced-accuracy", "1"])
    assert result.exit_code == 0 and "no rule reaches balanced accuracy 1" in _words(result.output)
    assert json.loads((run / "decision_rule.json").read_text())["floor_met"] is False

    # Retraining replaces the model, so the rule chosen for the old one goes.
    assert runner.invoke(app, ["train", str(config), "--force"]).exit_code == 0
    assert not (run / "decision_rule.json").exists()


def test_choose_rule_rejects_bad_options(tiny: TinyIsic, tmp_path: Path) -> None:
    bad_numbers = runner.invoke(app, ["choose-rule", str(tmp_path), "--views", "1,x"])
    assert bad_numbers.exit_code == 2 and "comma-separated ints" in _words(bad_numbers.output)
    for option, value, message in (
        ("--objective", "auc", "--objective must be one of accuracy, balanced_accuracy, mean"),
        ("--min-balanced-accuracy", "1.5", "--min-balanced-accuracy must lie in [0, 1]"),
        ("--views", "0,4", "--views must be counts >= 1"),
    ):
        result = runner.invoke(app, ["choose-rule", str(tmp_path), option, value])
        assert result.exit_code != 0 and message in str(result.exception)


# ------------------------------------------------------------------------ user errors: no traceback


@pytest.mark.slow
def test_unknown_backbone_is_a_one_line_error_without_traceback(tiny: TinyIsic, tmp_path: Path) -> None:
    model = {"backbone": "resnet_18", "weights": "none"}
    config = _yaml(tmp_path / "bad.yaml", _train_config(tiny, tmp_path, model=model))
    proc = _cli("train", str(config), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    # One line, not wrapped at the 80 columns rich assumes when stderr is a pipe.
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: unknown backbone 'resnet_18'; choose one of ")
    assert "resnet18" in lines[0] and "efficientnet_lite0" in lines[0]
    assert not (tmp_path / "run").exists()


def test_main_turns_config_errors_into_messages(
    tiny: TinyIsic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """`main()` in-process: user errors end with exit status 2 and the message, never a traceback."""
    typo = _yaml(tmp_path / "typo.yaml", {**_train_config(tiny, tmp_path), "train": {"epoch": 2}})
    # Brackets in a path or value are text, not rich markup (which would drop them or crash).
    base = _train_config(tiny, tmp_path)
    bracket_root = _yaml(tmp_path / "brackets.yaml", {**base, "data": {"root": str(tmp_path / "[old]")}})
    bracket_weights = _yaml(tmp_path / "weights.yaml", {**base, "model": {"weights": "[/x]"}})
    missing = tmp_path / "missing.yaml"
    for args, expected in (
        (["train", str(typo)], "  train.epoch: unknown field (check the spelling)"),
        (["run", str(missing)], f"error: config file {missing} does not exist"),
        (["evaluate", str(tmp_path / "no_run")], f"{tmp_path / 'no_run' / 'metrics.json'} not found"),
        (["evaluate", str(tmp_path / "no_run"), "--tta-views", "0"], "--tta-views must be >= 1, got 0"),
        (["evaluate", str(tmp_path / "no_run"), "--logit-adjustment", "-1"], "--logit-adjustment must be"),
        (["train", str(bracket_root)], f"folder not found: {tmp_path / '[old]'} "),
        (["train", str(bracket_weights)], "error: weights '[/x]' is neither"),
    ):
        monkeypatch.setattr(sys, "argv", ["lesionlab", *args])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        captured = capsys.readouterr()
        assert exit_info.value.code == 2, captured.err
        assert captured.err.startswith("error:"), captured.err
        assert any(expected in line for line in captured.err.splitlines()), captured.err
        assert "Traceback" not in captured.err


# ------------------------------------------------------------------------ run / report / demo


@pytest.mark.slow
def test_run_writes_report_and_report_rewrites_it(tiny: TinyIsic, tmp_path: Path) -> None:
    out = tmp_path / "exp"
    config = _yaml(
        tmp_path / "exp.yaml",
        {
            "name": "cli test",
            "data": {"source": "isic2017", "root": str(tiny.root)},
            "train": dict(TRAIN),
            "experiment": {
                "strategies": ["random", "least_confidence"],
                "seeds": [0],
                "initial": {"size": 0.2},
                "budget": 8,
                "rounds": 1,
            },
            "output": str(out),
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    result = runner.invoke(app, ["run", str(config)])
    assert result.exit_code == 0, result.output
    report = out / "report.html"
    assert report.is_file() and (out / "results.json").is_file()
    html = report.read_text()
    assert "cli test" in html and "least_confidence" in html
    assert "random" in result.output and "ALC" in result.output  # the summary table

    report.unlink()
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert report.read_text() == html

    missing = runner.invoke(app, ["report", str(tmp_path / "nothing")])
    assert missing.exit_code != 0 and "results.json not found" in str(missing.exception)


def test_demo_help() -> None:
    result = runner.invoke(app, ["demo", "--help"])
    assert result.exit_code == 0
    for option in ("--out", "--force", "--seeds"):
        assert option in result.output


def test_demo_config_uses_the_embedded_data(tmp_path: Path) -> None:
    config = demo_config(tmp_path / "demo", n_seeds=3, name="melanoma")  # the small subset (root None)
    assert isinstance(config, ExperimentConfig)
    assert ExperimentConfig.model_validate(config.model_dump()) == config
    assert config.data.source == "isic2017" and config.data.root is None
    assert config.output == tmp_path / "demo"
    assert config.experiment.seeds == [0, 1, 2]
    assert "random" in config.experiment.strategies
    dataset = load_dataset(config, verify_files=False)
    root = demo_root()
    assert all(r.image_path.is_relative_to(root) for r in dataset.records)
    assert [len(dataset.split(s)) for s in ("train", "val", "test")] == [240, 60, 120]
    assert dataset.classes == ["other", "melanoma"]


def test_run_refuses_a_training_config_and_train_an_experiment_config(tmp_path: Path) -> None:
    train_yaml = tmp_path / "train.yaml"
    train_yaml.write_text("train: {epochs: 1}\n")
    result = runner.invoke(app, ["run", str(train_yaml)])
    assert isinstance(result.exception, ConfigError)
    assert "has no `experiment` section" in str(result.exception)
    exp_yaml = tmp_path / "exp.yaml"
    exp_yaml.write_text("experiment: {rounds: 1}\n")
    result = runner.invoke(app, ["train", str(exp_yaml)])
    assert isinstance(result.exception, ConfigError)
    assert "this is an experiment config" in str(result.exception)
