"""One supervised run (`lesionlab train`) and the evaluation of a saved run (`lesionlab evaluate`)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from lesionlab.config import DataConfig, TrainRunConfig, load_config
from lesionlab.data.cache import default_cache_dir
from lesionlab.data.loading import load_dataset
from lesionlab.data.preprocess import RESIZE_MODES
from lesionlab.data.records import SPLITS, LabeledDataset
from lesionlab.errors import ConfigError, DataError
from lesionlab.evaluation.bootstrap import metric_intervals
from lesionlab.evaluation.decision import OBJECTIVES, choose_rule, prior_adjusted, score_rules
from lesionlab.evaluation.domain import write_summary
from lesionlab.evaluation.metrics import compute_metrics, with_positive
from lesionlab.evaluation.segmentation import evaluate_masks
from lesionlab.io import write_json
from lesionlab.models.registry import create_classifier
from lesionlab.tasks import get_task
from lesionlab.training.factory import build_model, build_trainer, save_model
from lesionlab.training.trainer import Trainer
from lesionlab.versions import versions

RULE_FILE = "decision_rule.json"  # the test-time rule `lesionlab choose-rule` picked on validation


def train_run(config: TrainRunConfig, force: bool = False) -> dict[str, Any]:
    """Train on the train split, pick the epoch on val, report on test; write metrics and a checkpoint."""
    out = Path(config.output)
    if (out / "metrics.json").exists() and not force:
        raise ConfigError(
            f"{out} already holds a finished run; pass --force to overwrite or choose another output"
        )
    dataset = load_dataset(config)
    task = get_task(config.task)
    train = dataset.split("train")
    # Blank labels (or, for segmentation, missing masks) are allowed in val and test; not scored.
    val = [r for r in dataset.split("val") if task.has_target(r)]
    test = [r for r in dataset.split("test") if task.has_target(r)]
    if not train:
        raise DataError(f"{dataset.name} has no training images for task {dataset.task}")
    cache_dir = config.cache_dir or default_cache_dir()
    model = build_model(task, config.model, dataset.num_classes, config.train.seed)
    trainer = build_trainer(task, model, config.train, cache_dir=cache_dir)
    t0 = time.perf_counter()
    fit = trainer.fit(train, val, dataset.classes)
    result: dict[str, Any] = {
        "dataset": dataset.name,
        "task": dataset.task,
        "classes": dataset.classes,
        # Binary metrics (sensitivity, AP, ...) describe class 1; say which it is and whether it was guessed.
        "positive_class": dataset.positive_class,
        "positive_guessed": dataset.positive_guessed,
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(test),
        "best_epoch": fit.best_epoch,
        "history": fit.history,
        "train_images_per_second": fit.images_per_second,
        "cache_seconds": fit.cache_seconds,
        "train_seconds": fit.train_seconds,
    }
    if test:
        result["test"] = trainer.evaluate(test, dataset.classes)
    elif val and task.metrics_always_defined:
        # No test split (ISIC 2017 has no test masks): the validation targets, when the task's metrics are
        # defined on any split (Dice); a class-label run says how to add a test split instead (cli.py).
        result["val"] = trainer.evaluate(val, dataset.classes)
        result["val_note"] = f"the validation {task.target}s also chose the epoch: an optimistic estimate"
    result["wall_seconds"] = time.perf_counter() - t0
    result["config"] = config.model_dump(mode="json")
    result["versions"] = versions()
    (out / RULE_FILE).unlink(missing_ok=True)  # chosen for the model this run replaces
    save_model(model, out / "model.pt", {"classes": dataset.classes, "config": result["config"]})
    if task.class_labels:  # what `project init --from-run`'s domain check compares a clinic's images to
        write_summary(trainer.embed, train, out, config.train.seed)
    write_json(out / "metrics.json", result)
    return result


def run_files(run_dir: Path) -> tuple[Path, Path]:
    """`metrics.json` and `model.pt` of a finished `lesionlab train` folder; a missing one is one line."""
    run_dir = Path(run_dir)
    metrics_file, ckpt = run_dir / "metrics.json", run_dir / "model.pt"
    for path in (metrics_file, ckpt):
        if not path.is_file():
            raise ConfigError(
                f"{path} not found: is {run_dir} the output folder of a finished `lesionlab train`?"
            )
    return metrics_file, ckpt


def load_trained_run(
    run_dir: Path, data: DataConfig | None = None, resize: str | None = None
) -> tuple[TrainRunConfig, LabeledDataset, Trainer]:
    """Config, dataset and a ready trainer (with the saved weights) of a finished `lesionlab train` run.

    The dataset is the run's own, or `data` (another source to evaluate the model on). Its classes are
    checked against the ones stored with the model: the run's own data must give exactly the same list
    (a renamed, added, removed or reordered class would pair labels with the wrong outputs); another
    source is mapped onto the model's order by name, and refused if it lacks or adds a name. `resize`
    replaces the run's `train.resize` (how non-square images become square).
    """
    run_dir = Path(run_dir)
    metrics_file, ckpt = run_files(run_dir)
    config, stored = read_run_metrics(metrics_file)
    if resize is not None:
        if resize not in RESIZE_MODES:
            raise ConfigError(f"unknown --resize {resize!r}: choose one of {', '.join(RESIZE_MODES)}")
        config = config.model_copy(update={"train": config.train.updated(resize=resize)})
    task = get_task(config.task)
    if not task.class_labels:  # e.g. masks: no classes to align, and no label is needed
        source = config if data is None else config.model_copy(update={"data": data})
        dataset = load_dataset(source, None if data is not None else False, labels=False)
        model = build_model(task, config.model.updated(weights=str(ckpt)), dataset.num_classes)
        cache = config.cache_dir or default_cache_dir()
        # The run's progress setting: scoring a large folder takes minutes, and says how far it is.
        return config, dataset, build_trainer(task, model, config.train, cache)
    trained = checkpoint_classes(ckpt) or stored.get("classes")
    if data is None:
        dataset = _aligned(load_dataset(config, verify_files=False), trained, ckpt, other_source=False)
    else:
        dataset = _aligned(load_dataset(config.model_copy(update={"data": data})), trained, ckpt, True)
    model = create_classifier(config.model.backbone, dataset.num_classes, str(ckpt), config.model.dropout)
    # The run's task, not the model's: a plugin task (its monitor, its metrics) may reuse the classifier.
    trainer = Trainer(model, config.train, cache_dir=config.cache_dir or default_cache_dir(), task=task)
    return config, dataset, trainer


_RETRAIN = "train the run again (`lesionlab train CONFIG --force`)"


def read_run_metrics(path: Path) -> tuple[TrainRunConfig, dict[str, Any]]:
    """The run's config and stored results; a damaged file is named with the fix, never a traceback."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is unreadable ({exc}): restore it from a copy or {_RETRAIN}") from None
    if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
        raise ConfigError(f"{path} holds no run configuration (`config`): restore it or {_RETRAIN}")
    try:
        return load_config(TrainRunConfig, stored["config"]), stored
    except ConfigError as exc:
        raise ConfigError(f"{path}: the stored configuration is not valid; {_RETRAIN}\n{exc}") from None


