"""Tasks: metric names, the primary metric, segmentation metrics and pixel-to-image reductions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lesionlab.errors import ConfigError
from lesionlab.tasks import ClassificationTask, SegmentationTask, get_task


def test_classification_metric_names_follow_the_number_of_classes() -> None:
    task = get_task("classification")
    assert task.primary_metric(2) == "auc" and task.primary_metric(7) == "macro_auc"
    assert "accuracy" in task.metric_names(2) and "accuracy" in task.metric_names(7)
    assert task.check_metric("auto", 2, "experiment.metric") == "auc"
    assert task.check_metric("acc", 2, "train.monitor") == "accuracy"  # the old binary name
    assert task.check_metric("loss", 2, "train.monitor", allow_loss=True) == "loss"
    with pytest.raises(ConfigError, match=r"experiment\.metric: 'loss' is not a metric"):
        task.check_metric("loss", 2, "experiment.metric")
    with pytest.raises(ConfigError, match="'balanced_accuracy' is not a metric of classification with 2"):
        task.check_metric("balanced_accuracy", 2, "train.monitor")


def test_classification_metrics_are_the_evaluation_metrics() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    metrics = ClassificationTask().metrics([0, 1, 1, 0], probs, ["benign", "melanoma"])
    assert set(metrics) == set(ClassificationTask().metric_names(2))
    assert metrics["accuracy"] == pytest.approx(0.5)


def test_segmentation_metrics_on_known_masks() -> None:
    truth = np.zeros((3, 4, 4), dtype=np.uint8)
    truth[0, :2] = 1  # 8 pixels
    truth[1, :, :1] = 1  # 4 pixels
    pred = np.zeros((3, 4, 4))
    pred[0, :1] = 0.9  # 4 of the 8: Jaccard 0.5, Dice 2/3
    pred[1, :, :1] = 0.8  # exact
    # image 2: both empty, a perfect agreement
    m = SegmentationTask().metrics(truth, pred)
    assert m["jaccard"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert m["dice"] == pytest.approx((2 / 3 + 1 + 1) / 3)
    assert m["thresholded_jaccard"] == pytest.approx((0 + 1 + 1) / 3)  # 0.5 < 0.65 counts as 0
    assert SegmentationTask().primary_metric(2) == "jaccard"


def test_pixel_maps_reduce_to_one_score_per_image() -> None:
    sure = np.full((1, 8, 8), 0.01)
    unsure = np.full((1, 8, 8), 0.5)
    half = np.concatenate([np.full((1, 8, 4), 0.01), np.full((1, 8, 4), 0.5)], axis=2)
    maps = np.concatenate([sure, unsure, half])
    task = SegmentationTask()
    mean = task.image_scores(maps, "mean_entropy")
    assert mean.shape == (3,) and mean[0] < mean[2] < mean[1]
    assert mean[1] == pytest.approx(np.log(2))
    assert task.image_scores(maps, "max_entropy")[2] == pytest.approx(np.log(2))
    # Over the doubtful / lesion pixels only, the half-unsure map scores like the unsure one.
    assert task.image_scores(maps, "foreground_entropy")[2] == pytest.approx(np.log(2))
    with pytest.raises(ConfigError, match="unknown reduction"):
        task.image_scores(maps, "median")


def test_unknown_task_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="choose one of: classification, segmentation"):
        get_task("detection")


def test_loading_a_config_imports_no_torch() -> None:
    code = (
        "import sys; from lesionlab.config import ExperimentConfig, load_config; "
        "load_config(ExperimentConfig, {'train': {'epochs': 3}}); import lesionlab.tasks; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
