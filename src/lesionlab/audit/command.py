"""`lesionlab audit CONFIG-or-RUN`: audit the labels of a configured data source and write the review files.

The target is a YAML config (`lesionlab train` or `run`: its `data`, `model`, `train` and `cache_dir`
sections are read) or the output folder of `lesionlab train` (its config; `features="run"` embeds with
the trained model instead of the untrained backbone, which is in-sample for the labels it learned).
Images are embedded per fixed augmented view (`audit.features`), then `audit_labels` ranks them.
Known flips (a file of image ids, one per line or a CSV with an `image_id` column) or simulated
symmetric noise (`simulate_noise`, flips recorded) give precision and recall at k.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lesionlab.audit.core import AuditResult, audit_labels
from lesionlab.audit.features import backbone_features
from lesionlab.audit.review_files import write_audit
from lesionlab.config import ExperimentConfig, TrainRunConfig, load_config, read_yaml
from lesionlab.data.records import LabeledDataset, Record
from lesionlab.errors import ConfigError
from lesionlab.locking import output_lock


def audit_records(
    records: list[Record],
    classes: list[str],
    views: int = 4,
    folds: int = 5,
    seed: int = 0,
    trainer=None,
    config: Any = None,
    weights: dict[str, float] | None = None,
) -> AuditResult:
    """Embed `records` (their `label`s are audited) and rank them; `config` gives backbone and train."""
    if any(r.label is None for r in records):
        raise ConfigError("every audited image needs a label; pass labelled records only")
    kwargs: dict[str, Any] = {"views": views, "trainer": trainer}
    if config is not None and trainer is None:
        kwargs.update(
            backbone=config.model.backbone,
            weights=config.model.weights,
            train=config.train,  # its progress setting: embedding a large set fills caches for minutes
            cache_dir=config.cache_dir,
        )
    x = backbone_features(records, **kwargs)
    labels = np.array([r.label for r in records], dtype=np.int64)
    return audit_labels(x, labels, classes, [r.id for r in records], folds=folds, seed=seed, weights=weights)


def _load_target(target: Path, overrides: Sequence[str] = ()) -> tuple[Any, LabeledDataset, Any]:
    """(config, dataset, trained trainer or None) of a config file or a `lesionlab train` folder."""
    from lesionlab.data.loading import load_dataset

    if target.is_dir() and overrides:
        raise ConfigError(f"--set changes a config file; {target} is a folder: give the config file instead")
    if target.is_dir():
        if (target / "metrics.json").is_file():
            from lesionlab.supervised import load_trained_run

            return load_trained_run(target)
        if (target / "results.json").is_file():
            config = ExperimentConfig.model_validate(
                json.loads((target / "results.json").read_text())["config"]
            )
            return config, load_dataset(config, verify_files=False), None
        raise ConfigError(
            f"{target} is neither the output folder of `lesionlab train` (metrics.json) nor of `lesionlab"
            " run` (results.json): pass one of those, or a config file"
        )
    data = read_yaml(target)
    config = load_config(ExperimentConfig if "experiment" in data else TrainRunConfig, target, overrides)
    return config, load_dataset(config), None


def bought_labels(
    target: Path, dataset: LabeledDataset, run: str | None
) -> tuple[list[Record], set[str], str]:
    """The labels one run of an experiment bought (`STRATEGY:SEED`, default its first run), as records,
    and which of them differ from the data set's label (the simulated oracle's wrong answers)."""
    from lesionlab.data.pool_state import PoolState

    runs = [f"{r['strategy']}:{r['seed']}" for r in json.loads((target / "results.json").read_text())["runs"]]
    chosen = run or (runs[0] if runs else "")
    if chosen not in runs:
        raise ConfigError(f"--run {chosen!r} is not a run of {target}; choose one of: {', '.join(runs)}")
    name, seed = chosen.rsplit(":", 1)
    state = PoolState.load(target / "state" / f"{name}_seed{seed}.json")
    by_id = {r.id: r for r in dataset.split("train")}
    records = [replace(by_id[i], label=int(label)) for i, label in state.labels.items()]
    wrong = {i for i, label in state.labels.items() if by_id[i].label is not None and by_id[i].label != label}
    return records, wrong, chosen


def read_flips(path: Path) -> set[str]:
    """Image ids from a text file (one per line) or a CSV with an `image_id` column."""
    if not path.is_file():
        raise ConfigError(f"flips file {path} does not exist")
    text = path.read_text().splitlines()
    if text and "image_id" in text[0].split(","):
        return {row["image_id"] for row in csv.DictReader(text)}
    return {line.strip() for line in text if line.strip()}


def run_audit(
    target: Path,
    out: Path | None = None,
    split: str = "train",
    views: int = 4,
    folds: int = 5,
    top: int = 100,
    flips: Path | None = None,
    simulate_noise: float = 0.0,
    seed: int = 0,
    features: Literal["backbone", "run"] = "backbone",
    run: str | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Audit the labelled images of `split` ("all" for every labelled image) of `target`; write the files.

    For an experiment's output folder, the labels one run bought (`run` = "STRATEGY:SEED") are audited,
    and those that differ from the data set's (a noisy oracle's wrong answers) are the known flips.
    The output folder is locked for the whole audit (one writer per output folder, `locking`).
    """
    if folds < 2 or top < 0 or views < 1:  # 0 or 1 fold was quietly run as 2, and recorded as asked
        raise ConfigError(
            f"--folds must be >= 2 (cross-validation), --top >= 0 and --views >= 1; got {folds}, {top} and "
            f"{views}"
        )
    target = Path(target)
    config, dataset, trained = _load_target(target, overrides)
    if features == "run" and trained is None:
        raise ConfigError("--features run needs the output folder of `lesionlab train`")
    experiment = target.is_dir() and (target / "results.json").is_file()
    default = target if experiment or target.is_dir() else Path(config.output)
    out = Path(out) if out is not None else default / "audit"
    with output_lock(out):
        records, known, split = _audited_labels(target, dataset, split, run, experiment)
        known |= read_flips(flips) if flips else set()
        if simulate_noise > 0:
            records, known = _with_simulated_noise(records, simulate_noise, dataset.num_classes, seed)
        trainer = trained if features == "run" else None
        result = audit_records(records, dataset.classes, views, folds, seed, trainer, config)
        extra = {
            "source": dataset.name,
            "split": split,
            "views": views,
            "folds": folds,
            "features": features,
            "simulated_noise": simulate_noise,
            "classes": dataset.classes,
        }
        paths = {r.id: r.image_path for r in records}
        title = f"Label audit: {dataset.name} ({split})"
        summary = write_audit(result, out, paths, top=top, flipped=known or None, title=title, extra=extra)
    return {**summary, "out": str(out)}


