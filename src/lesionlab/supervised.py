"""One supervised run (`lesionlab train`) and the evaluation of a saved run (`lesionlab evaluate`)."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from lesionlab.config import TrainRunConfig, load_config
from lesionlab.data.cache import default_cache_dir
from lesionlab.data.demo import demo_root
from lesionlab.data.records import LabeledDataset
from lesionlab.data.sources import load_source
from lesionlab.data.validate import check_files
from lesionlab.errors import ConfigError, DataError
from lesionlab.evaluation.decision import prior_adjusted
from lesionlab.evaluation.metrics import bootstrap_ci, compute_metrics
from lesionlab.io import write_json
from lesionlab.models.registry import create_classifier, save_checkpoint
from lesionlab.training.trainer import Trainer

PACKAGES = ("lesionlab", "torch", "torchvision", "timm", "numpy", "scikit-learn", "scipy")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def load_dataset(config: TrainRunConfig, verify_files: bool | None = None) -> LabeledDataset:
    """The configured source (the embedded demo subset when no root is given), files checked up front."""
    data = config.data
    root = data.root if data.root is not None else demo_root()
    if data.root is None and data.source != "isic2017":
        raise ConfigError(
            f"data.root is required for source {data.source!r} (only isic2017 has embedded data)"
        )
    dataset = load_source(data.source, Path(root), data.task, **data.options)
    if config.check_files if verify_files is None else verify_files:
        problems = check_files(dataset)
        if problems:
            listed = "\n  ".join(str(p) for p in problems[:20])
            raise DataError(
                f"{len(problems)} unusable file(s); fix or remove them before training:\n  {listed}"
            )
    return dataset


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
        model, replace(config.train, progress=False), cache_dir=config.cache_dir or default_cache_dir()
    )
    return config, dataset, trainer


def evaluate_run(
    run_dir: Path,
    split: str = "test",
    n_boot: int = 1000,
    tta_views: int | None = None,
    logit_adjustment: float = 0.0,
) -> dict[str, Any]:
    """Metrics of a saved `lesionlab train` run on `split`, with bootstrap 95 % confidence intervals.

    `tta_views` overrides the run's `train.tta_views` (predictions averaged over fixed augmented views);
    `logit_adjustment` > 0 divides the training split's class prior out of the probabilities
    (`lesionlab.evaluation.decision.prior_adjusted`).
    """
    if tta_views is not None and tta_views < 1:
        raise ConfigError(f"--tta-views must be >= 1, got {tta_views}")
    if not (np.isfinite(logit_adjustment) and logit_adjustment >= 0):
        raise ConfigError(f"--logit-adjustment must be a number >= 0, got {logit_adjustment}")
    _, dataset, trainer = load_trained_run(run_dir)
    records = dataset.split(split)
    if not records:
        raise DataError(f"{dataset.name} has no {split!r} split; choose one of train, val, test")
    views = trainer.config.tta_views if tta_views is None else tta_views
    probs = trainer.predict(records, views=views)
    if logit_adjustment > 0:
        counts = np.bincount([r.label for r in dataset.split("train")], minlength=dataset.num_classes)
        probs = prior_adjusted(probs, counts, logit_adjustment)
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
        "logit_adjustment": logit_adjustment,
        "metrics": metrics,
        "ci95": intervals,
    }
