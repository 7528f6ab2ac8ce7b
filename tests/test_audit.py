"""The label audit: planted flips come first on an easy case; every signal points the right way; the
command writes its review files for a folder source and for ISIC 2017."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from fake_isic import lesion_image
from lesionlab.audit import audit_labels, combine, precision_recall_at_k
from lesionlab.audit import signals as ev
from lesionlab.audit.core import suggested_labels
from lesionlab.cli import app
from lesionlab.errors import ConfigError

runner = CliRunner()


def blobs(n=300, c=3, d=16, n_flip=15, seed=0, views=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    x = rng.normal(0, 4, (c, d))[y] + rng.normal(0, 1, (n, d))
    v = np.stack([x + rng.normal(0, 0.3, x.shape) for _ in range(views)])
    flip = rng.choice(n, n_flip, replace=False)
    given = y.copy()
    given[flip] = (y[flip] + rng.integers(1, c, n_flip)) % c
    return v, y, given, flip


def test_planted_flips_rank_first_on_an_easy_case():
    x, truth, given, flip = blobs()
    result = audit_labels(x, given, ["a", "b", "c"], ids=[f"i{i}" for i in range(len(given))])
    at_k = result.precision_recall_at_k([f"i{i}" for i in flip])
    assert at_k["precision_at_k"] >= 0.9 and at_k["k"] == 15
    # The suggested label of a found flip is its true class (3 classes: not just "the other one").
    top = result.order[:15]
    found = [i for i in top if i in set(flip)]
    assert np.mean(result.suggested[found] == truth[found]) >= 0.9
    assert result.rows(1)[0]["why"].startswith("out-of-sample p(")


def test_each_signal_points_at_the_flips():
    x, _, given, flip = blobs(seed=1)
    probs = ev.cv_probabilities(x, given, 3, folds=5)
    assert probs.shape == (3, 300, 3) and np.allclose(probs.sum(2), 1)
    signals = {
        "self_confidence": ev.self_confidence(probs, given),
        "view_disagreement": ev.view_disagreement(probs, given),
        "loop": ev.loop_in_class(x, given),
        "neighbours": ev.neighbour_disagreement(x, given),
    }
    clean = np.setdiff1d(np.arange(300), flip)
    for name, s in signals.items():
        assert s.shape == (300,) and s.min() >= 0 and s.max() <= 1, name
        assert s[flip].mean() > s[clean].mean() + 0.3, name


def test_probabilities_are_out_of_sample():
    # Pure noise features: an in-sample model would fit the labels, an out-of-sample one cannot.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 50)), rng.integers(0, 2, 200)
    p = ev.cv_probabilities(x, y, 2, c=100.0)[0]
    assert abs((p.argmax(1) == y).mean() - 0.5) < 0.15


def test_combine_ranks_and_weights():
    a, b = np.array([0.1, 0.2, 0.9]), np.array([100.0, 0.0, 50.0])
    assert np.allclose(combine({"a": a, "b": b}, {"a": 1.0, "b": 0.0}), [1 / 3, 2 / 3, 1.0])
    assert np.allclose(combine({"a": a, "b": b}, {"a": 1.0, "b": 1.0}), [2 / 3, 1 / 2, 5 / 6])
    with pytest.raises(ValueError, match="not computed"):
        combine({"a": a}, {"z": 1.0})


def test_suggested_label_only_when_the_model_disagrees():
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5]])
    # Never the given label (issue 31): nothing (-1) where the model prefers it.
    assert suggested_labels(p, np.array([0, 0])).tolist() == [-1, 2]


def test_precision_recall_at_k():
    got = precision_recall_at_k(["a", "b", "c", "d"], {"a", "c", "x"})
    assert got == {"k": 3, "n_flipped": 3, "hits": 2, "precision_at_k": 2 / 3, "recall_at_k": 2 / 3}
    assert precision_recall_at_k(["a", "b"], {"b"}, k=1)["hits"] == 0


def test_bad_inputs_are_named():
    x, _, given, _ = blobs()
    with pytest.raises(ValueError, match="labels must be"):
        audit_labels(x, given[:-1])
    with pytest.raises(ValueError, match="two images"):
        audit_labels(x[:, :3], np.array([0, 0, 1]))


def _folder_source(tmp_path: Path, n: int = 32) -> tuple[Path, Path, list[str]]:
    images = tmp_path / "images"
    images.mkdir()
    rows, flips = ["image_id,label,split"], []
    for k in range(n):
        mel = k % 2 == 1
        lesion_image(k, mel, size=32).save(images / f"im{k:03d}.jpg", quality=95)
        label = "melanoma" if mel else "nevus"
        if k in (4, 9, 14):  # planted flips
            label = "nevus" if mel else "melanoma"
            flips.append(f"im{k:03d}")
        rows.append(f"im{k:03d},{label},{'val' if k >= n - 4 else 'train'}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    return images, tmp_path / "labels.csv", flips


def _config(tmp_path: Path, data: dict) -> Path:
    config = {
        "data": data,
        "train": {"resolution": 32, "views": 2, "epochs": 1, "num_threads": 1, "progress": False},
        "output": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
    }
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_audit_command_on_a_folder_source(tmp_path, offline_single_thread):
    images, labels, flips = _folder_source(tmp_path)
    (tmp_path / "flips.txt").write_text("\n".join(flips) + "\n")
    config = _config(tmp_path, {"source": "folder", "root": str(images), "options": {"csv": str(labels)}})
    args = ["audit", str(config), "--views", "2", "--folds", "3", "--flips", str(tmp_path / "flips.txt")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = tmp_path / "run" / "audit"
    rows = list(csv.DictReader((out / "audit.csv").open()))
    assert len(rows) == 28 and [int(r["rank"]) for r in rows] == list(range(1, 29))
    assert {"given_label", "suggested_label", "score", "why", "image_path"} <= set(rows[0])
    summary = json.loads((out / "audit.json").read_text())
    assert summary["at_k"][0]["k"] == 3 and summary["at_k"][0]["precision_at_k"] >= 2 / 3
    html = (out / "audit.html").read_text()
    assert html.count('class="card') == 28 and "data:image/jpeg;base64" in html
    assert "precision at" in result.output


def test_audit_command_on_isic2017_with_simulated_noise(tmp_path, tiny_isic, offline_single_thread):
    config = _config(tmp_path, {"source": "isic2017", "root": str(tiny_isic.root), "task": "melanoma"})
    out = tmp_path / "review"
    args = ["audit", str(config), "--out", str(out), "--views", "2", "--folds", "3", "--top", "5"]
    result = runner.invoke(app, [*args, "--simulate-noise", "0.1"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "audit.json").read_text())
    assert summary["n_images"] == 40 and summary["at_k"][0]["n_flipped"] == 4
    assert summary["at_k"][0]["precision_at_k"] >= 0.5  # the tiny task is easy: most flips come first
    assert (out / "audit.html").read_text().count('class="card') == 5


def test_audit_command_refuses_bad_options(tmp_path):
    result = runner.invoke(app, ["audit", str(tmp_path / "missing.yaml"), "--split", "everything"])
    assert isinstance(result.exception, ConfigError) and "--split" in str(result.exception)
    result = runner.invoke(app, ["audit", str(tmp_path / "missing.yaml")])
    assert isinstance(result.exception, ConfigError) and "does not exist" in str(result.exception)


@pytest.mark.slow
def test_audit_command_on_an_experiment_config_and_a_trained_run(tmp_path, tiny_isic, offline_single_thread):
    data = {"source": "isic2017", "root": str(tiny_isic.root), "task": "melanoma"}
    train = {"resolution": 32, "views": 2, "epochs": 1, "batch_size": 8, "num_threads": 1, "progress": False}
    experiment = tmp_path / "al.yaml"
    experiment.write_text(
        yaml.safe_dump(
            {
                "data": data,
                "train": train,
                "experiment": {"strategies": ["random"]},
                "output": str(tmp_path / "al"),
                "cache_dir": str(tmp_path / "cache"),
            }
        )
    )
    result = runner.invoke(app, ["audit", str(experiment), "--views", "2", "--folds", "2"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "al" / "audit" / "audit.csv").is_file()
    # A trained run: its own model embeds the images with --features run.
    config = _config(tmp_path, data)
    assert runner.invoke(app, ["train", str(config)]).exit_code == 0
    out = tmp_path / "by_model"
    args = [
        "audit",
        str(tmp_path / "run"),
        "--features",
        "run",
        "--views",
        "2",
        "--folds",
        "2",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "audit.json").read_text())["features"] == "run"
    result = runner.invoke(app, ["audit", str(config), "--features", "run"])
    assert isinstance(result.exception, ConfigError) and "lesionlab train" in str(result.exception)
