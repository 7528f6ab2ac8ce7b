"""When a (strategy, seed) run stops: the pool is exhausted, the configured rounds are done, or, with
`experiment.stopping: paper000`, a round brought no significant gain on the validation images (the rule
of Shi et al. 2019, "An Active Learning Approach for Reducing Annotation Cost in Skin Lesion Analysis":
a one-sided exact McNemar test of this round's model against the previous round's)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lesionlab.data.pool_state import PoolState
from lesionlab.evaluation.statistics import round_gain_significant
from lesionlab.runner.rounds import RoundRecord


def stop_reason(
    exp: Any, state: PoolState, record: RoundRecord, previous_correct: list[int] | None
) -> str | None:
    """Why the run stops after `record`'s round (which it has fitted), or None to select and go on.

    The test's p-value is recorded in `record.stop_test_p` whenever both rounds were scored on validation,
    whatever `exp.stopping` says, so the round where the rule would stop is known for any run."""
    significant = True
    if previous_correct is not None and record.val_correct is not None:
        significant, p = round_gain_significant(
            np.array(previous_correct), np.array(record.val_correct), alpha=exp.stopping_alpha
        )
        record.stop_test_p = p
    if not state.unlabeled_ids():
        return "pool exhausted"
    if state.n_rounds >= exp.rounds:
        return f"{exp.rounds} rounds done"
    if exp.stopping == "paper000" and not significant:
        return f"no significant gain on val (McNemar p = {record.stop_test_p:.3f} > {exp.stopping_alpha})"
    return None
