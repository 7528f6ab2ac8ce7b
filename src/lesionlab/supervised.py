"""One supervised run (`lesionlab train`) and the evaluation of a saved run (`lesionlab evaluate`)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from lesionlab.config import TrainRunConfig, load_config
from lesionlab.data.cache import default_cache_dir
from lesionlab.data.loading import load_dataset
from lesionlab.data.records import LabeledDataset
from lesionlab.errors import ConfigError, DataError
from lesionlab.evaluation.decision import OBJECTIVES, choose_rule, prior_adjusted, score_rules
from lesionlab.evaluation.metrics import bootstrap_ci, compute_metrics
from lesionlab.io import write_json
from lesionlab.models.registry import create_classifier, save_checkpoint
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
    train, val, test = dataset.split("train"), dataset.split("val"), dataset.split("test")
    if not train:
        raise DataError(f"{dataset.name} has no training images for task {dataset.task}")
    cache_dir = config.cache_dir or default_cache_dir()
    m = config.model
    model = create_classifier(m.backbone, dataset.num_classes, m.weights, m.dropout, seed=config.train.seed)
    trainer = Trainer(model, config.train, cache_dir=cache_dir)
    t0 = time.perf_counter()
    fit = trainer.fit(train, val, dataset.classes)
    result: dict[str, Any] = {
        "dataset": dataset.name,
        "task": dataset.task,
        "classes": dataset.classes,
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
        probs = trainer.predict(test)
        result["test"] = compute_metrics(np.array([r.label for r in test]), probs, dataset.classes)
    result["wall_seconds"] = time.perf_counter() - t0
    result["config"] = config.model_dump(mode="json")
    result["versions"] = versions()
    (out / RULE_FILE).unlink(missing_ok=True)  # chosen for the model this run replaces
    save_checkpoint(model, out / "model.pt", {"classes": dataset.classes, "config": result["config"]})
    write_json(out / "metrics.json", result)
    return result


def load_trained_run(run_dir: Path) -> tuple[TrainRunConfig, LabeledDataset, Trainer]:
    """Config, dataset and a ready trainer (with the saved weights) of a finished `lesionlab train` run."""
    run_dir = Path(run_dir)
    metrics_file, ckpt = run_dir / "metrics.json", run_dir / "model.pt"
    for path in (metrics_file, ckpt):
        if not path.is_file():
            raise ConfigError(
                f"{path} not found: is {run_dir} the output folder of a finished `lesionlab train`?"
            )
    config = load_config(TrainRunConfig, json.loads(metrics_file.read_text())["config"])
    dataset = load_dataset(config, verify_files=False)
    model = create_classifier(config.model.backbone, dataset.num_classes, str(ckpt), config.model.dropout)
    trainer = Trainer(
        model, config.train.updated(progress=False), cache_dir=config.cache_dir or default_cache_dir()
    )
    return config, dataset, trainer


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
    per_view = trainer.view_probs(val, max(views))
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


def evaluate_run(
    run_dir: Path,
    split: str = "test",
    n_boot: int = 1000,
    tta_views: int | None = None,
    logit_adjustment: float | None = None,
) -> dict[str, Any]:
    """Metrics of a saved `lesionlab train` run on `split`, with bootstrap 95 % confidence intervals.

    The decision rule is the one `choose_run_rule` stored in the run, if any; `tta_views` or
    `logit_adjustment` given here replace it (the other then takes its default: the run's
    `train.tta_views`, no adjustment). `logit_adjustment` > 0 divides the training split's class prior
    out of the probabilities (`lesionlab.evaluation.decision.prior_adjusted`).
    """
    if tta_views is not None and tta_views < 1:
        raise ConfigError(f"--tta-views must be >= 1, got {tta_views}")
    if logit_adjustment is not None and not (np.isfinite(logit_adjustment) and logit_adjustment >= 0):
        raise ConfigError(f"--logit-adjustment must be a number >= 0, got {logit_adjustment}")
    _, dataset, trainer = load_trained_run(run_dir)
    records = dataset.split(split)
    if not records:
        raise DataError(f"{dataset.name} has no {split!r} split; choose one of train, val, test")
    rule_file = Path(run_dir) / RULE_FILE
    if tta_views is None and logit_adjustment is None and rule_file.is_file():
        views, tau = _stored_rule(rule_file)
        rule_source = str(rule_file)
    else:
        views = trainer.config.tta_views if tta_views is None else tta_views
        tau = logit_adjustment or 0.0
        rule_source = "options" if (tta_views, logit_adjustment) != (None, None) else "run config"
    probs = trainer.predict(records, views=views)
    if tau > 0:
        probs = prior_adjusted(probs, _train_counts(dataset), tau)
    y = np.array([r.label for r in records])
    metrics = compute_metrics(y, probs, dataset.classes)
    intervals = {}
    for name in metrics:
        if isinstance(metrics[name], float):
            intervals[name] = bootstrap_ci(
                y, probs, lambda yy, pp, k=name: compute_metrics(yy, pp, dataset.classes)[k], n_boot=n_boot
            )
    return {
        "split": split,
        "n": len(records),
        "tta_views": views,
        "logit_adjustment": tau,
        "rule_source": rule_source,
        "metrics": metrics,
        "ci95": intervals,
    }
