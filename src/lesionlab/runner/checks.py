"""What the experiment runner checks before any training: a mistake found after hours of rounds is
found too late.

Each check raises `ConfigError` or `DataError` with the setting to change; none of them trains, and the
only one that touches the model is the loss's construction (e.g. a transition-matrix file that must load).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from lesionlab.config import ExperimentConfig
from lesionlab.data.records import LabeledDataset, Record
from lesionlab.errors import ConfigError, DataError
from lesionlab.runner import audit_step
from lesionlab.selection.base import Strategy, get_strategy
from lesionlab.selection.evidence import check_task, model_free
from lesionlab.tasks import Task, get_task
from lesionlab.training.losses import build_loss


def amount(value: float, pool_size: int, what: str) -> int:
    """A fraction of the pool (< 1) or a count (>= 1), checked against the pool size."""
    if value <= 0:
        raise ConfigError(f"{what} must be > 0 (a fraction of the pool below 1, or a count), got {value}")
    if value >= 1 and value != int(value):
        raise ConfigError(f"{what} of {value} is neither a fraction of the pool (< 1) nor a whole count")
    n = round(value * pool_size) if value < 1 else int(value)
    if n > pool_size:
        raise ConfigError(f"{what} of {n} images is larger than the pool of {pool_size} unlabelled images")
    return max(n, 1)


def primary_metric(config: ExperimentConfig, num_classes: int) -> str:
    """The metric curves, ALC and savings are computed on: `experiment.metric`, checked against the task."""
    return get_task(config.task).check_metric(config.experiment.metric, num_classes, "experiment.metric")


def build_strategies(config: ExperimentConfig) -> tuple[dict[str, Strategy], Strategy | None]:
    """The per-round strategies by name and the initial-set strategy (None unless `initial.kind` is
    `strategy`), each built with its parameters and checked against the task's output."""
    exp = config.experiment
    strategies = {name: get_strategy(name, **exp.strategy_params.get(name, {})) for name in exp.strategies}
    unused = set(exp.strategy_params) - set(exp.strategies) - {exp.initial.strategy}
    if unused:
        raise ConfigError(f"experiment.strategy_params names strategies not in the list: {sorted(unused)}")
    initial = None
    if exp.initial.kind == "strategy":
        if not exp.initial.strategy:
            raise ConfigError("experiment.initial.kind is 'strategy' but initial.strategy is not set")
        initial = get_strategy(exp.initial.strategy, **exp.strategy_params.get(exp.initial.strategy, {}))
        if not model_free(initial.requires):
            raise ConfigError(
                f"initial strategy {exp.initial.strategy} needs a trained model "
                f"({sorted(initial.requires)}); use a model-free one such as pca_lsh"
            )
    task = get_task(config.task)
    for strategy in [*strategies.values(), *([initial] if initial is not None else [])]:
        check_task(strategy, task)
    return strategies, initial


def how_to_add_split(dataset: LabeledDataset, split: str) -> str:
    """How a source gets a `split` it lacks: a folder source's CSV says each image's split; an experiment
    can also evaluate on val instead of test."""
    ways = []
    if dataset.labels_file is not None:
        ways.append(f"write {split} in the `split` column of {dataset.labels_file} for images to hold out")
    if split == "test" and dataset.split("val"):
        ways.append("set experiment.evaluate_on: val")
    return " or ".join(ways) or "see docs/data.md for the layout that gives this source one"


def check_data(
    dataset: LabeledDataset, pool: list[Record], eval_records: list[Record], task: Task, split: str
) -> None:
    """A pool to select from, with every target known to the simulated oracle, and images to evaluate on."""
    if not pool:
        raise DataError(f"{dataset.name} has no training images to form the pool")
    if not eval_records:
        if task.missing_split_hint:
            raise DataError(f"{dataset.name} has no {split!r} split{task.missing_split_hint} to evaluate on")
        how = how_to_add_split(dataset, split)
        raise DataError(f"{dataset.name} has no {split!r} split to evaluate on: {how}")
    if any(r.label is None or not task.has_target(r) for r in pool):
        raise DataError(
            f"a simulated-oracle experiment needs every pool image {task.pool_requirement} "
            "(hidden until bought)"
        )


def check_options(config: ExperimentConfig, task: Task) -> None:
    """Refuse options that would be silently ignored or fail after round 0."""
    exp = config.experiment
    if exp.round_epochs is not None and exp.learning == "retrain":
        raise ConfigError(
            "experiment.round_epochs shortens the rounds that continue a fine-tuned model (learning "
            "acft_q, acft_lq or acft_hq); with learning retrain every round trains a fresh model for "
            "train.epochs: remove round_epochs or choose a continual learning"
        )
    if exp.ensemble_members == "continued" and exp.learning == "retrain":
        raise ConfigError(
            "experiment.ensemble_members continued fine-tunes each committee member on from its previous "
            "round, as a continual learning (acft_q, acft_lq, acft_hq) does the model; with learning retrain "
            "the model itself starts afresh each round: use ensemble_members fresh or a continual learning"
        )
    refused = task.unsupported_options(config)
    if refused:
        raise ConfigError(f"not for task {task.name}: " + "; ".join(refused))
    if exp.pool_scoring == "onnxruntime" and importlib.util.find_spec("onnxruntime") is None:
        raise ConfigError(
            "experiment.pool_scoring onnxruntime needs ONNX Runtime: pip install 'lesionlab[onnx]'"
        )


def check_budget(config: ExperimentConfig, budget: int) -> None:
    """With the audit on, a round's re-labels must leave room for at least one new image."""
    audit = config.experiment.audit
    if not audit.every_round:
        return
    n_new, n_relabel = audit_step.split_budget(budget, audit.relabel_fraction, "x+audit")
    if n_new < 1:
        raise ConfigError(
            f"experiment.audit.relabel_fraction {audit.relabel_fraction} spends all {budget} labels of a "
            f"round on re-labels ({n_relabel}), leaving no new image: lower it or raise experiment.budget"
        )


def check_metrics(
    config: ExperimentConfig, task: Task, dataset: LabeledDataset, eval_records: list[Record], metric: str
) -> None:
    """`train.monitor` must suit the task, and the primary metric must be defined on the evaluation split:
    AUC with one class there would be NaN in every round, and every curve, ALC and saving with it."""
    task.check_metric(config.train.monitor, dataset.num_classes, "train.monitor", allow_loss=True)
    if task.metrics_always_defined:
        return  # e.g. Dice and Jaccard are defined on any set of masks (two empty masks agree)
    n = len(eval_records)
    labels = np.array([r.label for r in eval_records])
    uniform = np.full((n, dataset.num_classes), 1.0 / dataset.num_classes)
    value = task.metrics(labels, uniform, dataset.classes).get(metric)
    if not (isinstance(value, float) and np.isfinite(value)):
        present = ", ".join(sorted({dataset.classes[y] for y in labels}))
        raise ConfigError(
            f"experiment.metric {metric!r} is undefined on the {n} {config.experiment.evaluate_on} images "
            f"(classes present: {present}): choose another metric or split"
        )


def check_loss(config: ExperimentConfig, task: Task, num_classes: int) -> None:
    """Build the configured loss once (its name and settings, e.g. a transition-matrix file) first."""
    train = config.train
    build_loss(task.default_loss if train.loss == "auto" else train.loss, train, num_classes)
