"""Device choice, thread count and seeding: one place so every run is reproducible and uses the GPU if any."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from lesionlab.errors import ConfigError


def select_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA when available, else CPU; an explicit name is checked, not trusted."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {name!r} requested but CUDA is not available here; use device: auto or cpu"
        )
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from exc


def set_threads(num_threads: int | None) -> None:
    """Intra-op threads for CPU work; None keeps torch's default (all cores)."""
    if num_threads is not None:
        if num_threads < 1:
            raise ConfigError(f"num_threads must be >= 1, got {num_threads}")
        torch.set_num_threads(num_threads)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch, and return a NumPy generator for the caller's own draws."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    return np.random.default_rng(seed)


@contextmanager
def seeded(seed: int, device: torch.device, *salt: int) -> Iterator[None]:
    """Torch's draws inside come from (`seed`, *`salt`), and the global generators are left as they were.

    For random passes that must not depend on what ran before them: MC-dropout samples are then the
    same whether or not this process trained the model first (a shared first round, a resumed run).
    `salt` tells apart the calls of one seed (batches, chunks): mixed by NumPy's SeedSequence, so nearby
    (seed, salt) pairs never collide the way seed + salt would."""
    mixed = int(np.random.SeedSequence([seed, *salt]).generate_state(1, np.uint64)[0])
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(mixed)
        yield
