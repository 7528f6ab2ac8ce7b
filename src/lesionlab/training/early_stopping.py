"""Early stopping on a validation score: keep the best epoch's weights, stop after `patience` worse ones."""

from __future__ import annotations

import math
from typing import Any


class EarlyStopping:
    """Higher scores are better. The first epoch is always kept (even with a NaN score), so a fit always
    has weights to return; later epochs must beat the best finite score."""

    def __init__(self, patience: int) -> None:
        self.patience = patience  # 0 never stops
        self.best_score: float | None = None
        self.best_epoch = 0
        self.best_state: Any = None
        self.stale = 0

    def update(self, score: float, epoch: int) -> bool:
        """Record this epoch's score; True when it is the new best (the caller then `keep`s its weights)."""
        if self.best_score is None or (math.isfinite(score) and score > self.best_score):
            self.best_score, self.best_epoch, self.stale = float(score), epoch, 0
            return True
        self.stale += 1
        return False

    def keep(self, state: Any) -> None:
        self.best_state = state

    def should_stop(self) -> bool:
        return bool(self.patience) and self.stale >= self.patience