def _audited_labels(
    target: Path, dataset: LabeledDataset, split: str, run: str | None, experiment: bool
) -> tuple[list[Record], set[str], str]:
    """(labelled records to audit, ids known to be wrong, what they are in words for the report).

    For an experiment, the labels a run bought, the oracle's wrong answers known; otherwise the data
    set's labels of `split` ("all": every split), none known. Fewer than 4 cannot be cross-validated.
    """
    if experiment:
        records, known, run = bought_labels(target, dataset, run)
        split = f"labels bought by {run}"
    else:
        splits = ("train", "val", "test") if split == "all" else (split,)
        records = dataset.split(*splits, labeled_only=True)
        known = set()
    if len(records) < 4:
        raise ConfigError(f"{dataset.name} has {len(records)} labelled {split} images: too few to audit")
    return records, known, split


def _with_simulated_noise(
    records: list[Record], rate: float, num_classes: int, seed: int
) -> tuple[list[Record], set[str]]:
    """The records with `rate` of each class's labels flipped (seeded), and the flipped ids.

    The flips then replace any known wrong labels: the audit is scored on the noise it was given.
    """
    from lesionlab.data.noise import relabel, symmetric_noise

    labels = [r.label for r in records]
    ids = [r.id for r in records]
    noisy = symmetric_noise(labels, rate, num_classes, seed=seed, ids=ids)
    return relabel(records, noisy), set(noisy.flipped_ids)


__all__ = ["audit_records", "read_flips", "run_audit"]
