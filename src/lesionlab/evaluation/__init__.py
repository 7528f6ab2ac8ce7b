"""Evaluation: classification metrics, bootstrap intervals and summaries over seeds."""

from lesionlab.evaluation.metrics import (
    binary_metrics,
    bootstrap_ci,
    compute_metrics,
    mean_se,
    multiclass_metrics,
)

__all__ = ["binary_metrics", "bootstrap_ci", "compute_metrics", "mean_se", "multiclass_metrics"]
