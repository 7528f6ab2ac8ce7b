"""The weights a continuing run keeps between rounds (the model, committee members): atomic writes, and
loads that name the file and the fix when it is missing or damaged."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from lesionlab.errors import DataError
from lesionlab.io import atomic_file, tensor_bytes


def load_weights(model: torch.nn.Module, saved: Path, strategy: str, seed: int) -> None:
    """Weights a continuing run saved after its last round; a missing or damaged file names the fix."""
    if not saved.is_file():
        raise DataError(
            f"{saved} is missing, so {strategy} seed {seed} cannot continue from its last round: "
            "rerun with --force to start afresh"
        )
    try:
        model.load_state_dict(torch.load(saved, weights_only=True))
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise DataError(
            f"{saved} is damaged ({str(exc).splitlines()[0]}): rerun with --force to start afresh"
        ) from None


def save_weights(model: torch.nn.Module, path: Path) -> None:
    state = model.state_dict()
    with atomic_file(path, expected_bytes=tensor_bytes(state.values())) as fh:  # a unique temporary name
        torch.save(state, fh)


@dataclass(frozen=True)
class RoundWeights:
    """Where one (strategy, seed) keeps its weights: one file per round, so the saved state alone says
    which is current."""

    folder: Path
    strategy: str
    seed: int

    def model(self, round_: int) -> Path:
        """The model after `round_`."""
        return self.folder / f"{self.strategy}_seed{self.seed}_model_round{round_}.pt"

    def member(self, member: int, round_: int) -> Path:
        """Committee member `member` after `round_` (`ensemble_members: continued`), kept like the model."""
        return self.folder / f"{self.strategy}_seed{self.seed}_member{member}_round{round_}.pt"

    def drop_before(self, round_: int) -> None:
        """Delete the model and member files of rounds before `round_`, once the saved state names
        `round_`'s. All older rounds, not only the last: a kill between a state save and this call leaves
        one behind, and the resumed run removes it here."""
        prefix = f"{self.strategy}_seed{self.seed}_"
        for path in self.folder.glob(f"{prefix}*_round*.pt"):
            kind, _, number = path.stem.removeprefix(prefix).rpartition("_round")
            if (kind == "model" or kind.startswith("member")) and number.isdigit() and int(number) < round_:
                path.unlink(missing_ok=True)
