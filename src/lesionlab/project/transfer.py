"""Start a project from a trained model: `lesionlab project init DIR --images ... --from-run RUN`.

A clinic with no labels yet can still start from what a `lesionlab train` run (e.g. on ISIC 2017) learned:

1. the run's classes are mapped onto the project's, by name (case-insensitive); when exactly one class on
   each side is left over they are paired (the run's `other` is the project's `benign` in a melanoma vs
   rest project) and the pairing is stated; anything else is refused in one line naming both lists,
   unless `--class-map RUN=PROJECT,...` says it;
2. the run's model, its output rows reordered to the project's classes, becomes the project's model
   version 0 (`models/v0000/model.pt`, with the run's folder and checkpoint SHA-256 recorded): the first
   proposal round uses its evidence and stores its predictions (the page shows them, with the version),
   and every `project train` chooses by cross-validation between it as is, fine-tuned from it, and
   ImageNet (`start_choice`);
3. a domain check (`lesionlab.evaluation.domain`) says how far the project's images lie from the run's
   training images, shown by `project status`.

Classification runs only: a segmentation run is refused in one line (its masks would need their own
pre-label path and domain summary).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesionlab.errors import ConfigError, DataError
from lesionlab.progress import log_line

METHOD = "trained elsewhere (from run)"  # model version 0's `method`


@dataclass
class RunInfo:
    """What a project needs of a finished `lesionlab train` folder."""

    dir: Path
    checkpoint: Path
    sha256: str
    classes: list[str]
    config: Any  # the run's TrainRunConfig
    stored: dict[str, Any]  # the run's metrics.json


def read_run(run_dir: Path) -> RunInfo:
    """The run's config, classes and checkpoint; a segmentation run or a missing file is one line."""
    from lesionlab.supervised import checkpoint_classes, read_run_metrics, run_files
    from lesionlab.tasks import get_task

    run_dir = Path(run_dir).resolve()
    metrics_file, ckpt = run_files(run_dir)
    config, stored = read_run_metrics(metrics_file)
    if not get_task(config.task).class_labels:
        raise ConfigError(
            f"--from-run {run_dir} is a {config.task} run: starting a project from a trained model works "
            "for classification runs only; start the project without --from-run"
        )
    classes = checkpoint_classes(ckpt) or [str(c) for c in stored.get("classes") or []]
    if len(classes) < 2:
        raise ConfigError(f"{ckpt} records no class names: train the run again (`lesionlab train --force`)")
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    return RunInfo(run_dir, ckpt, digest, classes, config, stored)


def parse_class_map(text: str | None) -> dict[str, str] | None:
    """`other=benign,melanoma=melanoma` as {run class: project class}."""
    if not text:
        return None
    pairs = [p.strip() for p in text.split(",") if p.strip()]
    if not all(p.count("=") == 1 for p in pairs):
        raise ConfigError(f"--class-map {text!r}: write RUN_CLASS=PROJECT_CLASS pairs, comma-separated")
    return {a.strip(): b.strip() for a, b in (p.split("=") for p in pairs)}


def _refuse(run: list[str], project: list[str], why: str) -> ConfigError:
    example = ",".join(f"{r}={p}" for r, p in zip(run, project, strict=False))
    return ConfigError(
        f"cannot map the run's classes [{', '.join(run)}] onto the project's [{', '.join(project)}]: {why}; "
        f"give the pairs with --class-map RUN=PROJECT,... (e.g. --class-map {example})"
    )


