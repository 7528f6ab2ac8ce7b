"""`lesionlab demo --preset NAME`: the settings of every demo, in one table the README quotes.

Why the default (`sk`) is what it is: lesionlab's own benchmarks show where active learning pays on
ISIC 2017 (benchmarks/results/al_baselines.md): on task 2, seborrheic keratosis vs rest, BALD reached
random's best test AUC with 38 % fewer labels (least confidence 28 %), paired Wilcoxon over (seed, round)
points p = 0.003; on task 1, melanoma, BALD did not beat random (p = 0.388). The HAM10000 result (Kim et
al. 2020, "Confident Coreset for Active Learning in Medical Image Analysis") cannot be a demo: HAM10000 is
CC BY-NC and is never shipped. So the default demo is BALD against random on task 2, on a pool of official
training images at their natural class rates (the shipped `isic2017_pool` data), evaluated on the whole
official test split. Its setting (every stage frozen, so a unit trains only the conv head and classifier
from cached activations and 16 seeds fit in two minutes; labels per round, epochs, learning rate) was chosen
on held-out training images and the validation split only, never on the test split: see docs/demo.md.

`melanoma` is the demo lesionlab shipped before: random against least confidence and BALD on task 1, which
shows no saving; it stays so that the default is not the only setting anyone sees. `tiny` is a smoke test
of an install (seconds).

Torch-free: the CLI's `--help` and the configuration test import this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesionlab.config import ExperimentConfig, load_config
from lesionlab.errors import ConfigError

DEFAULT = "sk"


@dataclass(frozen=True)
class DemoPreset:
    """One demo's settings: the columns of README's preset table (tests/test_demo.py compares them)."""

    name: str
    title: str  # the report's name
    data: str  # folder of lesionlab/demo_data
    task: str  # ISIC 2017 task: melanoma, seborrheic_keratosis or 3class
    strategies: tuple[str, ...]
    seeds: int
    initial: float  # labels to start from: a fraction of the pool if < 1, else a count
    budget: float  # labels bought per round, the same way
    rounds: int
    resolution: int
    epochs: int
    patience: int
    batch_size: int
    lr: float  # Adam's learning rate
    freeze_stages: int
    views: int
    workers: int  # processes sharing the (strategy, seed) units, one thread each (runner.demo); 1: this one

    def config(self, out: Path, seeds: int | None = None) -> ExperimentConfig:
        """The experiment this preset runs, writing to `out`; `seeds` overrides the number of seeds."""
        from lesionlab.data.demo_subset import demo_root

        n_seeds = self.seeds if seeds is None else seeds
        if n_seeds < 1:
            raise ConfigError(f"--seeds must be at least 1, got {n_seeds}")
        # The small subset is the data default (root None), so the melanoma demo's config is what it was.
        root = None if self.data == "isic2017" else str(demo_root(self.data))
        return load_config(ExperimentConfig, self._raw(root, out, n_seeds))

    def _raw(self, root: str | None, out: Path, n_seeds: int) -> dict[str, Any]:
        # One thread per process: on 2 shared cores two threads wait on each other on these small batches
        # (measured 94 s with one thread against 136 s with two for the melanoma demo, idle machine).
        # progress off: the round lines stay, the epoch lines and bars of every fit go (runner.round_models).
        train = {
            "resolution": self.resolution,
            "epochs": self.epochs,
            "patience": self.patience,
            "views": self.views,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "freeze_stages": self.freeze_stages,
            "num_threads": 1,
            "progress": False,
        }
        return {
            "name": self.title,
            "data": {"source": "isic2017", "root": root, "task": self.task},
            "train": train,
            "experiment": {
                "strategies": list(self.strategies),
                "seeds": list(range(n_seeds)),
                "initial": {"kind": "random", "size": self.initial},
                "budget": self.budget,
                "rounds": self.rounds,
            },
            "output": str(out),
        }


PRESETS: dict[str, DemoPreset] = {
    p.name: p
    for p in (
        DemoPreset(
            name="sk",
            title="demo: ISIC 2017 seborrheic keratosis vs rest, BALD against random",
            data="isic2017_pool",
            task="seborrheic_keratosis",
            strategies=("random", "bald"),
            seeds=16,
            initial=100,
            budget=50,
            rounds=4,
            resolution=64,
            epochs=10,
            patience=3,
            batch_size=32,
            lr=3e-4,
            freeze_stages=7,
            views=1,
            workers=2,
        ),
        DemoPreset(
            name="melanoma",
            title="demo: ISIC 2017 subset, melanoma vs rest",
            data="isic2017",
            task="melanoma",
            strategies=("random", "least_confidence", "bald"),
            seeds=2,
            initial=0.1,
            budget=0.1,
            rounds=3,
            resolution=128,
            epochs=8,
            patience=3,
            batch_size=16,
            lr=1e-4,
            freeze_stages=5,
            views=2,
            workers=1,
        ),
        DemoPreset(
            name="tiny",
            title="demo: smoke test of an install (not a result)",
            data="isic2017",
            task="seborrheic_keratosis",
            strategies=("random", "bald"),
            seeds=2,
            initial=0.1,
            budget=0.1,
            rounds=1,
            resolution=64,
            epochs=1,
            patience=1,
            batch_size=16,
            lr=1e-4,
            freeze_stages=6,
            views=1,
            workers=1,
        ),
    )
}


def preset(name: str) -> DemoPreset:
    """The preset called `name`; an unknown name is one error listing the known ones."""
    if name not in PRESETS:
        raise ConfigError(f"unknown demo preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
