"""What the steps of one (strategy, seed) run hand each other: the run's `Unit` (its strategy, oracle,
pool state and model, alive across rounds) and one round's `RoundWork` (its trainer, training set and
the record being filled). Plain holders, so each step of `Experiment.run_one` names what it reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lesionlab.data.pool_state import PoolState
from lesionlab.data.records import Record
from lesionlab.errors import DataError
from lesionlab.runner.checkpoints import RoundWeights
from lesionlab.runner.oracles import Oracle
from lesionlab.runner.rounds import RoundRecord
from lesionlab.selection.base import Strategy

if TYPE_CHECKING:
    from lesionlab.training.trainer import Trainer


@dataclass
class Unit:
    """One (strategy, seed) run: `name` is the run's name (`entropy+audit`), `strategy` what it selects
    with, `path` its saved pool state, `weights` where a continuing run keeps its models."""

    name: str
    seed: int
    strategy: Strategy
    oracle: Oracle
    state: PoolState
    path: Path
    weights: RoundWeights
    continuing: bool
    """Whether each round fine-tunes the previous round's model (`learning` other than `retrain`)."""
    model: Any = None
    previous_correct: list[int] | None = None
    """The previous round's per-image validation correctness, for the stopping test."""

    @property
    def finished(self) -> bool:
        """Whether the saved state already holds the run's last round."""
        return bool(self.state.history) and bool(self.state.history[-1].get("finished"))

    def last_round(self) -> RoundRecord | None:
        """The last finished round, None before the first."""
        if not self.state.history:
            return None
        entry = self.state.history[-1]
        if not isinstance(entry.get("round"), int):
            raise DataError(
                f"{self.path}: its last round has no round number, so the run cannot continue from it: "
                "rerun with --force to start afresh"
            )
        return RoundRecord.from_dict(entry)


@dataclass
class RoundWork:
    """One round in progress: `continues` says the model goes on from an earlier fine-tuning (so it
    takes `round_epochs`), `train` is what it trains on, `record` what the round will save."""

    round_: int
    trainer: Trainer
    train: list[Record]
    lr: float
    continues: bool
    record: RoundRecord
