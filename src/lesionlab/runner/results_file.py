"""What `results.json` holds: the experiment's description and, per (strategy, seed) run, its rounds
(`runner.rounds.public_rounds`). The report, the summary table and the benchmarks read it."""

from __future__ import annotations

from typing import Any

from lesionlab.config import ExperimentConfig
from lesionlab.data.records import LabeledDataset
from lesionlab.versions import versions


def results_payload(
    config: ExperimentConfig,
    dataset: LabeledDataset,
    task: str,
    metric: str,
    sizes: tuple[int, int],
    runs: list[dict[str, Any]],
) -> dict[str, Any]:
    """Everything but the wall time; `sizes`: (pool images, evaluation images)."""
    exp = config.experiment
    return {
        "name": config.name,
        "metric": metric,
        "classes": dataset.classes,
        "task": task,
        # Binary metrics (sensitivity, AP, ...) describe class 1.
        "positive_class": dataset.positive_class,
        "positive_guessed": dataset.positive_guessed,
        "pool_size": sizes[0],
        "n_eval": sizes[1],
        "evaluated_on": exp.evaluate_on,
        "oracle": exp.oracle,
        "full_data": exp.full_data,
        "runs": runs,
        "config": config.model_dump(mode="json"),
        "versions": versions(),
    }
