"""`project propose`: the next images worth an expert's time, through the strategies and evidence seams.

Before any model is trained (a cold start) the project's `cold_start` strategy (default `coreset`, paper
003's k-center) picks images that cover the pool in the space of the pretrained backbone's embeddings;
images already labelled (e.g. imported) count as covered. Once a model version exists, the configured
`strategy` (any registered one) chooses with that model's evidence. Images already proposed and still
waiting for a label are not proposed again. A project started from a trained run (`init --from-run`) has
that run's model as version 0, so its first round already uses the strategy with that model's evidence.
Each proposal keeps the strategy's score and the model's class probabilities, which the page shows as the
model's current prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lesionlab.errors import ConfigError, DataError
from lesionlab.progress import log_line
from lesionlab.project.modelling import latest_version, load_version, new_trainer
from lesionlab.project.project import Project

# Evidence a pretrained backbone with an untrained head can give honestly (its embeddings).
COLD_START_KINDS = frozenset({"embeddings", "labeled_embeddings"})


@dataclass
class ProposalResult:
    round_id: int
    strategy: str
    model_version: int | None
    ids: list[str]
    scores: list[float]
    note: str = ""


def _check_cold_start(strategy) -> None:
    from lesionlab.selection.evidence import model_free

    needs_training = {k for k in strategy.requires if k not in COLD_START_KINDS and not model_free({k})}
    if needs_training:
        raise ConfigError(
            f"strategy {strategy.name!r} needs a trained model ({', '.join(sorted(needs_training))}) "
            "and this project has none yet; label the first proposals and run `lesionlab project train`, "
            "or propose with a representativeness strategy (coreset, pca_lsh)"
        )


def propose(
    project: Project, budget: int, strategy: str | None = None, show_progress: bool = True
) -> ProposalResult:
    """Choose up to `budget` unlabelled images and record them as a new round."""
    from lesionlab.selection.base import get_strategy
    from lesionlab.selection.evidence import check_task
    from lesionlab.tasks import get_task

    if budget < 1:
        raise ConfigError(f"--budget must be at least 1, got {budget}")
    cfg = project.config
    version = latest_version(project)
    name = strategy or (cfg.strategy if version is not None else cfg.cold_start)
    chosen = get_strategy(name)
    check_task(chosen, get_task(cfg.task))  # e.g. class entropy asked of a segmentation project
    if version is None:
        _check_cold_start(chosen)
    records = project.records()
    pending = {image_id for _, image_id in project.store.queue(annotator=None)}
    done = project.store.annotated_ids()  # the task's: a mask in a segmentation project, else a label
    labeled = [r for r in records if r.id in done]
    unlabeled = [r for r in records if r.id not in done and r.id not in pending]
    if not unlabeled:
        raise DataError(
            "nothing left to propose: every usable image is labelled or already waiting in the queue"
        )
    note = ""
    if budget > len(unlabeled):
        note = f"only {len(unlabeled)} image(s) left to propose (asked for {budget})"
        budget = len(unlabeled)
    what = f"model v{version.id}" if version is not None else "the pretrained backbone (cold start)"
    log_line(f"propose: {name} over {len(unlabeled)} unlabelled images with {what}", show_progress)
    trainer = (
        load_version(project, version, show_progress)
        if version
        else new_trainer(project, progress=show_progress)
    )
    settings = _evidence_settings(project)
    round_number = len(project.store.rounds()) + 1
    rng = np.random.default_rng([cfg.seed, round_number])
    share = cfg.start.coverage_share if cfg.start and strategy is None and version is not None else 0.0
    queued = [r for r in records if r.id in pending]
    name, ids, scores = _choose(
        project, chosen, share, budget, trainer, (unlabeled, labeled, queued, records), settings, rng
    )
    if share:
        log_line(f"propose: {name}, {share:.0%} of the round for coverage", show_progress)
    predictions = _predictions(project, trainer, version, unlabeled, ids)
    round_id = project.store.add_round(
        name,
        version.id if version else None,
        budget,
        len(labeled),
        list(zip(ids, scores, predictions, strict=True)),
    )
    return ProposalResult(round_id, name, version.id if version else None, ids, scores, note)


def _evidence_settings(project: Project):
    """Where evidence is cached, and how images are read for it: as the project's trainer reads them."""
    from lesionlab.selection.evidence import EvidenceSettings

    train = project.config.train
    settings = EvidenceSettings(
        workdir=project.cache_dir / "evidence",
        image_options={
            "cache_dir": project.cache_dir,
            "preprocessing": train.preprocessing,
            "resize": train.resize,
        },
    )
    settings.workdir.mkdir(parents=True, exist_ok=True)
    return settings


