"""What the active-learning benchmarks (al_baselines.py, paper000.py) share: the protocol, the reuse of
finished runs, the full-data line and the per-strategy result blocks.

One protocol for both, so a row of one is comparable with (and reusable by) the other: 10 % random
start, +10 % of the 2000-image ISIC 2017 pool per round up to 50 %, `freeze_stages: 6`, up to 20 epochs
with the epoch picked on the 150 validation images, metrics on the 600 test images.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import RESULTS, renamed, write_json
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.config_options import move_legacy_loss_fields
from lesionlab.evaluation.report import summarize
from lesionlab.runner.experiment import run_experiment

FREEZE_STAGES = 6  # the AL configuration: see docs/reproduction.md (CPU budget of 90 trainings per task)
BINARY_KEYS = ["accuracy", "auc", "ap", "sensitivity", "specificity"]
# Parts of a stored configuration that do not change an experiment's numbers: its title, where its files
# and caches are, whether files were checked, the reference line and the report's gallery. The data
# folder is named by source, task and options, so a copy of the data elsewhere still matches.
NOT_RESULTS = (
    "name",
    "output",
    "cache_dir",
    "check_files",
    "data.root",
    "experiment.full_data",
    "experiment.gallery_size",
    "train.num_threads",
    "train.device",
    "train.progress",
    "train.tta_views",
)


def experiment_config(
    name: str,
    task: str,
    data: Path,
    out: Path,
    seeds: list[int],
    cache: Path,
    strategies: dict[str, dict[str, Any]],
    train: dict[str, Any] | None = None,
    full: dict[str, float] | None = None,
    threads: int = 2,
) -> ExperimentConfig:
    """The shared protocol on ISIC 2017 `task`; `strategies` maps each name to its parameters."""
    return load_config(
        ExperimentConfig,
        {
            "name": name,
            "data": {"source": "isic2017", "root": str(data / "isic2017"), "task": task},
            "train": {
                "freeze_stages": FREEZE_STAGES,
                "num_threads": threads,
                "epochs": 20,
                "patience": 5,
                **(train or {}),
            },
            "experiment": {
                "strategies": list(strategies),
                "strategy_params": {k: v for k, v in strategies.items() if v},
                "seeds": seeds,
                "initial": {"kind": "random", "size": 0.1},
                "budget": 0.1,
                "rounds": 4,
                "mc_samples": 10,
                "full_data": full,
            },
            "output": str(out),
            "cache_dir": str(cache),
        },
    )


def full_data_entry(stem: str, task: str) -> dict[str, dict[str, float]] | None:
    """{metric: {"mean", "se", ...}} of ISIC 2017 `task` in results/<stem>.json (`full_data.py`), if run."""
    path = RESULTS / f"{stem}.json"
    if not path.exists():
        return None
    entry = renamed(json.loads(path.read_text())["results"].get(f"isic2017_{task}"))
    return {k: entry[k] for k in BINARY_KEYS if k in entry} if entry else None


def means(entry: dict[str, dict[str, float]] | None) -> dict[str, float] | None:
    """The full-data line as an experiment takes it: one number per metric."""
    return {k: v["mean"] for k, v in entry.items()} if entry else None


def load_results(out: Path) -> dict[str, Any] | None:
    """A finished experiment's results.json with today's metric names; None if it has not finished."""
    path = out / "results.json"
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    for run in raw["runs"]:
        for rnd in run["rounds"]:
            rnd["metrics"] = renamed(rnd["metrics"])
    raw["full_data"] = renamed(raw.get("full_data"))
    return raw


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for k, v in value.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else k))
    return out


def config_differences(
    stored: dict[str, Any], config: ExperimentConfig, strategy: str | None = None
) -> list[str]:
    """Fields where a stored experiment configuration and `config` give different numbers.

    A field missing from the stored one was added later with a default that keeps the old behaviour, so
    it counts as that default. With `strategy`, only that strategy's runs are compared: the others, and
    which strategies ran beside it, do not change them (each run is seeded by (seed, round) alone).
    """
    defaults = _flat(ExperimentConfig().model_dump(mode="json"))
    if isinstance(stored.get("train"), dict):  # the old flat loss fields, as today's loss_options
        stored = {**stored, "train": move_legacy_loss_fields(stored["train"])[0]}
    a = {**defaults, **_flat(stored)}
    b = {**defaults, **_flat(config.model_dump(mode="json"))}

    def counts(key: str) -> bool:
        if any(key == k or key.startswith(f"{k}.") for k in NOT_RESULTS):
            return False
        if strategy is not None and key == "experiment.strategies":
            return False
        params = "experiment.strategy_params."
        return strategy is None or not key.startswith(params) or key.startswith(f"{params}{strategy}.")

    return [
        f"{k}: {a.get(k)!r} -> {b.get(k)!r}"
        for k in sorted(set(a) | set(b))
        if counts(k) and a.get(k) != b.get(k)
    ]


def _reused(config: ExperimentConfig, source: Path, strategy: str) -> dict[str, Any] | None:
    """`strategy`'s runs of another finished experiment made with the same configuration, all seeds."""
    shared = load_results(source)
    if shared is None or config_differences(shared["config"], config, strategy):
        return None
    seeds = config.experiment.seeds
    runs = [r for r in shared["runs"] if r["strategy"] == strategy and r["seed"] in seeds]
    if {r["seed"] for r in runs} != set(seeds):
        return None
    shared["runs"] = runs
    shared["config"]["experiment"]["strategies"] = [strategy]
    shared["reused_from"] = str(source.relative_to(RESULTS.parent))
    return shared


