"""One line per finished round on stderr: labels, the metric, time, and an ETA for the whole run."""

from __future__ import annotations

import sys
import time
from typing import Any

from lesionlab.progress import eta
from lesionlab.runner import audit_step
from lesionlab.runner.rounds import RoundRecord


class RoundLog:
    """Counts the rounds this process finished since `start()`, for the ETA."""

    def __init__(self, exp: Any, metric: str, enabled: bool) -> None:
        self.exp, self.metric, self.enabled = exp, metric, enabled
        # A worker process runs one (strategy, seed) unit of many: its count of rounds done says nothing
        # of the whole experiment's, so engines turn the ETA off there (the parent's board has the real one).
        self.show_eta = True
        self.start()

    def start(self) -> None:
        self.started, self.done = time.perf_counter(), 0

    def line(self, strategy: str, seed: int, record: RoundRecord) -> None:
        """Print the round's line (nothing when progress is off)."""
        if not self.enabled:
            return
        exp = self.exp
        self.done += 1
        elapsed = time.perf_counter() - self.started
        total = len(exp.seeds) * len(audit_step.run_names(exp)) * (exp.rounds + 1)
        score = (record.metrics or {}).get(self.metric)
        shown = f"{self.metric} {score:.3f}" if isinstance(score, float) else "no model yet"
        end = f", stopped: {record.stop_reason}" if record.finished else ""
        seconds = (record.train_seconds or 0.0) + (record.selection_seconds or 0.0)
        left = f", {eta(self.done, max(total, self.done), elapsed)}" if self.show_eta else ""
        print(
            f"  {strategy} seed {seed}: round {record.round}/{exp.rounds}, {record.n_labeled} labels, "
            f"{exp.evaluate_on} {shown}, {seconds:.0f} s{left}{end}",
            file=sys.stderr,
            flush=True,
        )