def checkpoint_classes(ckpt: Path) -> list[str] | None:
    """The class names saved with the model (`train_run` stores them); None for a checkpoint without."""
    import torch

    try:
        obj = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a checkpoint at all...: the user's file, not our bug
        raise ConfigError(f"{ckpt} is not a readable checkpoint ({exc}): {_RETRAIN}") from None
    classes = (obj.get("lesionlab") or {}).get("classes") if isinstance(obj, dict) else None
    return [str(c) for c in classes] if isinstance(classes, list) else None


def _aligned(
    dataset: LabeledDataset, trained: list[str] | None, ckpt: Path, other_source: bool
) -> LabeledDataset:
    """`dataset` with the model's classes, or a ConfigError that says what differs."""
    if trained is None or dataset.classes == trained:
        return dataset
    missing = [c for c in trained if c not in dataset.classes]
    added = [c for c in dataset.classes if c not in trained]
    if other_source and not (missing or added):
        order = [trained.index(c) for c in dataset.classes]  # same names, another order: map by name
        records = [r if r.label is None else replace(r, label=order[r.label]) for r in dataset.records]
        return replace(dataset, classes=list(trained), records=records)
    what = [f"missing {missing}"] * bool(missing) + [f"not trained on {added}"] * bool(added)
    what = what or ["the same names in another order, which would swap the model's outputs"]
    if other_source:
        fix = "give data with the model's class names (a folder source takes them from its CSV's labels)"
    else:
        fix = (
            f"the labels changed since training: evaluate on data with the trained classes (--data), "
            f"or {_RETRAIN}"
        )
    raise ConfigError(
        f"the model in {ckpt} was trained on classes {trained}, but {dataset.name} now gives "
        f"{dataset.classes} ({'; '.join(what)}): {fix}"
    )