def map_classes(run: list[str], project: list[str], explicit: dict[str, str] | None = None) -> dict[str, str]:
    """{run class: project class}, one-to-one over both lists, or a ConfigError naming both lists."""
    if len(run) != len(project):
        raise _refuse(run, project, f"the run has {len(run)} classes and the project {len(project)}")
    by_run = {c.casefold(): c for c in run}
    by_project = {c.casefold(): c for c in project}
    if explicit is not None:
        pairs = {by_run.get(a.casefold()): by_project.get(b.casefold()) for a, b in explicit.items()}
        if None in pairs or None in pairs.values():
            raise _refuse(run, project, f"--class-map names a class neither list has ({explicit})")
        if len(pairs) != len(run) or len(set(pairs.values())) != len(project):
            raise _refuse(run, project, "--class-map must pair every class of each list exactly once")
        return pairs
    pairs = {c: by_project[c.casefold()] for c in run if c.casefold() in by_project}
    left_run = [c for c in run if c not in pairs]
    left_project = [c for c in project if c not in pairs.values()]
    if len(left_run) == 1 and pairs:  # the one remaining class on each side is the same "rest"
        pairs[left_run[0]] = left_project[0]
    elif left_run:
        raise _refuse(run, project, f"no class of the project is named {', '.join(left_run)}")
    return {c: pairs[c] for c in run}


def describe_map(class_map: dict[str, str]) -> str:
    """The mapping as a sentence for the terminal and for `project status`."""
    return "; ".join(
        f"run {a!r} -> project {b!r}" + ("" if a.casefold() == b.casefold() else " (the remaining class)")
        for a, b in class_map.items()
    )


def start_settings(
    run: RunInfo, project_classes: list[str], class_map: dict[str, str], settings: dict
) -> dict:
    """`ProjectConfig` fields of a project started from `run`: its backbone, dropout and image recipe
    (resolution, preprocessing, resize: the model only works on images prepared as it was trained), and
    the `start` record."""
    from lesionlab.config import TrainConfig
    from lesionlab.project.config import StartModel

    rtrain = run.config.train
    train = settings.get("train") or TrainConfig()
    train = train.updated(
        resolution=rtrain.resolution, preprocessing=rtrain.preprocessing, resize=rtrain.resize
    )
    settings = dict(settings)
    share = settings.pop("coverage_share", None)
    start = StartModel(
        run=str(run.dir),
        sha256=run.sha256,
        run_classes=run.classes,
        class_map=class_map,
        **({} if share is None else {"coverage_share": share}),
    )
    return {
        **settings,
        "backbone": run.config.model.backbone,
        "dropout": run.config.model.dropout,
        "train": train,
        "start": start,
    }


def init_from_run(
    project_dir: Path,
    images: Path,
    run_dir: Path,
    classes: list[str] | None = None,
    class_map: dict[str, str] | None = None,
    show_progress: bool = True,
    **settings: Any,
):
    """`init_project` started from `run_dir`: checks the run and the mapping before anything is created,
    then records the run's model as version 0 and runs the domain check. Returns the open project."""
    from lesionlab.project import init_project

    run = read_run(run_dir)
    classes = list(classes or run.classes)
    mapping = map_classes(run.classes, classes, class_map)
    fields = start_settings(run, classes, mapping, settings)
    project = init_project(
        project_dir, images, classes, "classification", show_progress=show_progress, **fields
    )
    try:
        record_version_zero(project, run, show_progress)
    except BaseException:
        project.close()
        raise
    return project


def _write_checkpoint(project, run: RunInfo, target: Path) -> None:
    """The run's model with its output rows in the project's class order."""
    import torch

    from lesionlab.config import ModelConfig
    from lesionlab.tasks import get_task
    from lesionlab.training.factory import build_model, save_model

    start = project.config.start
    model_cfg = ModelConfig(
        backbone=project.config.backbone, weights=str(run.checkpoint), dropout=project.config.dropout
    )
    model = build_model(get_task("classification"), model_cfg, len(run.classes))
    rows = [run.classes.index(next(r for r, p in start.class_map.items() if p == c)) for c in project.classes]
    with torch.no_grad():
        model.classifier.weight.copy_(model.classifier.weight[rows].clone())
        model.classifier.bias.copy_(model.classifier.bias[rows].clone())
    meta = {"classes": project.classes, "from_run": str(run.dir), "run_sha256": run.sha256}
    save_model(model, target, meta)


