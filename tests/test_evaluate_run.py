"""`lesionlab evaluate` on a saved run: what it refuses (damaged files, changed classes, no resamples) and
evaluation on another data source, classes matched to the model's by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fake_isic import TinyIsic, make_tiny_isic
from lesionlab.cli import app
from lesionlab.config import DataConfig
from lesionlab.errors import ConfigError
from lesionlab.models.classifier import LesionClassifier
from lesionlab.models.registry import create_classifier, save_checkpoint
from lesionlab.supervised import evaluate_run, load_trained_run

pytestmark = pytest.mark.usefixtures("offline_single_thread")
TRAINED = ["other", "melanoma"]  # the ISIC 2017 melanoma task's classes


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyIsic:
    return make_tiny_isic(tmp_path_factory.mktemp("evaluate") / "isic2017")


@pytest.fixture(scope="module")
def lite0() -> LesionClassifier:
    return create_classifier("efficientnet_lite0", 2, "imagenet", seed=0)


def fake_run(
    run_dir: Path, model: LesionClassifier, tiny: TinyIsic, classes: list[str] | None = TRAINED
) -> Path:
    """What `lesionlab train` leaves behind, without training: the config and an (untrained) checkpoint."""
    config = {
        "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
        "train": {"resolution": 32, "freeze_stages": 5, "views": 1, "num_threads": 1, "progress": False},
        "output": str(run_dir),
        "cache_dir": str(run_dir.parent / "cache"),
    }
    save_checkpoint(model, run_dir / "model.pt", {} if classes is None else {"classes": classes})
    (run_dir / "metrics.json").write_text(json.dumps({"config": config, "classes": TRAINED}))
    return run_dir


def folder_of_test_images(tiny: TinyIsic, tmp: Path, names: dict[int, str], **options: object) -> DataConfig:
    """The tiny test images as a user's folder source, labels spelled `names[label]`."""
    rows = ["image_id,label,split"] + [f"{i},{names[tiny.labels[i]]},test" for i in tiny.ids["test"]]
    csv = tmp / "labels.csv"
    csv.write_text("\n".join(rows) + "\n")
    root = tiny.image(tiny.ids["test"][0]).parent
    return DataConfig(source="folder", root=root, options={"csv": str(csv), **options})


def test_zero_resamples_is_a_clear_error(lite0: LesionClassifier, tiny: TinyIsic, tmp_path: Path) -> None:
    run = fake_run(tmp_path / "run", lite0, tiny)
    with pytest.raises(ConfigError, match="--bootstrap must be at least 1"):
        evaluate_run(run, n_boot=0)
    result = CliRunner().invoke(app, ["evaluate", str(run), "--bootstrap", "0"])
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"config": {"data": ', "is unreadable"),  # truncated
        ("", "is unreadable"),
        ("[1, 2]", "holds no run configuration"),
        ('{"classes": ["a", "b"]}', "holds no run configuration"),
        ('{"config": {"train": {"epochs": -1}}}', "stored configuration is not valid"),
    ],
)
def test_damaged_metrics_json_names_the_file_and_the_fix(
    lite0: LesionClassifier, tiny: TinyIsic, tmp_path: Path, content: str, message: str
) -> None:
    run = fake_run(tmp_path / "run", lite0, tiny)
    (run / "metrics.json").write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        load_trained_run(run)
    assert str(run / "metrics.json") in str(caught.value) and "lesionlab train" in str(caught.value)


def test_damaged_checkpoint_is_a_clear_error(lite0: LesionClassifier, tiny: TinyIsic, tmp_path: Path) -> None:
    run = fake_run(tmp_path / "run", lite0, tiny)
    (run / "model.pt").write_bytes((run / "model.pt").read_bytes()[:1000])
    with pytest.raises(ConfigError, match=r"model\.pt"):
        load_trained_run(run)


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        (["melanoma", "other"], "another order"),  # the data's order changed since training
        (["other", "mel"], r"missing \['mel'\]; not trained on \['melanoma'\]"),  # a class renamed
        (["other", "melanoma", "nevus"], r"missing \['nevus'\]"),  # a class removed from the data
    ],
)
def test_classes_changed_since_training_are_refused(
    lite0: LesionClassifier, tiny: TinyIsic, tmp_path: Path, stored: list[str], message: str
) -> None:
    run = fake_run(tmp_path / "run", lite0, tiny, classes=stored)
    with pytest.raises(ConfigError, match=message) as caught:
        evaluate_run(run, n_boot=10)
    assert str(stored) in str(caught.value) and str(TRAINED) in str(caught.value)


