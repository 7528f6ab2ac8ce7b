"""One active-learning round as a typed record: what a (strategy, seed) run saved after each round.

The record is written as a plain JSON object, once per round, into the unit's pool state
(`state/<strategy>_seed<seed>.json`, `PoolState.history`) and, without `val_correct`, into `results.json`
(`runs[*].rounds`), where the report, the summary table and the benchmarks read it by key. Its JSON is
therefore a format: `to_dict` writes exactly the keys and values the runner has always written, in the
same order, and `from_dict` reads the rounds of any earlier version (keys it does not know are kept as
read, in `extra`), so existing run folders resume and report unchanged.

A field that is None is absent from the JSON: a round never writes null, except `metrics`, which is
always written (null: nothing was trained yet, the first round of an empty start).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

# Written even when None: readers tell a round without a model by `metrics` being null.
ALWAYS_WRITTEN = frozenset({"round", "metrics"})
# Kept in the pool state for the stopping rule, left out of results.json (one value per validation image).
STATE_ONLY = frozenset({"val_correct"})


@dataclass
class RoundRecord:
    """One finished round of one (strategy, seed) run; the field order is the JSON key order."""

    round: int
    """Index of the round: 0 is the fit on the initial labels (or nothing, after an empty start)."""
    n_labeled: int | None = None
    """Images labelled when the round's model was trained (count)."""
    fraction: float | None = None
    """`n_labeled` as a share of the pool (0 to 1): the x of the learning curves."""
    n_trained_on: int | None = None
    """Images the round's model trained on (count): the labelled ones the learning strategy keeps, plus
    the previous round's pseudo-labelled ones (CEAL)."""
    annotation_cost: int | None = None
    """Labels paid for before this round's purchase (count): images labelled plus every re-label of the
    earlier rounds, so audited and plain runs compare at equal cost."""
    lr: float | None = None
    """Learning rate of the round's fit (the optimiser's step size, after the continual scale)."""
    labeled_class_counts: dict[str, int] | None = None
    """Labelled images per class name (count), as the oracle answered them."""
    best_epoch: int | None = None
    """Epoch whose weights the round kept (1-based); absent when nothing was trained."""
    metrics: dict[str, Any] | None = None
    """The task's metrics of the round's model on the evaluation split (name -> value, e.g. `auc` in
    0 to 1); None when there was nothing to train on yet."""
    val_correct: list[int] | None = None
    """Per validation image, in split order: 1 if the round's model gets it right, else 0. Read by the
    next round's stopping test; kept in the state only."""
    train_seconds: float | None = None
    """Wall-clock seconds of the fit and its evaluation (the shared fit's own when it was loaded)."""
    train_cpu_seconds: float | None = None
    """CPU seconds of the same (process time: on a shared machine the wall clock measures neighbours)."""
    shared_first_round: bool | None = None
    """True when the fit was loaded from this seed's shared first round (`runner.first_round`)."""
    shared_load_seconds: float | None = None
    """Wall-clock seconds spent loading that shared fit."""
    stop_test_p: float | None = None
    """One-sided exact McNemar p-value that this round's model beats the previous round's on the
    validation images (the stopping rule of Shi et al. 2019, "An Active Learning Approach for Reducing
    Annotation Cost in Skin Lesion Analysis"); absent in round 0 and without a validation split."""
    finished: bool | None = None
    """True on the run's last round: it was fitted and evaluated, and selects nothing."""
    stop_reason: str | None = None
    """Why the run stopped after this round (last round only), in words."""
    pseudo_masks: dict[str, str] | None = None
    """CEAL's pseudo-labelled images: id -> path of the predicted mask file, trained on next round."""
    relabeled_ids: list[str] | None = None
    """Ids the audit sent back to the oracle this round, most suspect first (`experiment.audit`)."""
    relabel_changed: list[str] | None = None
    """Those of `relabeled_ids` whose label the second look changed."""
    wrong_labels_before_relabel: int | None = None
    """Bought labels that differ from the truth before this round's re-labels (count; simulations)."""
    audit_skipped: bool | None = None
    """Whether re-labels were due but there were too few labels of two classes to audit yet."""
    wrong_labels: int | None = None
    """Bought labels that differ from the truth after this round's re-labels (count; simulations)."""
    selection_seconds: float | None = None
    """Wall-clock seconds of evidence, selection, purchase, pseudo-labels and audit (0 on the last
    round)."""
    selection_cpu_seconds: float | None = None
    """CPU seconds of the same."""
    new_ids: list[str] | None = None
    """Ids bought after this round's fit, in the strategy's order (empty on the last round)."""
    new_scores: list[float] | None = None
    """The strategy's score of each of `new_ids` (its own scale: entropy, distance, vote, ...)."""
    new_class_counts: dict[str, int] | None = None
    """`new_ids` per class name, as the oracle answered (count)."""
    top_images: list[str] | None = None
    """Files the report shows for the first `gallery_size` of `new_ids` (images, or mask overlays)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys of another version's round that this one does not know, written back as read."""

    def to_dict(self) -> dict[str, Any]:
        """The round's JSON object, as written into the pool state: None fields left out."""
        out = {
            f.name: value
            for f in fields(self)
            if f.name != "extra"
            and ((value := getattr(self, f.name)) is not None or f.name in ALWAYS_WRITTEN)
        }
        out.update(self.extra)
        return out

    def public(self) -> dict[str, Any]:
        """The round as `results.json` shows it: without the per-image validation correctness."""
        return {k: v for k, v in self.to_dict().items() if k not in STATE_ONLY}

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> RoundRecord:
        """A round as saved by this or an earlier version (missing keys: None; unknown keys: `extra`)."""
        record = cls(**{k: v for k, v in entry.items() if k in FIELD_NAMES})
        record.extra = {k: v for k, v in entry.items() if k not in FIELD_NAMES}
        return record

    def finish(self, reason: str) -> None:
        """Make this the run's last round, stopped for `reason`: it selects and buys nothing."""
        self.finished, self.stop_reason, self.selection_seconds, self.new_ids = True, reason, 0.0, []

    def update_from(self, entry: Mapping[str, Any]) -> None:
        """Set the fields named in `entry` (a shared first round's fit, the audit's outcome), keeping the
        others."""
        for key, value in entry.items():
            if key in FIELD_NAMES:
                setattr(self, key, value)
            else:
                self.extra[key] = value


FIELD_NAMES = frozenset(f.name for f in fields(RoundRecord)) - {"extra"}


def rounds_of(history: Sequence[Mapping[str, Any]]) -> list[RoundRecord]:
    """The typed rounds of a pool state's history."""
    return [RoundRecord.from_dict(entry) for entry in history]


def public_rounds(history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rounds `results.json` lists for a run: those with a model (not an empty start's round 0),
    without the per-image validation correctness."""
    return [record.public() for record in rounds_of(history) if record.metrics]
