"""The demo's measured outcome and cost: what README.md and docs/demo.md quote (issue 36).

Runs `lesionlab demo --preset NAME` several times in a row from a fresh `git clone` of this repository's
committed HEAD (PYTHONPATH pointing at the clone's `src`), with one fresh, empty cache for all the runs of
a preset: the first run is cold (it caches the images' activations), the others warm. Each run is one
process tree: its CPU seconds are user + system of the demo and of its worker processes (read from
`getrusage(RUSAGE_CHILDREN)` around it, as `/usr/bin/time` does). On a machine shared with other jobs wall
time says little; the demo computes on one thread per process and runs `workers` processes at once, so on
idle cores its wall time is about its CPU seconds / workers (docs/demo.md says how well that holds).

Records, per preset: the settings, the report's opening sentence, the test over seeds, ALC and curves per
strategy, each run's CPU and wall seconds, and whether every run made the same selections and numbers.

    nice -n 19 python benchmarks/demo.py                       # sk and melanoma, 3 runs each
    python benchmarks/demo.py --presets sk --runs 1

Writes results/demo_<preset>.json and .md for each preset (so presets can be measured in parallel).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import RESULTS
from lesionlab.demo_presets import PRESETS
from lesionlab.evaluation.headline import headline
from lesionlab.evaluation.summary import summarize
from provenance import REPO, git_state, write_outputs


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(clone: Path, name: str, out: Path, cache: Path) -> dict[str, Any]:
    """One `lesionlab demo` from the clone; its CPU and wall seconds and its results."""
    env = os.environ | {
        "PYTHONPATH": str(clone / "src"),
        "LESIONLAB_CACHE": str(cache),
        "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-c", "from lesionlab.cli import main; main()", "demo", "--preset", name]
    cpu0, wall0 = _cpu_children(), time.perf_counter()
    done = subprocess.run([*command, "--out", str(out)], env=env, cwd=clone, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - wall0, _cpu_children() - cpu0
    if done.returncode != 0:
        raise SystemExit(f"demo {name} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    results = json.loads((out / "results.json").read_text())
    # "  bald seed 3: round 2/4, 200 labels, test auc 0.774, 5 s": the line without its seconds
    rounds = [", ".join(line.split(", ")[:3]) for line in done.stderr.splitlines() if ": round " in line]
    return {
        "cpu_seconds": round(cpu, 1),
        "wall_seconds": round(wall, 1),
        "results": results,
        "rounds": rounds,
    }


def outcome(results: dict) -> dict[str, Any]:
    """The report's sentence and, per strategy, ALC (mean and per seed), the curve and the test vs random."""
    summary = summarize(results)
    strategies = {}
    for name, s in summary["strategies"].items():
        test = (s.get("vs_random") or {}).get("seeds_test") or {}
        strategies[name] = {
            "alc": s["alc"]["mean"],
            "alc_se": s["alc"].get("se"),
            "alc_per_seed": s["alc"]["per_seed"],
            "n_labeled": s["n_labeled"],
            "curve": [p["mean"] for p in s["curves"][summary["metric"]]],
            "p_seeds": test.get("p_wilcoxon"),
            "seeds_ahead": _ahead(s["alc"]["per_seed"], summary["strategies"]["random"]["alc"]["per_seed"]),
            "saving": s.get("saving_vs_random"),
        }
    return {"headline": headline(summary), "metric": summary["metric"], "strategies": strategies}


def _ahead(mine: dict, random: dict) -> int:
    return sum(mine[k] > random[k] for k in random)


def selections(results: dict) -> dict[str, list]:
    """Every (strategy, seed)'s picks and test metric per round: equal across runs means repeatable."""
    return {
        f"{r['strategy']}:{r['seed']}": [(x["new_ids"], x.get("metrics")) for x in r["rounds"]]
        for r in results["runs"]
    }


def measure(clone: Path, name: str, runs: int, work: Path) -> dict[str, Any]:
    cache = work / f"cache-{name}"
    shutil.rmtree(cache, ignore_errors=True)
    done = []
    for k in range(runs):
        done.append(run_once(clone, name, work / f"{name}-{k}", cache))
        print(
            f"{name} run {k + 1}: {done[-1]['cpu_seconds']} CPU s, {done[-1]['wall_seconds']} s wall",
            flush=True,
        )
    first = done[0]["results"]
    preset = PRESETS[name]
    cpu = [r["cpu_seconds"] for r in done]
    return {
        "preset": dataclasses.asdict(preset),
        "outcome": outcome(first),
        "runs": [
            {"cold": k == 0, "cpu_seconds": r["cpu_seconds"], "wall_seconds": r["wall_seconds"]}
            for k, r in enumerate(done)
        ],
        "same_selections": all(selections(r["results"]) == selections(first) for r in done),
        "same_round_lines": all(sorted(r["rounds"]) == sorted(done[0]["rounds"]) for r in done),
        "cpu_cold": cpu[0],
        "cpu_warm_max": max(cpu[1:]) if len(cpu) > 1 else None,
        "idle_wall_estimate_warm": round(max(cpu[1:]) / max(preset.workers, 1)) if len(cpu) > 1 else None,
        "idle_wall_estimate_cold": round(cpu[0] / max(preset.workers, 1)),
    }


def markdown(name: str, m: dict) -> list[str]:
    o = m["outcome"]
    lines = [f"# Demo preset `{name}`, measured (benchmarks/demo.py)", "", f"> {o['headline']}", ""]
    lines += ["| strategy | ALC | seeds ahead of random | p over seeds | curve |", "|---|---|---|---|---|"]
    for s, v in o["strategies"].items():
        curve = ", ".join(f"{x:.3f}" for x in v["curve"])
        lines.append(f"| {s} | {v['alc']:.3f} | {v['seeds_ahead']} | {v['p_seeds']} | {curve} |")
    runs = "; ".join(f"{r['cpu_seconds']} CPU s ({'cold' if r['cold'] else 'warm'})" for r in m["runs"])
    return [*lines, "", f"Runs: {runs}. Same selections in every run: {m['same_selections']}."]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["sk", "melanoma"], choices=sorted(PRESETS))
    parser.add_argument("--runs", type=int, default=3, help="consecutive runs per preset (the first is cold)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the clone, caches and outputs")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="lesionlab-demo-bench-"))
    clone = work / "clone"
    shutil.rmtree(clone, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    for name in args.presets:
        measured = measure(clone, name, args.runs, work)
        payload = {
            "config": {"preset": name, "runs": args.runs, "clone_of": git_state(clone)["commit"]},
            "seeds": list(range(PRESETS[name].seeds)),
            **measured,
        }
        out = RESULTS / f"demo_{name}.json"
        write_outputs(out, payload, markdown(name, measured), repo=clone)
        print(f"wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
