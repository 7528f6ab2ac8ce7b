"""`lesionlab demo`: the first thing a new user runs. The settings live in `lesionlab.demo_presets`."""

from __future__ import annotations

from pathlib import Path

from lesionlab.config import ExperimentConfig
from lesionlab.demo_presets import DEFAULT, preset


def demo_config(out: Path, n_seeds: int | None = None, name: str = DEFAULT) -> ExperimentConfig:
    """The experiment of demo preset `name` writing to `out` (`n_seeds` overrides its number of seeds)."""
    return preset(name).config(out, n_seeds)
