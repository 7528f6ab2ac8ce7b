"""`project train`: fine-tune on every expert label, keep the model as a new version, and say how good it is.

Quality is estimated by stratified k-fold cross-validation on the labels themselves (the project has no
separate test set): each fold's model is trained on the other folds with the project's settings and scores
its held-out fold, and the task's metrics are computed once over the pooled out-of-fold predictions, with
bootstrap 95 % intervals (tens of labels give a rough estimate; the interval says how rough). The saved
model is then trained on all labels with the same settings. Without a validation split the trainer runs
the configured number of epochs (no epoch is picked on data the estimate uses).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from lesionlab.errors import DataError
from lesionlab.io import write_json
from lesionlab.progress import log_line
from lesionlab.project.modelling import new_trainer
from lesionlab.project.project import Project


@dataclass
class TrainResult:
    version: int
    checkpoint: str
    n_labels: int
    method: str
    metrics: dict[str, Any]
    seconds: float
    left_out: dict[str, int] = field(default_factory=dict)  # annotated images without a usable consensus


def _folds(labels: np.ndarray, wanted: int) -> int:
    """As many folds as asked, but no more than the rarest class has images (each fold must hold one)."""
    counts = np.bincount(labels)
    present = counts[counts > 0]
    if len(present) < 2:
        raise DataError(
            f"training needs labels of at least two classes; the project has {int(counts.sum())} label(s) "
            "of one class. Label more of the proposed images first."
        )
    if present.min() < 2:
        raise DataError(
            "each labelled class needs at least two images for a cross-validated quality estimate; "
            f"labels per class now: {counts.tolist()}. Label more images first."
        )
    return int(min(wanted, present.min()))


def _plain(metrics: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe metrics (numpy numbers to floats, NaN to None) for the database's JSON column."""

    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, (np.floating, float)):
            return None if not np.isfinite(v) else float(v)
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, np.ndarray):
            return clean(v.tolist())
        return v

    return json.loads(json.dumps(clean(metrics)))


def classification_scores(project: Project, targets: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """The task's metrics of class probabilities, the primary metric's name, and bootstrap 95 % intervals."""
    from lesionlab.evaluation.bootstrap import metric_intervals

    classes = project.classes
    metrics = _plain(project.task.metrics(targets, probs, classes))
    metrics["primary_metric"] = project.task.primary_metric(len(classes))
    # With tens of labels the estimate is rough: its bootstrap 95 % interval says how rough.
    metrics["ci95"] = _plain(metric_intervals(targets, probs, classes, show_progress=False))
    return metrics


def _classification_cv(
    project: Project, records, k_wanted: int, show_progress: bool, weights: str | Path | None = None
) -> tuple[dict, int]:
    """Out-of-fold class probabilities of stratified k-fold cross-validation, their metrics and intervals.

    Every fold's model starts from `weights` (None: `new_trainer`'s default start)."""
    from sklearn.model_selection import StratifiedKFold

    classes = project.classes
    targets = np.array([r.label for r in records])
    k = _folds(targets, k_wanted)
    oof = np.zeros((len(records), len(classes)))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=project.config.seed)
    for fold, (train_idx, test_idx) in enumerate(splitter.split(np.zeros(len(targets)), targets), start=1):
        log_line(f"train: fold {fold}/{k} ({len(train_idx)} train, {len(test_idx)} held out)", show_progress)
        trainer = new_trainer(project, weights, seed=project.config.seed + fold, progress=show_progress)
        trainer.fit([records[i] for i in train_idx], (), classes)
        oof[test_idx] = trainer.predict([records[i] for i in test_idx])
    return classification_scores(project, targets, oof), k


def _segmentation_cv(
    project: Project, records, k_wanted: int, show_progress: bool, weights: str | Path | None = None
) -> tuple[dict, int]:
    """Out-of-fold masks of k-fold cross-validation: mean Dice / Jaccard / thresholded Jaccard over images,
    with percentile-bootstrap 95 % intervals of each mean (1,000 resamples of the images)."""
    from sklearn.model_selection import KFold

    from lesionlab.tasks import JACCARD_THRESHOLD

    if len(records) < 2:
        raise DataError(f"cross-validation needs at least two masks; the project has {len(records)}")
    task = project.task
    k = int(min(k_wanted, len(records)))
    oof: np.ndarray | None = None
    targets: np.ndarray | None = None
    splitter = KFold(n_splits=k, shuffle=True, random_state=project.config.seed)
    for fold, (train_idx, test_idx) in enumerate(splitter.split(np.zeros(len(records))), start=1):
        log_line(f"train: fold {fold}/{k} ({len(train_idx)} train, {len(test_idx)} held out)", show_progress)
        trainer = new_trainer(project, weights, seed=project.config.seed + fold, progress=show_progress)
        trainer.fit([records[i] for i in train_idx], (), project.classes)
        pred = trainer.predict([records[i] for i in test_idx])
        if oof is None:
            oof = np.zeros((len(records), *pred.shape[1:]), dtype=np.float32)
            targets = trainer.targets(records)
        oof[test_idx] = pred
    metrics = _plain(task.metrics(targets, oof))
    metrics["primary_metric"] = task.primary_metric(2)
    per = task.per_image(targets, oof)
    per["thresholded_jaccard"] = np.where(per["jaccard"] >= JACCARD_THRESHOLD, per["jaccard"], 0.0)
    rows = np.random.default_rng(project.config.seed).integers(0, len(records), (1000, len(records)))
    metrics["ci95"] = {
        name: [float(q) for q in np.quantile(values[rows].mean(axis=1), [0.025, 0.975])]
        for name, values in per.items()
    }
    return metrics, k