def _choose(project: Project, chosen, share: float, budget: int, trainer, pools, settings, rng):
    """(round name, ids, scores): `chosen`'s picks, and a `share` of the budget by the cold-start k-center
    with everything labelled, waiting in the queue or picked as centres (a project started from a run: its
    model's uncertainty alone kept proposing alike images in another clinic's pool, docs/annotation.md).
    The two parts alternate in the round's order, so a round left half-done holds some of each."""
    from lesionlab.selection.base import get_strategy

    unlabeled, labeled, queued, records = pools
    covered = coverage_count(share, budget, rng)
    ids, scores = _select(chosen, budget - covered, trainer, unlabeled, labeled, records, settings, rng)
    if not covered:
        return chosen.name, ids, scores
    cover = get_strategy(project.config.cold_start)
    picked = set(ids)
    rest = [r for r in unlabeled if r.id not in picked]
    centres = [*labeled, *queued, *(r for r in unlabeled if r.id in picked)]
    more_ids, more_scores = _select(cover, covered, trainer, rest, centres, records, settings, rng)
    name = f"{chosen.name}+{cover.name}" if ids else cover.name
    order = sorted(
        [((i + 0.5) / len(ids), 0, i) for i in range(len(ids))]
        + [((i + 0.5) / len(more_ids), 1, i) for i in range(len(more_ids))]
    )
    parts = ((ids, scores), (more_ids, more_scores))
    return name, [parts[k][0][i] for _, k, i in order], [parts[k][1][i] for _, k, i in order]


def coverage_count(share: float, budget: int, rng: np.random.Generator) -> int:
    """How many of `budget` go to coverage: `share * budget`, a fraction left over rounded up with that
    probability (seeded), so one-at-a-time proposing still covers `share` of the images on average (plain
    rounding gave a budget of 1 no coverage ever, and 3 two of three)."""
    whole = int(np.floor(share * budget))
    left = share * budget - whole
    return whole + int(left > 1e-9 and rng.random() < left)


def _select(strategy, budget: int, trainer, unlabeled, labeled, records, settings, rng):
    """(ids, scores) of `strategy`'s `budget` picks among `unlabeled`, `labeled` counting as covered."""
    from lesionlab.selection.evidence import collect_evidence

    if budget < 1:
        return [], []
    evidence = collect_evidence(strategy, trainer, unlabeled, labeled, records, settings)
    selection = strategy.select(evidence, budget, rng)
    return [str(i) for i in selection.ids], [float(x) for x in np.asarray(selection.scores, np.float64)]


def _predictions(project: Project, trainer, version, unlabeled, ids: list[str]) -> list:
    """The model's class probabilities per proposed image (None at cold start); in a segmentation project
    the model's masks are stored instead, for the expert to correct on the page."""
    if version is None:
        return [None] * len(ids)
    by_id = {r.id: r for r in unlabeled}
    probs = trainer.predict([by_id[i] for i in ids])
    if project.task.class_labels:
        return [[round(float(p), 6) for p in row] for row in probs]
    for image_id, prob in zip(ids, probs, strict=True):
        _store_model_mask(project, image_id, prob, f"model v{version.id}")
    return [None] * len(ids)


def _store_model_mask(project: Project, image_id: str, prob: np.ndarray, who: str) -> None:
    """The model's foreground map at the working size, stretched back to the image (the inverse of the
    default `resize: squash`) and thresholded at 0.5, stored as a mask of source "model"."""
    from PIL import Image

    if project.config.train.resize != "squash":  # cropped or padded inputs: no inverse drawn here yet
        return
    row = project.store.image(image_id)
    small = Image.fromarray(np.clip(prob * 255, 0, 255).astype(np.uint8))
    full = np.array(small.resize((row.width, row.height), Image.Resampling.BILINEAR)) >= 128
    project.store_mask(image_id, full, who, source="model")
