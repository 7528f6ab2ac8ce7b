"""`lesionlab demo`: the first thing a new user runs. Small enough for 2 CPU cores in a few minutes."""

from __future__ import annotations

from pathlib import Path

from lesionlab.config import ExperimentConfig, load_config


def demo_config(out: Path, n_seeds: int = 2) -> ExperimentConfig:
    """Random vs least confidence vs BALD (MC dropout) on the embedded ISIC 2017 subset (task 1, melanoma).

    240 pool images at 128 px (their stored size): 10 % random start, +10 % for 3 rounds, the cached-trunk
    fast path with 2 fixed views. Numbers on 240 images are noisy; the point is the workflow and report.
    """
    return load_config(
        ExperimentConfig,
        {
            "name": "demo: ISIC 2017 subset, melanoma vs rest",
            "data": {"source": "isic2017", "root": None, "task": "melanoma"},
            # One thread: on 2 shared cores two threads wait on each other on these small batches
            # (measured 94 s with one thread against 136 s with two on an idle machine, 197 s vs 576 s busy).
            "train": {
                "resolution": 128,
                "epochs": 8,
                "patience": 3,
                "views": 2,
                "batch_size": 16,
                "num_threads": 1,
            },
            "experiment": {
                "strategies": ["random", "least_confidence", "bald"],
                "seeds": list(range(n_seeds)),
                "initial": {"kind": "random", "size": 0.1},
                "budget": 0.1,
                "rounds": 3,
            },
            "output": str(out),
        },
    )
