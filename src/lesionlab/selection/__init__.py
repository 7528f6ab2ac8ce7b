"""Which images to annotate next: evidence collection and strategies (pure functions of arrays)."""

from lesionlab.selection.base import (
    Evidence,
    Selection,
    Strategy,
    available_strategies,
    get_strategy,
    register_strategy,
)

__all__ = ["Evidence", "Selection", "Strategy", "available_strategies", "get_strategy", "register_strategy"]
