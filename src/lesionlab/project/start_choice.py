"""Which start a project started from a run trains from, chosen by the project's own cross-validation.

A run trained elsewhere (`project init --from-run`) may help a clinic or hurt it: on images far from the
run's (its domain check says "far"), fine-tuning its model on a few hundred local labels can end below
a model fine-tuned from ImageNet on the same labels, and with a handful of labels any training may do
worse than the run's model untouched. So each `project train` of such a project scores three starts on
the same stratified folds and keeps the best by the task's primary metric (AUC for two classes):

- `as_is`: version 0 unchanged, no training; its predictions on the labelled images are out-of-fold
  already (it never saw them), so its figure costs one prediction pass;
- `fine_tune`: every fold's model fine-tuned from version 0 (what `project train` did before);
- `pretrained`: every fold's model fine-tuned from the configured `weights` (ImageNet), as in a project
  without a run.

Ties go to the earlier start in that order (the cheaper one, and the one nearer the run). The final model
is trained from the chosen start on all labels, or is version 0's weights saved again (`as_is`). The
cross-validation costs at most twice what it did (two trained candidates; `as_is` only predicts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lesionlab.progress import log_line

CANDIDATES = ("as_is", "fine_tune", "pretrained")
DESCRIPTIONS = {
    "as_is": "version 0 as is (no training)",
    "fine_tune": "fine-tuned from version 0",
    "pretrained": "fine-tuned from the configured weights",
}


@dataclass
class StartChoice:
    """The chosen start, its cross-validated metrics and fold count, and every candidate's figure."""

    chosen: str
    weights: str | Path | None  # what the final model starts from; None for `as_is` (no training)
    metrics: dict[str, Any]
    k: int
    candidates: dict[str, dict[str, Any]]

    def record(self) -> dict[str, Any]:
        """What metrics.json and the version's metrics keep: the choice and every candidate's figure."""
        return {
            "chosen": self.chosen,
            "description": DESCRIPTIONS[self.chosen],
            "criterion": f"cross-validated {self.metrics.get('primary_metric')} on the project's labels",
            "candidates": self.candidates,
        }


def start_weights(project) -> dict[str, str | Path | None]:
    """Each candidate's starting weights (None: version 0 untouched)."""
    return {
        "as_is": None,
        "fine_tune": project.dir / project.config.start.checkpoint,
        "pretrained": project.config.weights,
    }


def as_is_scores(project, records, score: Callable[[np.ndarray, np.ndarray], dict]) -> dict[str, Any]:
    """Version 0's metrics on every labelled image: it was trained elsewhere, so none of them is in-sample."""
    from lesionlab.project.modelling import load_version

    zero = next(v for v in project.store.model_versions() if v.id == 0)
    probs = load_version(project, zero, progress=False).predict(records)
    return score(np.array([r.label for r in records]), probs)


def choose_start(project, records, k_wanted: int, show_progress: bool, cv, score) -> StartChoice:
    """Score `as_is`, `fine_tune` and `pretrained` on the same folds; return the best by the primary metric.

    `cv(project, records, k, show_progress, weights=...)` is training's cross-validation (metrics, k);
    `score(targets, probs)` its metrics of a set of predictions."""
    weights = start_weights(project)
    results: dict[str, tuple[dict, int]] = {}
    for name in ("fine_tune", "pretrained"):
        log_line(f"train: candidate start {name} ({DESCRIPTIONS[name]})", show_progress)
        results[name] = cv(project, records, k_wanted, show_progress, weights=weights[name])
    k = results["fine_tune"][1]
    results["as_is"] = (as_is_scores(project, records, score), k)
    primary = results["fine_tune"][0]["primary_metric"]
    figures = {name: results[name][0].get(primary) for name in CANDIDATES}
    chosen = best(figures)
    candidates = {
        name: {
            "start": DESCRIPTIONS[name],
            primary: figures[name],
            "ci95": (results[name][0].get("ci95") or {}).get(primary),
        }
        for name in CANDIDATES
    }
    log_line(
        "train: start chosen by cross-validated "
        + f"{primary}: {chosen} ("
        + ", ".join(f"{n} {_fmt(f)}" for n, f in figures.items())
        + ")",
        show_progress,
    )
    return StartChoice(chosen, weights[chosen], results[chosen][0], k, candidates)


def best(figures: dict[str, float | None]) -> str:
    """The candidate with the highest figure; ties to the earliest; a missing figure (NaN) never wins."""
    scored = [(n, f) for n, f in figures.items() if f is not None and np.isfinite(f)]
    if not scored:
        return next(iter(figures))
    top = max(f for _, f in scored)
    return next(n for n, f in scored if f == top)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