def _train_counts(dataset: LabeledDataset) -> np.ndarray:
    return np.bincount([r.label for r in dataset.split("train")], minlength=dataset.num_classes)


def choose_run_rule(
    run_dir: Path,
    objective: str = "accuracy",
    min_balanced_accuracy: float = 0.0,
    views: Sequence[int] = (1, 4, 8),
    taus: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
) -> dict[str, Any]:
    """Score a grid of test-time rules (views averaged x logit adjustment) on a saved run's validation
    split, pick one for `objective`, and store it in RUN/decision_rule.json, which `evaluate` applies.

    Only the validation split is used: a rule chosen on the images it is reported on would flatter it.
    """
    if objective not in OBJECTIVES:
        raise ConfigError(f"--objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if not 0.0 <= min_balanced_accuracy <= 1.0:
        raise ConfigError(f"--min-balanced-accuracy must lie in [0, 1], got {min_balanced_accuracy}")
    if not views or min(views) < 1:
        raise ConfigError(f"--views must be counts >= 1, got {list(views)}")
    if not taus or not all(np.isfinite(t) and t >= 0 for t in taus):
        raise ConfigError(f"--taus must be numbers >= 0, got {list(taus)}")
    _, dataset, trainer = load_trained_run(run_dir)
    val = dataset.split("val")
    if not val:
        raise DataError(
            f"{dataset.name} has no validation images to choose a rule on: give the source a val split "
            "(a `split` column for a folder source) and train again"
        )
    per_view = trainer.runtime.view_probs(val, max(views))
    rows = score_rules(per_view, [r.label for r in val], _train_counts(dataset), views, taus)
    best = choose_rule(rows, objective, min_balanced_accuracy)
    result = {
        "tta_views": best.tta_views,
        "tau": best.tau,
        "objective": objective,
        "min_balanced_accuracy": min_balanced_accuracy,
        "floor_met": best.balanced_accuracy >= min_balanced_accuracy,
        "split": "val",
        "n": len(val),
        "rules": [asdict(r) for r in rows],
    }
    write_json(Path(run_dir) / RULE_FILE, result)
    return result


def _stored_rule(rule_file: Path) -> tuple[int, float]:
    """The (views, tau) `choose_run_rule` wrote; a damaged file is named, never half-read."""
    try:
        stored = json.loads(rule_file.read_text())
        views, tau = int(stored["tta_views"]), float(stored["tau"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{rule_file} is unreadable ({exc}): run `lesionlab choose-rule` again or delete the file"
        ) from None
    if views < 1 or not (np.isfinite(tau) and tau >= 0):
        raise ConfigError(
            f"{rule_file} holds views {views}, tau {tau}: run `lesionlab choose-rule` again or delete it"
        )
    return views, tau


def _decision_rule(
    run_dir: Path, trainer: Trainer, tta_views: int | None, logit_adjustment: float | None
) -> tuple[int, float, str]:
    """(views, tau, where they come from): the options given, else the stored rule, else the run's."""
    rule_file = run_dir / RULE_FILE
    if tta_views is None and logit_adjustment is None and rule_file.is_file():
        return (*_stored_rule(rule_file), str(rule_file))
    views = trainer.config.tta_views if tta_views is None else tta_views
    source = "options" if (tta_views, logit_adjustment) != (None, None) else "run config"
    return views, logit_adjustment or 0.0, source


def _check_evaluate_options(
    split: str, n_boot: int, tta_views: int | None, logit_adjustment: float | None
) -> None:
    """Refuse bad options before the model and data load (not as "no 'tset' images" minutes later)."""
    if n_boot < 1:
        raise ConfigError(f"--bootstrap must be at least 1 resample (1000 is usual), got {n_boot}")
    if split not in (*SPLITS, "all"):
        raise ConfigError(f"unknown --split {split!r}: choose one of {', '.join(SPLITS)} or all")
    if tta_views is not None and tta_views < 1:
        raise ConfigError(f"--tta-views must be >= 1, got {tta_views}")
    if logit_adjustment is not None and not (np.isfinite(logit_adjustment) and logit_adjustment >= 0):
        raise ConfigError(f"--logit-adjustment must be a number >= 0, got {logit_adjustment}")


def _training_data(
    run_dir: Path, config: TrainRunConfig, dataset: LabeledDataset, data: DataConfig | None
) -> LabeledDataset:
    """The data the model was trained on (its class prior), whatever source it is evaluated on."""
    if data is None:
        return dataset
    own = load_dataset(config, verify_files=False)  # dataset.classes are the model's now
    return _aligned(own, dataset.classes, Path(run_dir) / "model.pt", other_source=False)


def evaluate_run(
    run_dir: Path,
    split: str = "test",
    n_boot: int = 1000,
    tta_views: int | None = None,
    logit_adjustment: float | None = None,
    data: DataConfig | None = None,
    positive: str | None = None,
    resize: str | None = None,
) -> dict[str, Any]:
    """Metrics of a saved `lesionlab train` run on `split` ("all": every split), with bootstrap 95 %
    confidence intervals; images without a label (segmentation: a mask) are left out (and counted).
    `positive` names the class binary metrics describe (default: the model's second class); `resize`
    replaces the run's (squash, center_crop or pad).

    `data` evaluates the model on another source (its classes are matched to the model's by name). The
    decision rule is the one `choose_run_rule` stored in the run, if any; `tta_views` or
    `logit_adjustment` given here replace it (the other then takes its default: the run's
    `train.tta_views`, no adjustment). `logit_adjustment` > 0 divides the run's training class prior
    out of the probabilities (`lesionlab.evaluation.decision.prior_adjusted`).
    """
    _check_evaluate_options(split, n_boot, tta_views, logit_adjustment)
    config, dataset, trainer = load_trained_run(run_dir, data, resize)
    chosen = dataset.records if split == "all" else dataset.split(split)
    if not trainer.task.class_labels:
        if positive is not None or (tta_views, logit_adjustment) != (None, None):
            raise ConfigError(
                "--positive, --tta-views and --logit-adjustment apply to runs with class labels; "
                f"{run_dir} is a {trainer.task.name} run: remove them"
            )
        return evaluate_masks(dataset, trainer, split, chosen, n_boot)
    records = [r for r in chosen if r.label is not None]
    if not records:
        have = Counter(r.split for r in dataset.records if r.label is not None)
        listing = ", ".join(f"{s} ({n})" for s, n in have.items()) or "none"
        raise DataError(
            f"{dataset.name} has no labelled {split!r} images; labelled images per split: {listing}. "
            "Choose one with --split (train, val, test or all)"
        )
    views, tau, rule_source = _decision_rule(Path(run_dir), trainer, tta_views, logit_adjustment)
    probs = trainer.predict(records, views=views)
    if tau > 0:  # the prior of the data the model was trained on, whatever it is evaluated on
        probs = prior_adjusted(probs, _train_counts(_training_data(run_dir, config, dataset, data)), tau)
    y, probs, classes = with_positive(np.array([r.label for r in records]), probs, dataset.classes, positive)
    return {
        "data": dataset.name,
        "task": trainer.task.name,
        "split": split,
        "n": len(records),
        "n_unlabelled": len(chosen) - len(records),
        "classes": classes,
        "positive_class": classes[1] if len(classes) == 2 else None,
        "resize": trainer.config.resize,
        "tta_views": views,
        "logit_adjustment": tau,
        "rule_source": rule_source,
        "metrics": compute_metrics(y, probs, classes),
        "ci95": metric_intervals(y, probs, classes, n_boot=n_boot),
    }
