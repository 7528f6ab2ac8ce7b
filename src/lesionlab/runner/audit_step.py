"""The label audit inside the active-learning loop (`experiment.audit`, issue 16 item 8).

With `audit.every_round`, each round spends `relabel_fraction` of its budget on re-labelling: the labels
bought so far (this round's included) are audited (`lesionlab.audit`, on untrained-backbone features of
the labelled images, cross-validated over them), and the most suspect images that were never re-labelled
go back to the oracle for a second look (`Oracle.requery`), whose answer replaces the first. A re-label
costs one label, like a new image, so the round buys `budget - n_relabel` new images and the total cost
per round is unchanged: curves are compared at equal annotation cost (`annotation_cost` in every round).

`audit.compare` also runs every strategy without the audit, so one report holds `<name>` and
`<name>+audit` on the same seeds and initial sets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from lesionlab.audit.core import audit_labels
from lesionlab.data.pool_state import PoolState
from lesionlab.data.records import Record
from lesionlab.errors import ConfigError, DataError

SUFFIX = "+audit"

# (records, views) -> (V, N, D) features of those images; the runner caches them per image.
Embedder = Callable[[Sequence[Record], int], np.ndarray]


def run_names(exp: Any) -> list[str]:
    """The runs of an experiment: each strategy, audited (`<name>+audit`) and, with compare, also plain."""
    if not exp.audit.every_round:
        return list(exp.strategies)
    audited = [f"{name}{SUFFIX}" for name in exp.strategies]
    return [*exp.strategies, *audited] if exp.audit.compare else audited


def base_strategy(run_name: str) -> str:
    """The strategy a run name selects with (`entropy+audit` -> `entropy`)."""
    return run_name[: -len(SUFFIX)] if run_name.endswith(SUFFIX) else run_name


def audited(run_name: str) -> bool:
    return run_name.endswith(SUFFIX)


def split_budget(budget: int, relabel_fraction: float, run_name: str) -> tuple[int, int]:
    """(new images, re-labels) of one round: round(fraction x budget) re-labels in an audited run."""
    n_relabel = int(np.floor(relabel_fraction * budget + 0.5)) if audited(run_name) else 0
    return budget - n_relabel, n_relabel


def annotation_cost(state: PoolState) -> int:
    """Labels paid for so far: images labelled plus every re-label of the finished rounds."""
    return len(state.labels) + sum(len(e.get("relabeled_ids") or []) for e in state.history)


def check_oracle(oracle: Any) -> None:
    if not callable(getattr(oracle, "requery", None)):
        raise ConfigError(
            f"experiment.audit re-labels through the oracle; {type(oracle).__name__} cannot be asked twice"
        )


class FeatureMemo:
    """Features per image id, computed once per run (the audit's backbone never changes)."""

    def __init__(self, embed: Embedder, views: int) -> None:
        self.embed, self.views = embed, views
        self._rows: dict[str, np.ndarray] = {}

    def __call__(self, records: Sequence[Record]) -> np.ndarray:
        todo = [r for r in records if r.id not in self._rows]
        if todo:
            x = self.embed(todo, self.views)
            for j, r in enumerate(todo):
                self._rows[r.id] = x[:, j]
        return np.stack([self._rows[r.id] for r in records], axis=1)


def backbone_memo(config: Any, cache_dir: Path, progress: bool) -> FeatureMemo:
    """The audit's features: embeddings of the untrained backbone (`audit.features`), the same for every
    run of an experiment, so one memo serves them all."""
    from lesionlab.audit.features import backbone_features

    m, train = config.model, config.train.updated(progress=progress, loss="auto")
    embed = partial(
        backbone_features, backbone=m.backbone, weights=m.weights, train=train, cache_dir=cache_dir
    )
    return FeatureMemo(embed, config.experiment.audit.views)


def relabel_round(
    state: PoolState,
    oracle: Any,
    by_id: dict[str, Record],
    features: FeatureMemo,
    num_classes: int,
    n_relabel: int,
    seed: int,
    round_: int,
    folds: int = 5,
) -> dict[str, Any]:
    """Audit the labels bought so far and re-label the `n_relabel` most suspect never re-labelled ones.

    Returns the round's entry fields: `relabeled_ids` (in audit order), `relabel_changed` (ids whose
    label the second look changed) and, when the oracle knows the truth (a simulation), `wrong_labels`
    before and after.
    """
    out: dict[str, Any] = {"relabeled_ids": [], "relabel_changed": []}
    ids = state.labeled_ids()
    truth = oracle.truth(ids) if callable(getattr(oracle, "truth", None)) else None
    if truth is not None:
        out["wrong_labels_before_relabel"] = sum(state.labels[i] != truth[i] for i in ids)
    labels = np.array([state.labels[i] for i in ids])
    counts = np.bincount(labels, minlength=num_classes)
    if n_relabel == 0 or (counts >= 2).sum() < 2:
        out["audit_skipped"] = n_relabel > 0  # too few labels of two classes to audit yet
        if truth is not None:
            out["wrong_labels"] = out["wrong_labels_before_relabel"]
        return out
    x = features([by_id[i] for i in ids])
    classes = [str(c) for c in range(num_classes)]
    result = audit_labels(x, labels, classes, ids, folds=folds, seed=seed * 1000 + round_)
    done = {i for e in state.history for i in (e.get("relabeled_ids") or [])}
    chosen = [i for i in result.ranked_ids() if i not in done][:n_relabel]
    answers = oracle.requery(chosen)
    missing = [i for i in chosen if i not in answers]
    if missing:
        raise DataError(f"the oracle gave no second label for {len(missing)} id(s), e.g. {missing[:3]}")
    changed = [i for i in chosen if int(answers[i]) != state.labels[i]]
    for i in chosen:
        state.labels[i] = int(answers[i])
    out.update(relabeled_ids=chosen, relabel_changed=changed)
    if truth is not None:
        out["wrong_labels"] = sum(state.labels[i] != truth[i] for i in ids)
    return out
