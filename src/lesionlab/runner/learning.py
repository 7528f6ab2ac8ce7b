"""The learning strategies between rounds and the learning rate each round trains at, after Table 2 of
Zhou et al. 2021, "Active, continual fine tuning of convolutional neural networks for reducing annotation
efforts" (Medical Image Analysis; ACFT).

| config `learning` | Zhou et al. (Table 2) | starts from | trains on |
|---|---|---|---|
| `retrain` + `random` | RFT | M0 (ImageNet trunk, a fresh head) | L and randomly selected Q |
| `retrain` + an active strategy | AFT(LQ) | M0 | L and actively selected Q |
| `acft_q` | ACFT(Q) | M_{t-1} | Q only |
| `acft_lq` | ACFT(LQ) | M_{t-1} | L and Q |
| `acft_hq` | ACFT(HQ) | M_{t-1} | H and Q, H = the L that M_{t-1} misclassifies (Alg. 1 lines 12-13) |

Table 3's note: ACFT uses AFT's parameters except the learning rate, 1/10 of AFT's. lesionlab applies the
factor (`experiment.continual_lr_scale`, 0.1) whenever a round continues from a model that has already
been fine-tuned; the first fine-tuning from M0 (round 0 after a random start, round 1 after an empty one)
is AFT's step and keeps `train.lr`, since a head that has never seen a label would barely move at 1/10.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lesionlab.data.pool_state import PoolState
from lesionlab.data.records import Record

if TYPE_CHECKING:
    from lesionlab.training.trainer import Trainer

CONTINUAL = frozenset({"acft_q", "acft_lq", "acft_hq"})


def fine_tuned_before(history: Sequence[dict[str, Any]]) -> bool:
    """Whether an earlier round trained the model (an empty start's round 0 trains nothing)."""
    return any(entry.get("metrics") for entry in history)


def round_lr(lr: float, learning: str, history: Sequence[dict[str, Any]], scale: float) -> float:
    """The learning rate of the next round's fit: `lr * scale` when it continues a fine-tuned model."""
    return lr * scale if learning in CONTINUAL and fine_tuned_before(history) else lr


def training_set(
    learning: str, state: PoolState, by_id: Mapping[str, Record], current: Trainer | None
) -> list[Record]:
    """The labelled images this round trains on (Table 2), with the labels bought (a noisy oracle's
    answers, not the data set's). `current` is the model of the previous round (None: train on all)."""
    labeled = [replace(by_id[i], label=state.labels[i]) for i in state.labeled_ids()]
    if learning in ("retrain", "acft_lq") or not state.history or current is None:
        return labeled
    new = set(state.history[-1]["new_ids"])
    fresh = [r for r in labeled if r.id in new]
    if learning == "acft_q":
        return fresh
    # acft_hq: the new labels plus the labelled images the current model gets wrong.
    old = [r for r in labeled if r.id not in new]
    wrong = []
    if old:
        pred = current.predict(old).argmax(1)
        wrong = [r for r, p in zip(old, pred, strict=True) if p != r.label]
    return fresh + wrong


def pseudo_labelled(state: PoolState, by_id: Mapping[str, Record]) -> list[Record]:
    """The previous round's pseudo-labelled images (CEAL) that are still unbought, with the predicted
    mask as their mask; empty for every other strategy."""
    pseudo = state.history[-1].get("pseudo_masks", {}) if state.history else {}
    return [replace(by_id[i], mask_path=Path(path)) for i, path in pseudo.items() if i not in state.labels]
