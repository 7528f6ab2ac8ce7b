"""Faults found reviewing the one-`Trainer` refactor (issue 32 item 1): each test failed before its fix."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from fake_isic import make_tiny_isic
from lesionlab.config import ModelConfig, TrainRunConfig, load_config
from lesionlab.selection.base import get_strategy
from lesionlab.selection.evidence import heads_for
from lesionlab.tasks import TASKS, ClassificationTask, register_task
from lesionlab.training.factory import build_model


@pytest.fixture(autouse=True)
def _one_thread(no_network: None):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class _MarkedHead(torch.nn.Module):
    """A stand-in for a task's own loss predictor: what `Task.loss_predictor` returned is recognisable."""

    name = "loss_predictor"


@dataclass(frozen=True)
class _OwnPredictorTask(ClassificationTask):
    name: str = "review_own_predictor"

    def loss_predictor(self, model):
        return _MarkedHead()


def test_a_plugin_task_that_reuses_a_built_in_model_gets_its_own_loss_predictor() -> None:
    """`loss_predictor(model)` is a task hook, but the evidence kind asked `get_task(model.task)`, and a
    model built for a plugin task by a built-in model class said "classification": the plugin's
    predictor was silently replaced by the built-in one."""
    task = register_task(_OwnPredictorTask())
    try:
        model = build_model(task, ModelConfig(backbone="efficientnet_lite0", weights="none"), 2)
        heads = heads_for(get_strategy("learning_loss"), model)
        assert len(heads) == 1 and isinstance(heads[0], _MarkedHead)
    finally:
        TASKS.unregister(task.name)


_TINY_TRAIN = {
    "resolution": 32,
    "epochs": 1,
    "batch_size": 8,
    "freeze_stages": 5,
    "views": 1,
    "num_threads": 1,
    "progress": False,
}


def _folder_without_test(tmp_path: Path) -> tuple[Path, Path]:
    """The tiny ISIC images as a folder source with a `split` column holding train and val only."""
    tiny = make_tiny_isic(tmp_path / "isic")
    images = tmp_path / "images"
    images.mkdir()
    rows = ["image_id,label,split"]
    for split in ("train", "val"):
        for i in tiny.ids[split]:
            shutil.copy(next(tiny.root.glob(f"*/{i}.jpg")), images)
            rows.append(f"{i},{'melanoma' if tiny.labels[i] else 'other'},{split}")
    csv = tmp_path / "labels.csv"
    csv.write_text("\n".join(rows) + "\n")
    return images, csv


@pytest.mark.slow  # a `lesionlab train` run end to end
def test_a_classification_run_without_test_images_reports_no_validation_metrics(tmp_path: Path) -> None:
    """Before the refactor only segmentation (ISIC 2017 has no test masks) reported its validation split
    when there was no test split; the refactor widened it to every task, so a classification run's
    metrics.json gained optimistic validation metrics noted as "the validation masks also chose the
    epoch", and `lesionlab train` no longer said how to add a test split."""
    from lesionlab.supervised import train_run

    root, csv = _folder_without_test(tmp_path)
    config = load_config(
        TrainRunConfig,
        {
            "data": {"source": "folder", "root": str(root), "options": {"csv": str(csv)}},
            "model": {"backbone": "efficientnet_lite0", "weights": "imagenet"},
            "train": _TINY_TRAIN,
            "output": str(tmp_path / "run"),
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    result = train_run(config)
    assert result["n_test"] == 0 and result["n_val"] > 0
    assert "val" not in result and "val_note" not in result


def test_a_task_runtime_that_keeps_the_base_constructor_is_built_by_the_trainer() -> None:
    """`Trainer` builds a runtime as `runtime(trainer, cache_dir)`, but `TaskRuntime.__init__` took the
    trainer alone: a third party's runtime that did not override the constructor failed with a TypeError."""
    from fake_isic import tiny_train_config
    from lesionlab.models.registry import create_classifier
    from lesionlab.training.runtime import TaskRuntime
    from lesionlab.training.trainer import Trainer

    class PlainRuntime(TaskRuntime):
        num_classes = 2

    @dataclass(frozen=True)
    class PlainTask(ClassificationTask):
        name: str = "review_plain_runtime"

        def runtime(self) -> type:
            return PlainRuntime

    model = create_classifier("efficientnet_lite0", 2, "none", seed=0)
    trainer = Trainer(model, tiny_train_config(freeze_stages=0), task=PlainTask())
    assert isinstance(trainer.runtime, PlainRuntime) and trainer.runtime.trainer is trainer


@dataclass(frozen=True)
class _GradeTask(ClassificationTask):
    """docs/architecture.md's ordinal example, in short: a class-label task with a metric of its own."""

    name: str = "review_grade"

    def metric_names(self, num_classes):
        return ("accuracy", "neg_mae")

    def primary_metric(self, num_classes):
        return "neg_mae"

    def metrics(self, targets, outputs, classes):
        grade = outputs @ np.arange(outputs.shape[1])
        targets = np.asarray(targets)
        return {
            "accuracy": float((outputs.argmax(1) == targets).mean()),
            "neg_mae": float(-np.abs(grade - targets).mean()),
        }


@pytest.mark.slow  # a `lesionlab train` run end to end
def test_a_saved_run_of_a_plugin_class_label_task_loads_with_its_task(tmp_path: Path) -> None:
    """`load_trained_run` built a class-label run's trainer without its task, so the model's own
    ("classification") was used: the run's `train.monitor: neg_mae` was refused as no metric of
    classification, and `lesionlab evaluate` / `score` could not open a run of the documented example."""
    from lesionlab.supervised import evaluate_run, load_trained_run, train_run

    task = register_task(_GradeTask())
    try:
        tiny = make_tiny_isic(tmp_path / "isic")
        config = load_config(
            TrainRunConfig,
            {
                "task": task.name,
                "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
                "model": {"backbone": "efficientnet_lite0", "weights": "imagenet"},
                "train": {**_TINY_TRAIN, "monitor": "neg_mae"},
                "output": str(tmp_path / "run"),
                "cache_dir": str(tmp_path / "cache"),
            },
        )
        trained = train_run(config)
        assert set(trained["test"]) == {"accuracy", "neg_mae"}
        _, _, trainer = load_trained_run(tmp_path / "run")
        assert trainer.task is task
        assert evaluate_run(tmp_path / "run", n_boot=10)["task"] == task.name
    finally:
        TASKS.unregister(task.name)


def test_the_label_audit_embeds_images_for_a_config_of_a_plugin_class_label_task(tmp_path: Path) -> None:
    """The audit's backbone features build a classifier `Trainer` (the classification task) with the
    config's train settings, whose monitor may be a plugin task's metric: `lesionlab audit` of the
    documented ordinal example was refused ("'neg_mae' is not a metric of classification")."""
    from fake_isic import tiny_train_config
    from lesionlab.audit.features import backbone_features
    from lesionlab.data.sources import load_isic2017

    task = register_task(_GradeTask())
    try:
        records = load_isic2017(make_tiny_isic(tmp_path / "isic").root).split("val")[:4]
        train = tiny_train_config(monitor="neg_mae")
        x = backbone_features(records, views=1, train=train, cache_dir=tmp_path / "cache")
        assert x.shape[:2] == (1, 4)
    finally:
        TASKS.unregister(task.name)
