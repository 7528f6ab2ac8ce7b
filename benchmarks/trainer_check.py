"""Issue 32's done-when: the same numbers before and after the one-trainer refactor.

Runs, on each of two source trees (one thread each, so floating-point sums are comparable): `lesionlab demo`
(3 strategies x 2 seeds x 4 rounds), a small ISIC 2017 segmentation active-learning experiment (random,
pixel entropy, pixel MC dropout; U-Net width 8 at 64 px, 40 + 2 x 20 masks) and `full_data.py --only
isic2017_melanoma --seeds 0`; then compares every round's bought ids and metrics, ignoring timings and the
trees' own paths. The segmentation side sets `train.channels_last: false`, because the old `SegTrainer`
ignored that setting (on by default) and the new trainer honours it.

    python benchmarks/trainer_check.py --before ../baseline --after . --work /tmp/trainer_check

About 25 minutes per side on 2 busy cores; `--compare-only` re-reads finished folders.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from common import RESULTS
from provenance import write_outputs

SEG_CONFIG: dict[str, Any] = {
    "name": "trainer refactor check, ISIC 2017 segmentation",
    "task": "segmentation",
    "data": {"source": "isic2017", "root": None, "task": "melanoma"},
    "model": {"backbone": "unet", "width": 8},
    "train": {
        "resolution": 64,
        "freeze_stages": 0,
        "epochs": 3,
        "batch_size": 8,
        "lr": 0.001,
        "patience": 0,
        "num_threads": 1,
        "channels_last": False,
    },
    "experiment": {
        "strategies": ["random", "pixel_entropy", "pixel_mc_dropout"],
        "seeds": [0],
        "initial": {"kind": "random", "size": 40},
        "budget": 20,
        "rounds": 2,
        "metric": "dice",
        "evaluate_on": "val",
    },
}
CLI = "from lesionlab.cli import app; app()"


def run_side(tree: Path, work: Path, data: Path) -> None:
    """The three runs with `tree`'s code (PYTHONPATH first, so an installed lesionlab does not answer)."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    work.mkdir(parents=True, exist_ok=True)
    seg = {**SEG_CONFIG, "data": {**SEG_CONFIG["data"], "root": str(data / "isic2017")}}
    (work / "seg.yaml").write_text(yaml.safe_dump({**seg, "output": str(work / "seg")}))
    commands = [
        [sys.executable, "-c", CLI, "demo", "--out", str(work / "demo"), "--force"],
        [sys.executable, "-c", CLI, "run", str(work / "seg.yaml"), "--force"],
        [
            *[sys.executable, "benchmarks/full_data.py", "--only", "isic2017_melanoma", "--seeds", "0"],
            *["--threads", "1", "--name", f"trainer_check_{work.name}"],
        ],
    ]
    for command in commands:
        subprocess.run(command, cwd=tree, env=env, check=True)


def _normalised(value: Any, roots: list[str]) -> Any:
    """`value` without timings, and with the tree's and the work folder's paths replaced."""
    if isinstance(value, dict):
        return {k: _normalised(v, roots) for k, v in value.items() if not k.endswith("_seconds")}
    if isinstance(value, list):
        return [_normalised(v, roots) for v in value]
    if isinstance(value, str):
        for root in roots:
            value = value.replace(root, "<root>")
    return value


def compare_runs(before: Path, after: Path, roots: tuple[list[str], list[str]]) -> dict[str, dict]:
    """Per experiment, strategy and seed: the same bought ids, the same metrics, the fields that differ."""
    out = {}
    for name in ("demo", "seg"):
        old = json.loads((before / name / "results.json").read_text())["runs"]
        new = json.loads((after / name / "results.json").read_text())["runs"]
        for run_b, run_a in zip(old, new, strict=True):
            rb, ra = _normalised(run_b["rounds"], roots[0]), _normalised(run_a["rounds"], roots[1])
            differing = sorted(
                {k for x, y in zip(rb, ra, strict=True) for k in {*x, *y} if x.get(k) != y.get(k)}
            )
            out[f"{name}/{run_b['strategy']}/seed{run_b['seed']}"] = {
                "rounds": len(rb),
                "identical_selections": [r.get("new_ids") for r in rb] == [r.get("new_ids") for r in ra],
                "identical_metrics": [r.get("metrics") for r in rb] == [r.get("metrics") for r in ra],
                "fields_differing": differing,
            }
    return out


