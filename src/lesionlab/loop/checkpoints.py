"""The weights a continuing run keeps between rounds (the model, committee members): atomic writes, and
loads that name the file and the fix when it is missing or damaged."""

from __future__ import annotations

from pathlib import Path

import torch

from lesionlab.errors import DataError
from lesionlab.io import atomic_file


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
    with atomic_file(path) as fh:  # a unique temporary name: runs side by side never share one
        torch.save(model.state_dict(), fh)