def test_a_checkpoint_without_classes_falls_back_to_the_run_record(
    lite0: LesionClassifier, tiny: TinyIsic, tmp_path: Path
) -> None:
    run = fake_run(tmp_path / "run", lite0, tiny, classes=None)
    assert evaluate_run(run, n_boot=10)["classes"] == TRAINED
    stored = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps(stored | {"classes": ["other", "nevus"]}))
    with pytest.raises(ConfigError, match="nevus"):
        evaluate_run(run, n_boot=10)


def test_evaluate_on_another_source_maps_classes_by_name(
    lite0: LesionClassifier, tiny: TinyIsic, tmp_path: Path
) -> None:
    run = fake_run(tmp_path / "run", lite0, tiny)
    own = evaluate_run(run, "test", n_boot=50)
    assert own["positive_class"] == "melanoma" and own["n"] == 16

    # The same images as a folder whose classes come in the other order: mapped by name, same numbers.
    names = {0: "other", 1: "melanoma"}
    data = folder_of_test_images(tiny, tmp_path, names, classes=["melanoma", "other"])
    other = evaluate_run(run, "all", n_boot=50, data=data)
    assert other["classes"] == TRAINED and other["positive_class"] == "melanoma" and other["n"] == 16
    assert other["metrics"] == pytest.approx(own["metrics"], abs=1e-9)
    for name, interval in own["ci95"].items():
        np.testing.assert_allclose(other["ci95"][name], interval, atol=1e-9)

    # From the command line; a split the folder does not have is named with the ones it has.
    out = tmp_path / "eval.json"
    args = ["evaluate", str(run), "--data", "folder", "--root", str(data.root), "--csv", data.options["csv"]]
    result = CliRunner().invoke(app, [*args, "--split", "all", "--bootstrap", "50", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "positive class: melanoma" in " ".join(result.output.split())
    assert json.loads(out.read_text())["metrics"]["auc"] == pytest.approx(own["metrics"]["auc"])
    missing = CliRunner().invoke(app, [*args, "--split", "val"])
    assert "no labelled 'val' images" in str(missing.exception) and "test (16)" in str(missing.exception)


def test_another_source_with_other_class_names_is_refused(
    lite0: LesionClassifier, tiny: TinyIsic, tmp_path: Path
) -> None:
    run = fake_run(tmp_path / "run", lite0, tiny)
    data = folder_of_test_images(tiny, tmp_path, {0: "nevus", 1: "melanoma"}, positive="melanoma")
    with pytest.raises(ConfigError, match=r"missing \['other'\]; not trained on \['nevus'\]"):
        evaluate_run(run, "all", n_boot=10, data=data)
    no_data = CliRunner().invoke(app, ["evaluate", str(run), "--root", str(tmp_path)])
    assert "give --data too" in str(no_data.exception)


def test_logit_adjustment_on_another_source_uses_the_training_prior(
    lite0: LesionClassifier, tiny: TinyIsic, tmp_path: Path
) -> None:
    """The prior divided out is the run's training split's (16 melanomas of 40), not the new data's."""
    run = fake_run(tmp_path / "run", lite0, tiny)
    own = evaluate_run(run, "test", n_boot=10, logit_adjustment=1.0)
    data = folder_of_test_images(tiny, tmp_path, {0: "other", 1: "melanoma"})
    other = evaluate_run(run, "all", n_boot=10, logit_adjustment=1.0, data=data)
    assert other["metrics"] == pytest.approx(own["metrics"], abs=1e-9)
    assert np.isfinite(other["metrics"]["auc"])


def test_readme_python_snippet(lite0: LesionClassifier, tiny: TinyIsic, tmp_path: Path) -> None:
    """README: a saved run loads from a plain string path; columns follow the dataset's classes."""
    run = str(fake_run(tmp_path / "run", lite0, tiny))
    _, ds, trainer = load_trained_run(run)
    probs = trainer.predict(ds.split("test"))
    assert probs.shape == (16, len(ds.classes)) and ds.classes == TRAINED
    assert evaluate_run(run, split="test", n_boot=20)["n"] == 16
