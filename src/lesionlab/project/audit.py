"""`project audit`: flag standing labels that look wrong, for the page's review tab.

The ranking comes from the label audit (`lesionlab.audit`, issue 16) over the pretrained backbone's
embeddings of the labelled images, out of sample (its own cross-validation). This module only turns the
ranking into audit flags (score, reason, suggested class) in the project's database; reviewers keep or
change each flagged label in the browser (`ProjectStore.review_flag`), and both outcomes are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lesionlab.errors import DataError, LesionlabError
from lesionlab.project.modelling import new_trainer
from lesionlab.project.project import Project


@dataclass
class AuditSummary:
    audited: int
    flagged: int
    already_flagged: int


def _audit_ranking(records, classes, trainer, folds: int, seed: int):
    try:
        from lesionlab.audit.command import audit_records
    except ImportError as exc:
        raise LesionlabError(
            "the label audit is not available in this lesionlab yet (lesionlab.audit, issue 16); "
            f"the review tab and flags table are ready for it ({exc})"
        ) from exc
    return audit_records(
        records, classes, views=trainer.config.views, folds=folds, seed=seed, trainer=trainer
    )


def audit_project(project: Project, top: int = 20, show_progress: bool = True) -> AuditSummary:
    """Flag up to `top` labels, most suspect first, whose audit suggests another class.

    Labels with a flag still waiting for review are not flagged twice.
    """
    if top < 1:
        raise DataError(f"--top must be at least 1, got {top}")
    if not project.task.class_labels:
        raise LesionlabError(
            f"the label audit reviews class labels; a {project.task.name} project's {project.task.target}s "
            "are not audited yet"
        )
    records = project.records(labelled_only=True)
    counts = np.bincount([r.label for r in records], minlength=len(project.classes))
    if len(records) < 4 or (counts > 0).sum() < 2 or counts[counts > 0].min() < 2:
        raise DataError(
            f"the audit needs at least two labelled images of two classes or more (labels per class: "
            f"{counts.tolist()}); label more images first"
        )
    from lesionlab.audit.core import NO_SUGGESTION

    folds = int(min(project.config.folds, counts[counts > 0].min()))
    trainer = new_trainer(project, progress=show_progress)
    result = _audit_ranking(records, project.classes, trainer, folds, project.config.seed)
    pending = {image_id for _, image_id in project.store.flags(pending_only=True)}
    flags, skipped = [], 0
    for i in result.order:
        if len(flags) >= top:
            break
        image_id, suggested = result.ids[i], int(result.suggested[i])
        if suggested == NO_SUGGESTION:  # the model prefers the given label: nothing to suggest
            continue
        if image_id in pending:
            skipped += 1
            continue
        flags.append((image_id, float(result.score[i]), result.reason(i), suggested))
    project.store.add_flags(flags)
    return AuditSummary(len(records), len(flags), skipped)
