"""Paper 004's learning strategies between rounds (Table 2) and the learning rate each round trains at.

| config `learning` | paper (Table 2) | starts from | trains on |
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

from collections.abc import Sequence
from typing import Any

CONTINUAL = frozenset({"acft_q", "acft_lq", "acft_hq"})


def fine_tuned_before(history: Sequence[dict[str, Any]]) -> bool:
    """Whether an earlier round trained the model (an empty start's round 0 trains nothing)."""
    return any(entry.get("metrics") for entry in history)


def round_lr(lr: float, learning: str, history: Sequence[dict[str, Any]], scale: float) -> float:
    """The learning rate of the next round's fit: `lr * scale` when it continues a fine-tuned model."""
    return lr * scale if learning in CONTINUAL and fine_tuned_before(history) else lr
