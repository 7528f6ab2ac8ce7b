"""Where the (strategy, seed) units of an experiment run: one after the other, worker processes, or Ray.

Every unit is independent: it reads the config and the data, writes its own state file after every round
and draws every random number from (seed, round). So a unit gives the same selections and numbers in any
process on any node, as long as it computes with the same number of threads (the per-task thread count
defaults to `train.num_threads`, else 1), and a unit killed mid-way resumes from its last saved round
the next time the experiment is run, whichever engine runs it then.

- `serial`: today's runner, in this process.
- `local`: one fresh worker process per unit (spawned, so nothing of the parent's torch state leaks),
  at most `workers` at a time; a worker that dies (killed, out of memory) fails its unit only. A worker
  dies with its parent (`die_with_parent`): after a `kill -9` of `lesionlab run` no orphan goes on writing
  state into an output folder whose lock (`locking`) has been released.
- `ray`: one Ray task per unit, on a local Ray instance started here (`num_cpus = workers x threads`) or on
  an existing cluster (`address`, or the `RAY_ADDRESS` environment variable). Each task asks Ray for
  `threads` CPUs and computes on that many threads, so tasks never oversubscribe a node. On a cluster the
  data, the cache and the output folder must be on a file system every node sees at the same path.
  When this process dies, the Ray instance it started dies with it (Ray's own fate sharing: its
  processes are killed when the driver that started them exits, even by `kill -9`), and so do its tasks;
  on an existing cluster Ray cancels the tasks of a driver whose connection is gone.

Each unit's rounds are logged by the worker (Ray forwards them to this terminal, prefixed by the task),
and this process prints a line when a unit starts, ends or fails, with an ETA for the whole experiment.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

from lesionlab.data.pool_state import PoolState
from lesionlab.errors import ConfigError, LesionlabError
from lesionlab.progress import eta
from lesionlab.registry import Registry

Unit = tuple[str, int]
RoundHook = Callable[[str, int, int], None]
# An engine runs units and returns their final states: (engine settings, experiment, units) -> states.
RunUnits = Callable[["Engine", Any, Sequence[Unit]], "dict[Unit, PoolState]"]
# Every engine by name (`--engine`): serial, local and ray, registered below.
ENGINES: Registry[RunUnits] = Registry("engine", builtins=("lesionlab.runner.engines",))


def run_unit(
    config: dict[str, Any],
    strategy: str,
    seed: int,
    threads: int,
    progress: bool = True,
    on_round=None,
    notes: str | None = None,
) -> dict[str, Any]:
    """Run (or resume) one (strategy, seed) unit in this process on `threads` threads; its final state.

    The configuration travels as plain JSON values, so any process or node can rebuild it. `notes`: the
    run's folder for once-per-run notes (`progress.share_notes`).
    """
    import torch
    from threadpoolctl import threadpool_limits

    from lesionlab.config import ExperimentConfig
    from lesionlab.progress import share_notes
    from lesionlab.runner.experiment import Experiment

    torch.set_num_threads(threads)
    share_notes(notes)
    cfg = ExperimentConfig.model_validate(config)
    cfg = cfg.model_copy(update={"train": cfg.train.updated(num_threads=threads)})
    # torch's threads are not the only ones: scikit-learn and numpy (k-means, PCA, the audit's logistic
    # regression and neighbour search) use OpenMP and BLAS pools sized to every core of the node.
    with threadpool_limits(limits=threads):
        experiment = Experiment(cfg, force=False, progress=progress)
        # This process sees one unit: its rounds give no ETA for the experiment (the board has that one).
        experiment.round_log.show_eta = False
        return experiment.run_one(strategy, seed, on_round).to_dict()


class LineStream:
    """stderr that says it is not a terminal: workers sharing one terminal print whole lines (epochs,
    rounds) instead of drawing progress bars over each other."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_POLL_SECONDS = 1.0


def die_with_parent(parent: int) -> None:
    """End this process as soon as `parent` (its parent's pid) is gone, however the parent ended.

    On Linux the kernel sends SIGKILL on the parent's death (prctl PR_SET_PDEATHSIG); everywhere, a
    daemon thread also checks every second that the parent is still ours (an orphan is re-parented, so
    its parent pid changes). Killing is safe: every unit saves its rounds atomically and resumes.
    """
    if sys.platform.startswith("linux"):
        # No prctl in this libc: the thread below still works.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="lesionlab-parent-watch", daemon=True).start()