def record_version_zero(project, run: RunInfo, show_progress: bool = True) -> dict[str, Any]:
    """Write `models/v0000/model.pt`, run the domain check, and record both as model version 0."""
    from lesionlab.project.models import ModelVersion
    from lesionlab.project.training import reserve_version_folder

    _, number = reserve_version_folder(project.models_dir, 0)
    if number != 0:
        raise DataError(f"{project.models_dir} already holds model versions; start a new project folder")
    target = project.dir / project.config.start.checkpoint
    _write_checkpoint(project, run, target)
    domain = project_domain_check(project, run, show_progress)
    metrics = {
        "from_run": str(run.dir),
        "run_sha256": run.sha256,
        "class_map": project.config.start.class_map,
        "run_test": run.stored.get("test"),
        "domain_check": domain,
    }
    with project.store.session() as s:
        s.add(
            ModelVersion(
                id=0, checkpoint=project.config.start.checkpoint, n_labels=0, method=METHOD, metrics=metrics
            )
        )
    return metrics


def run_embeddings(run: RunInfo, cache: Path, show_progress: bool = True) -> tuple[Any, str]:
    """(the run's training-image embeddings or None, where they come from or why there are none).

    Runs trained before `lesionlab train` kept them (`train_embeddings.npz`) are recomputed from the
    run's own training data when it can still be read, and kept in `cache`."""
    from lesionlab.evaluation.domain import SUMMARY_FILE, read_summary, write_summary
    from lesionlab.supervised import load_trained_run

    for path in (run.dir / SUMMARY_FILE, cache / SUMMARY_FILE):
        if path.is_file():
            return read_summary(path), str(path)
    try:
        _, dataset, trainer = load_trained_run(run.dir)
        train = dataset.split("train")
        if not train:
            raise DataError("its training split is empty")
    except (ConfigError, DataError) as exc:
        why = f"{str(exc).splitlines()[0]}"
        return None, (
            f"{run.dir} has no summary of its training images ({SUMMARY_FILE}: runs trained before this "
            f"lesionlab lack it) and its training data cannot be read to recompute one ({why}); retrain "
            "the run (`lesionlab train CONFIG --force`) to get a domain check"
        )
    log_line(f"init: embedding {min(len(train), 500)} of the run's training images (old run)", show_progress)
    path = write_summary(trainer.embed, train, cache, run.config.train.seed)
    return read_summary(path), f"recomputed from the run's training data into {path}"


def project_domain_check(project, run: RunInfo, show_progress: bool = True) -> dict[str, Any]:
    """How far the project's images lie from the run's training images, in the run's embedding space."""
    from lesionlab.evaluation.domain import NEW_SIZE, domain_check, sample_ids
    from lesionlab.project.modelling import new_trainer

    reference, source = run_embeddings(run, project.models_dir / "v0000", show_progress)
    if reference is None:
        return {"verdict": "unknown", "text": source}
    records = project.records()
    chosen = [records[i] for i in sample_ids([r.id for r in records], NEW_SIZE, project.config.seed)]
    log_line(f"init: domain check on {len(chosen)} of the project's images", show_progress)
    embedded = new_trainer(project, progress=show_progress).embed(chosen)
    return {**domain_check(reference, embedded, project.config.seed), "reference": source}


def format_start(status_start: dict[str, Any] | None) -> list[str]:
    """`project status` lines about the run a project started from and its domain check."""
    if not status_start:
        return []
    d = status_start.get("domain_check") or {}
    lines = [f"started from run {status_start['run']} (model v0): {describe_map(status_start['class_map'])}"]
    if "two_sample_auc" in d:
        lines.append(
            f"domain check: {d['verdict']} (two-sample AUC {d['two_sample_auc']:.2f}, "
            "0.5 = alike, 1 = apart; "
            f"{100 * d['outlier_share']:.0f} % of images beyond the training images' 95 % nearest-neighbour "
            f"distance, 5 % when alike)"
        )
    lines.append(f"  {d.get('text', 'no domain check recorded')}")
    return lines