def full_data_row(path: Path) -> dict[str, Any]:
    """Best epoch and test metrics of `full_data.py`'s melanoma seed 0."""
    unit = json.loads(path.read_text())["results"]["isic2017_melanoma"]["per_seed"][0]
    return {"best_epoch": unit["best_epoch"], **unit["metrics"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="source tree before the change")
    parser.add_argument("--after", type=Path, required=True, help="source tree after the change")
    parser.add_argument("--work", type=Path, required=True, help="folder for both sides' runs")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--compare-only", action="store_true")
    parser.add_argument("--before-commit", default=None, help="the before tree's commit, for the record")
    parser.add_argument("--after-commit", default=None, help="the after tree's commit, for the record")
    args = parser.parse_args()
    sides = {"before": args.before.resolve(), "after": args.after.resolve()}
    if not args.compare_only:
        for side, tree in sides.items():
            run_side(tree, args.work / side, args.data)
    roots = tuple([str(tree), str(args.work / side)] for side, tree in sides.items())
    runs = compare_runs(args.work / "before", args.work / "after", roots)
    full = {
        side: full_data_row(tree / "benchmarks" / "results" / f"trainer_check_{side}.json")
        for side, tree in sides.items()
    }
    write(runs, full, args)


def write(runs: dict[str, dict], full: dict[str, dict], args: argparse.Namespace) -> None:
    expected_differences = {"seg/pixel_mc_dropout/seed0"}  # MC-dropout masks now salted from image ids
    identical = [k for k, v in runs.items() if v["identical_selections"] and v["identical_metrics"]]
    unexpected = sorted(set(runs) - set(identical) - expected_differences)
    payload = {
        "what": "issue 32: the demo, an ISIC 2017 segmentation experiment and full-data ISIC 2017 melanoma "
        "(seed 0) before and after the one-trainer refactor, one thread each side",
        "config": {
            "segmentation": SEG_CONFIG,
            "before_commit": args.before_commit,
            "after_commit": args.after_commit,
        },
        "seeds": [0, 1],
        "results": {
            "runs": runs,
            "full_data_isic2017_melanoma_seed0": {**full, "identical": full["before"] == full["after"]},
            "identical_runs": len(identical),
            "compared_runs": len(runs),
            "unexpected_differences": unexpected,
        },
    }
    lines = [
        "# trainer_check: the same numbers before and after the one-trainer refactor (issue 32)",
        "",
        f"Before: {args.before_commit or args.before}; after: {args.after_commit or args.after}. One thread "
        "each side; `python benchmarks/trainer_check.py --before BEFORE_TREE --after AFTER_TREE --work DIR`.",
        "",
        "| run | rounds | same bought ids | same metrics |",
        "|---|---|---|---|",
        *[
            f"| {k} | {v['rounds']} | {v['identical_selections']} | {v['identical_metrics']} |"
            for k, v in runs.items()
        ],
        "",
        f"Full-data ISIC 2017 melanoma, seed 0: before {full['before']}, after {full['after']}; "
        f"identical: {full['before'] == full['after']}.",
        "",
        "`seg/pixel_mc_dropout` differs by design: its MC-dropout masks are now drawn from the seed and the "
        "images' ids, as classification's are (before: from the batch offset), so its picks from round 0 on "
        f"differ. Unexpected differences: {unexpected or 'none'}.",
    ]
    write_outputs(RESULTS / "trainer_check.json", payload, lines)


if __name__ == "__main__":
    main()