def _unit_process(
    config: dict,
    strategy: str,
    seed: int,
    threads: int,
    progress: bool,
    on_round,
    parent: int | None = None,
    notes: str | None = None,
) -> None:
    """Entry point of a `local` worker process: a user error is one line on stderr and exit code 2."""
    if parent is not None:
        die_with_parent(parent)
    sys.stderr = LineStream(sys.stderr)
    try:
        run_unit(config, strategy, seed, threads, progress, on_round, notes)
    except LesionlabError as exc:
        print(f"{strategy} seed {seed}: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)


@dataclass
class Engine:
    """Runs units and returns their final states; `workers` at a time, `threads` each (None: defaults)."""

    name: str = "serial"
    workers: int | None = None
    threads: int | None = None
    address: str | None = None
    on_round: RoundHook | None = None  # called in the worker after each saved round (tests kill units here)
    # False: no line per unit started or finished, only the rounds' own lines (`lesionlab demo`); failures
    # are still raised, naming every failed unit
    board: bool = True

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ConfigError(f"unknown --engine {self.name!r}: choose one of {', '.join(ENGINES.names())}")
        for what, value in (("--workers", self.workers), ("--threads-per-task", self.threads)):
            if value is not None and value < 1:
                raise ConfigError(f"{what} must be >= 1, got {value}")
        if self.address is not None and self.name != "ray":
            raise ConfigError(f"--address names a Ray cluster: use it with --engine ray, not {self.name}")
        if self.name == "ray" and importlib.util.find_spec("ray") is None:
            raise ConfigError('the Ray engine needs Ray: pip install -e ".[ray]" (or use --engine local)')

    def task_threads(self, experiment: Any) -> int:
        """Threads per unit: as asked, else the config's `train.num_threads`, else 1."""
        return self.threads or experiment.config.train.num_threads or 1

    def task_workers(self, n_units: int, threads: int) -> int:
        """Units at once: as asked, else as many as this machine's cores hold at `threads` each."""
        return max(1, min(n_units, self.workers or (os.cpu_count() or 1) // threads))

    def run(self, experiment: Any, units: Sequence[Unit]) -> dict[Unit, PoolState]:
        return ENGINES.get(self.name)(self, experiment, units)


@ENGINES.register("serial")
def _serial(engine: Engine, experiment: Any, units: Sequence[Unit]) -> dict[Unit, PoolState]:
    """Today's runner: the units one after the other, in this process."""
    return {u: experiment.run_one(*u, engine.on_round) for u in units}


@dataclass
class _Job:
    """What a parallel engine launches: the units, the config as JSON values, threads and workers."""

    config: dict[str, Any]
    units: Sequence[Unit]
    threads: int
    workers: int
    experiment: Any
    board: _Board
    notes: str


Launch = Callable[[Engine, _Job], "dict[Unit, str]"]  # -> the failed units, with why


def _parallel(
    engine: Engine, experiment: Any, units: Sequence[Unit], launch: Launch
) -> dict[Unit, PoolState]:
    """Units in other processes: `launch` starts them and reports failures; states are read back here."""
    threads = engine.task_threads(experiment)
    workers = engine.task_workers(len(units), threads)
    board = _Board(units, experiment.progress and engine.board)
    board.say(f"{engine.name} engine: {len(units)} units, {workers} at a time, {threads} thread(s) each")
    if experiment.config.train.num_threads is None:
        board.say(
            f"note: train.num_threads is not set, so each unit computes on {threads} thread(s) where a "
            "serial run uses every core: numbers may differ in the last digits (set it to compare)"
        )
    # once-per-run notes are said once by all the run's processes, not once by each
    with tempfile.TemporaryDirectory(prefix="lesionlab-notes-") as notes:
        config = experiment.config.model_dump(mode="json")
        failures = launch(engine, _Job(config, units, threads, workers, experiment, board, notes))
    if failures:
        listed = "; ".join(f"{s} seed {seed}: {why}" for (s, seed), why in failures.items())
        raise LesionlabError(
            f"{len(failures)} of {len(units)} units failed ({listed}). Their finished rounds are saved: "
            "run the same command again to resume them"
        )
    return {u: PoolState.load(experiment.state_path(*u)) for u in units}


@ENGINES.register("local")
def _local(engine: Engine, experiment: Any, units: Sequence[Unit]) -> dict[Unit, PoolState]:
    """One fresh (spawned) worker process per unit, `workers` at a time."""
    return _parallel(engine, experiment, units, _launch_local)


@ENGINES.register("ray")
def _ray(engine: Engine, experiment: Any, units: Sequence[Unit]) -> dict[Unit, PoolState]:
    """One Ray task per unit, on a Ray instance started here or an existing cluster."""
    return _parallel(engine, experiment, units, _launch_ray)


def _launch_local(engine: Engine, job: _Job) -> dict[Unit, str]:
    ctx = mp.get_context("spawn")
    pending, running, failures = list(job.units), {}, {}
    progress, board = job.experiment.progress, job.board
    while pending or running:
        while pending and len(running) < job.workers:
            unit = pending.pop(0)
            args = (job.config, *unit, job.threads, progress, engine.on_round, os.getpid(), job.notes)
            proc = ctx.Process(target=_unit_process, args=args, name=f"lesionlab-{unit[0]}-{unit[1]}")
            proc.start()
            running[proc.sentinel] = (proc, unit)
            board.started(unit)
        for sentinel in wait(list(running)):
            proc, unit = running.pop(sentinel)
            proc.join()
            if proc.exitcode == 0:
                board.finished(unit)
            else:
                failures[unit] = f"worker exited with code {proc.exitcode}"
                board.failed(unit, failures[unit])
    return failures


def _start_ray(engine: Engine, job: _Job) -> bool:
    """Connect to Ray (an existing cluster, or a local instance sized for the job); True if started here."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            'the Ray engine needs Ray: pip install -e ".[ray]" (or use --engine local)'
        ) from None
    if ray.is_initialized():
        return False
    # Ray folds log lines that differ only in numbers ("round 1/5", "round 2/5") into one.
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    address = engine.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(num_cpus=job.workers * job.threads, include_dashboard=False, log_to_driver=True)
    return True


def _launch_ray(engine: Engine, job: _Job) -> dict[Unit, str]:
    started_here = _start_ray(engine, job)
    import ray

    try:
        # A crashed worker fails its unit instead of being retried behind the user's back: the
        # next run resumes it from its saved rounds.
        task = ray.remote(num_cpus=job.threads, max_retries=0)(run_unit)
        refs = {}
        for unit in job.units:
            progress = job.experiment.progress
            refs[task.remote(job.config, *unit, job.threads, progress, engine.on_round, job.notes)] = unit
            job.board.queued(unit)
        failures = {}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            unit = refs.pop(done[0])
            try:
                state = PoolState.from_payload(ray.get(done[0]))
            except ray.exceptions.RayError as exc:
                failures[unit] = _ray_reason(exc)
                job.board.failed(unit, failures[unit])
                continue
            path = job.experiment.state_path(*unit)
            if not path.is_file():  # a cluster without a shared output folder: keep the state here
                state.save(path)
            job.board.finished(unit)
        return failures
    finally:
        if started_here:
            ray.shutdown()


def _ray_reason(exc: Exception) -> str:
    """The cause of a failed Ray task in one line (a user error's own message when there is one)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, LesionlabError):
        return str(cause)
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class _Board:
    """One line per unit event on stderr: started, finished (with its time and the experiment's ETA),
    failed. Shown whenever `progress` is on, on a terminal or in a log."""

    def __init__(self, units: Sequence[Unit], enabled: bool) -> None:
        self.total, self.done, self.enabled = len(units), 0, enabled
        self.t0 = time.perf_counter()
        self.started_at: dict[Unit, float] = {}

    def say(self, message: str) -> None:
        if self.enabled:
            print(message, file=sys.stderr, flush=True)

    def started(self, unit: Unit) -> None:
        self.started_at[unit] = time.perf_counter()
        self.say(f"  started {unit[0]} seed {unit[1]}")

    def queued(self, unit: Unit) -> None:
        self.started_at[unit] = time.perf_counter()
        self.say(f"  queued {unit[0]} seed {unit[1]} as a Ray task")

    def finished(self, unit: Unit) -> None:
        self.done += 1
        took = time.perf_counter() - self.started_at.get(unit, self.t0)
        elapsed = time.perf_counter() - self.t0
        self.say(
            f"  finished {unit[0]} seed {unit[1]} ({took:.0f} s): {self.done}/{self.total} units, "
            f"{eta(self.done, self.total, elapsed)}"
        )

    def failed(self, unit: Unit, why: str) -> None:
        self.done += 1
        self.say(f"  FAILED {unit[0]} seed {unit[1]}: {why}")