# How a model's quality is estimated, by what an annotation is: stratified k-fold for class labels.
CROSS_VALIDATION = {"label": _classification_cv, "mask": _segmentation_cv}


def reserve_version_folder(models_dir: Path, start: int) -> tuple[Path, int]:
    """Create `models_dir/vNNNN` for the first free NNNN from `start`, atomically (`mkdir` fails on a folder
    that exists), so two `project train` runs at once never write the same checkpoint: the database's next
    id is only a first guess, since another run may have taken that folder but not yet recorded its row."""
    models_dir.mkdir(parents=True, exist_ok=True)
    number = start
    while True:
        folder = models_dir / f"v{number:04d}"
        try:
            folder.mkdir()
        except FileExistsError:
            number += 1
            continue
        return folder, number


def train_project(project: Project, folds: int | None = None, show_progress: bool = True) -> TrainResult:
    """Cross-validate, train on all labels (or masks), save `models/vNNNN/model.pt`, record the version.

    One `project train` at a time per project: a second is refused, naming the first (`locking`)."""
    from lesionlab.locking import output_lock

    with output_lock(project.dir, "project folder"):
        return _train_project(project, folds, show_progress)


def _estimate(project: Project, records, folds: int | None, show_progress: bool):
    """(cross-validated metrics, folds, the final model's start or None to keep version 0, choice record).

    A project started from a run chooses its start by this estimate (`start_choice`); any other project
    cross-validates its one start, the configured weights."""
    from lesionlab.project.start_choice import choose_start

    cv = CROSS_VALIDATION[project.task.target]
    k_wanted = folds or project.config.folds
    if project.config.start is None:
        metrics, k = cv(project, records, k_wanted, show_progress)
        return metrics, k, project.config.weights, None
    scores = partial(classification_scores, project)
    choice = choose_start(project, records, k_wanted, show_progress, cv, scores)
    metrics = {**choice.metrics, "start_choice": choice.record()}
    return metrics, choice.k, choice.weights, choice


def _final_model(project: Project, records, weights, show_progress: bool) -> tuple[Any, int | None]:
    """(the model to save, its epochs): trained on all labels from `weights`, or version 0 untouched."""
    from lesionlab.project.modelling import load_version

    if weights is None:
        log_line("train: final model = version 0 as is (no training)", show_progress)
        zero = next(v for v in project.store.model_versions() if v.id == 0)
        return load_version(project, zero, progress=False).model, 0
    log_line(f"train: final model on all {len(records)} labels", show_progress)
    final = new_trainer(project, weights, progress=show_progress)
    return final.model, final.fit(records, (), project.classes).best_epoch


def _train_project(project: Project, folds: int | None, show_progress: bool) -> TrainResult:
    from lesionlab.training.factory import save_model

    start = time.perf_counter()
    project.check_images()  # an image replaced since its masks were drawn is left out, never mis-paired
    records = project.records(labelled_only=True)
    counts = project.consensus_counts()
    left_out = {k: counts.get(k, 0) for k in ("unresolved", "incomplete")}
    if not records:
        what = f"{project.task.target}s"
        raise DataError(
            f"the project has no {what} with a consensus yet ({left_out['unresolved']} unresolved, "
            f"{left_out['incomplete']} short of their overlap); annotate the proposed images first"
        )
    classes = project.classes
    metrics, k, weights, choice = _estimate(project, records, folds, show_progress)
    model, epochs = _final_model(project, records, weights, show_progress)
    folder, number = reserve_version_folder(project.models_dir, project.store.next_model_version())
    checkpoint = folder / "model.pt"
    save_model(model, checkpoint, meta={"classes": classes, "project_version": number})
    method = f"{k}-fold cross-validation"
    seconds = time.perf_counter() - start
    started_from = project.config.start.run if project.config.start else project.config.weights
    write_json(
        folder / "metrics.json",
        {
            "n_labels": len(records),
            "method": method,
            "metrics": metrics,
            "epochs": epochs,
            "seconds": round(seconds, 1),
            "left_out": left_out,
            "started_from": started_from,
            "start_choice": choice.record() if choice else None,
            "train": project.config.train.model_dump(mode="json"),
        },
    )
    rel = checkpoint.relative_to(project.dir).as_posix()
    version = project.store.add_model_version(rel, len(records), method, metrics)
    return TrainResult(version, rel, len(records), method, metrics, seconds, left_out)