def finished_or_run(
    config: ExperimentConfig,
    reuse: Path | None = None,
    on_round: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """The experiment's results: its finished results.json if made with this configuration, else the
    same runs of the experiment in `reuse` (a single-strategy config only), else a run (which resumes
    from the pool states in OUT/state when an earlier run was interrupted).

    A finished run made with another configuration stops the script: it is never silently reused, and
    never deleted and retrained without being asked.
    """
    out = Path(config.output)
    raw = load_results(out)
    if raw is not None:
        changed = config_differences(raw["config"], config)
        if changed:
            raise SystemExit(
                f"{out} holds results made with another configuration ({'; '.join(changed)}): "
                f"delete that folder to run it again with the current one"
            )
        return raw
    if reuse is not None and len(config.experiment.strategies) == 1:
        shared = _reused(config, reuse, config.experiment.strategies[0])
        if shared is not None:
            write_json(out / "results.json", shared)
            return shared
    return run_experiment(config, on_round=on_round)


def strategy_block(summary: dict[str, Any], name: str) -> dict[str, Any]:
    """One strategy's numbers from `lesionlab.evaluation` `summarize`: ALC, labels to 99 % of full
    data, saving and paired tests against random (when random ran beside it), curves and timings."""
    info = summary["strategies"][name]
    metric = summary["metric"]
    curve = [
        {"n_labeled": n, "fraction": p["x"], metric: {"mean": p["mean"], "se": p["sem"]}}
        for n, p in zip(info["n_labeled"], info["curves"][metric], strict=True)
    ]
    return {
        "alc": {"mean": info["alc"]["mean"], "se": info["alc"]["se"]},
        "labels_to_99pct_full": info["labels_to_target"],
        "saving_vs_random": info.get("saving_vs_random"),
        "vs_random": info.get("vs_random"),
        "curve": curve,
        "other_metrics": {
            m: [{"fraction": p["x"], "mean": p["mean"], "se": p["sem"]} for p in pts]
            for m, pts in info["curves"].items()
            if m != metric
        },
        "selection_seconds": info["selection_seconds"],
        "train_seconds": info["train_seconds"],
        "new_class_counts": info["new_class_counts"],
    }


def with_random(raw: dict[str, Any], random_raw: dict[str, Any]) -> dict[str, Any]:
    """One experiment's runs beside random's from another folder, so `summarize` pairs them."""
    if raw is random_raw:
        return raw
    return {**raw, "runs": raw["runs"] + random_raw["runs"]}


def summary_of(raw: dict[str, Any], random_raw: dict[str, Any] | None = None) -> dict[str, Any]:
    return summarize(raw if random_raw is None else with_random(raw, random_raw))


def p_text(test: dict[str, Any] | None, key: str = "p_wilcoxon", missing: str = "n/a") -> str:
    """A p-value of a paired test (`compare_curves`), or `missing` where there was none."""
    p = (test or {}).get(key)
    return missing if p is None else f"{p:.3f}"


def labels_text(block: dict[str, Any], pool: int | None = None) -> str:
    """Labels to reach 99 % of the full-data metric (mean over the seeds that reached it), as a count
    or, with `pool`, a fraction of the pool."""
    ltt = block["labels_to_99pct_full"] or {}
    if not ltt.get("mean"):
        return "not reached"
    value = f"{ltt['mean']:.0f}" if pool is None else f"{ltt['mean'] / pool:.0%}"
    return f"{value} ({ltt['n_reached']}/{ltt['n_seeds']} seeds)"
