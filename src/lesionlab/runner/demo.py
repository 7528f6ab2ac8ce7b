"""`lesionlab demo`: the first thing a new user runs. The settings live in `lesionlab.demo_presets`.

The demo's units are small (a few CPU seconds each), so the `local` engine's fresh process per unit
would spend as much time starting processes (importing torch, loading the data) as computing. `SplitEngine`
runs the units in `workers` processes that live for the whole run: this one and `workers - 1` spawned
ones, each taking every `workers`-th seed in turn. Every unit still draws its random numbers from
(seed, round) and computes on one thread, so the selections do not depend on which process ran it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesionlab.config import ExperimentConfig
from lesionlab.demo_presets import DEFAULT, preset
from lesionlab.errors import LesionlabError

Unit = tuple[str, int]


def demo_config(out: Path, n_seeds: int | None = None, name: str = DEFAULT) -> ExperimentConfig:
    """The experiment of demo preset `name` writing to `out` (`n_seeds` overrides its number of seeds)."""
    return preset(name).config(out, n_seeds)


def demo_engine(workers: int) -> SplitEngine | None:
    """How a preset's units run: here in turn (1 worker), else split over `workers` long-lived processes."""
    return SplitEngine(workers) if workers > 1 else None


def shares(units: Sequence[Unit], workers: int) -> list[list[Unit]]:
    """The units of each process: every strategy of a seed together, seeds dealt out in turn (so BALD's
    costlier units are spread evenly)."""
    seeds = sorted({seed for _, seed in units})
    return [[u for u in units if seeds.index(u[1]) % workers == k] for k in range(workers)]


@dataclass(frozen=True)
class SplitEngine:
    """`Experiment.run(engine=...)`: the first share here, the others in spawned processes, 1 thread each."""

    workers: int

    def run(self, experiment: Any, units: Sequence[Unit]) -> dict[Unit, Any]:
        from threadpoolctl import threadpool_limits

        from lesionlab.data.pool_state import PoolState
        from lesionlab.progress import share_notes

        parts = [p for p in shares(units, self.workers) if p]
        config = experiment.config.model_dump(mode="json")
        ctx = mp.get_context("spawn")
        with tempfile.TemporaryDirectory(prefix="lesionlab-notes-") as notes:
            procs = [
                ctx.Process(target=_share_process, args=(config, part, os.getpid(), notes), name=f"demo-{k}")
                for k, part in enumerate(parts[1:], start=1)
            ]
            for proc in procs:
                proc.start()
            share_notes(notes)
            try:
                experiment.round_log.show_eta = False  # this process sees only its share
                with threadpool_limits(limits=1):
                    for unit in parts[0] if parts else []:
                        experiment.run_one(*unit)
            finally:
                share_notes(None)
                for proc in procs:
                    proc.join()
        failed = [p.name for p in procs if p.exitcode != 0]
        if failed:
            raise LesionlabError(
                f"{len(failed)} demo worker process(es) failed: their finished rounds are saved; run the "
                "same command again to resume them"
            )
        return {u: PoolState.load(experiment.state_path(*u)) for u in units}


def _share_process(config: dict, units: list[Unit], parent: int, notes: str) -> None:
    """A spawned worker: its units in turn, in one `Experiment`, on one thread; dies with the parent."""
    import torch
    from threadpoolctl import threadpool_limits

    from lesionlab.progress import share_notes
    from lesionlab.runner.engines import LineStream, die_with_parent
    from lesionlab.runner.experiment import Experiment

    die_with_parent(parent)
    sys.stderr = LineStream(sys.stderr)
    torch.set_num_threads(1)
    share_notes(notes)
    try:
        with threadpool_limits(limits=1):
            experiment = Experiment(ExperimentConfig.model_validate(config), force=False, progress=True)
            experiment.round_log.show_eta = False
            for strategy, seed in units:
                experiment.run_one(strategy, seed)
    except LesionlabError as exc:
        print(f"demo worker: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
