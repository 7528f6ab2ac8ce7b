"""Long phases say how far they are (issue 31, item 9): a bar on a terminal, periodic lines in a log; and
"the best epoch is the last allowed" is said once per run, not once per round."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

from fake_isic import TinyIsic, lesion_image, make_tiny_isic, tiny_train_config
from lesionlab import progress as progress_module
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.data.cache import ImageCache
from lesionlab.data.sources import load_source
from lesionlab.models.registry import create_classifier
from lesionlab.progress import progress
from lesionlab.runner.experiment import Experiment
from lesionlab.training import trainer as trainer_module
from lesionlab.training.classification import ClassifierRuntime
from lesionlab.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("offline_single_thread")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def every_item(monkeypatch: pytest.MonkeyPatch) -> None:
    """A progress line after every item instead of every 10 s."""
    monkeypatch.setattr(progress_module, "LINE_PERIOD_SECONDS", 0.0)


def write_images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"img{k}.png" for k in range(n)]
    for k, path in enumerate(paths):
        lesion_image(k, k % 2 == 0).save(path)
    return paths


def test_a_cache_fill_prints_lines_when_stderr_is_not_a_terminal(
    tmp_path: Path, every_item: None, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_images(tmp_path / "images", 5)
    cache = ImageCache(tmp_path / "cache", 32, "none")
    images = cache.get_many(paths, progress=True)
    assert images.shape == (5, 32, 32, 3)
    lines = capsys.readouterr().err.splitlines()
    assert [ln for ln in lines if re.fullmatch(r"decoding 5 images \(32 px\): [1-4]/5 \(ETA \d+ s\)", ln)]
    assert re.fullmatch(r"decoding 5 images \(32 px\): 5 done in \d+ s", lines[-1])
    cache.get_many(paths, progress=False)  # asked for no progress: nothing
    assert capsys.readouterr().err == ""


def test_a_short_phase_prints_nothing_and_a_terminal_gets_a_bar(capsys: pytest.CaptureFixture[str]) -> None:
    assert list(progress(range(3), "quick")) == [0, 1, 2]  # well under the 10 s period
    assert capsys.readouterr().err == ""
    terminal = Terminal()
    assert list(progress(range(3), "drawing a bar", stream=terminal)) == [0, 1, 2]
    assert "drawing a bar" in terminal.getvalue()


def test_training_reports_the_activation_cache_fill(
    tiny_isic: TinyIsic, tmp_path: Path, every_item: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lesionlab train` on a new machine: the frozen-trunk cache fill was silent in a log."""
    data = load_source("isic2017", tiny_isic.root, "melanoma")
    model = create_classifier("efficientnet_lite0", 2, "imagenet", seed=0)
    trainer = Trainer(model, tiny_train_config(epochs=1, progress=True), cache_dir=tmp_path / "cache")
    trainer.fit(data.split("train")[:16], (), data.classes)
    err = capsys.readouterr().err
    filled = r"caching trunk activations of 16 images \(2 view\(s\), 1 batch\(es\)\): 1 done in \d+ s"
    assert re.search(filled, err), err


def exp_config(tiny: TinyIsic, out: Path, **train: Any) -> ExperimentConfig:
    return load_config(
        ExperimentConfig,
        {
            "name": "once",
            "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
            "train": {
                "resolution": 32,
                "epochs": 2,
                "freeze_stages": 5,
                "views": 1,
                "batch_size": 8,
                "num_threads": 1,
                **train,
            },
            "experiment": {
                "strategies": ["random", "least_confidence"],
                "seeds": [0],
                "initial": {"kind": "random", "size": 0.2},
                "budget": 0.2,
                "rounds": 2,
            },
            "output": str(out),
            "cache_dir": str(out.parent / "cache"),
        },
    )


def test_the_last_epoch_note_is_said_once_per_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every fit's validation score rises to the last epoch: six fits, one note (it was one per fit)."""
    tiny = make_tiny_isic(tmp_path / "isic2017")
    monkeypatch.setattr(progress_module, "_said", set())
    calls = iter(range(10_000))
    validate = ClassifierRuntime.validate

    def rising(self: ClassifierRuntime, data: Any) -> dict:
        metrics = validate(self, data)
        metrics[data.monitor] = float(next(calls))  # every epoch is better than the one before
        return metrics

    monkeypatch.setattr(ClassifierRuntime, "validate", rising)
    noted = []
    note = trainer_module.note_last_epoch_best
    monkeypatch.setattr(trainer_module, "note_last_epoch_best", lambda *a: noted.append(a) or note(*a))
    Experiment(exp_config(tiny, tmp_path / "run"), progress=True).run()
    err = capsys.readouterr().err
    assert len(noted) >= 4  # two strategies x two trained rounds at least, each ending on its last epoch
    assert err.count("last allowed") == 1, err
    assert "said once per run" in err


def test_evaluate_reports_its_phases(
    tiny_isic: TinyIsic, tmp_path: Path, every_item: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lesionlab evaluate` on a large folder scored in silence: it now follows the run's progress setting."""
    import json

    from lesionlab.supervised import evaluate_run
    from test_evaluate_run import fake_run

    model = create_classifier("efficientnet_lite0", 2, "imagenet", seed=0)
    run = fake_run(tmp_path / "run", model, tiny_isic)
    stored = json.loads((run / "metrics.json").read_text())
    stored["config"]["train"]["progress"] = True
    (run / "metrics.json").write_text(json.dumps(stored))
    evaluate_run(run, "test", n_boot=10)
    err = capsys.readouterr().err
    assert "caching trunk activations of 16 images" in err and "bootstrap (10 resamples): " in err, err
