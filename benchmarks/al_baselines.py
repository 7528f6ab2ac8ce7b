"""Uncertainty baselines against random selection on ISIC 2017 tasks 1 and 2.

Protocol: 10 % random start, +10 % of the pool per round up to 50 %, 3 seeds; strategies random,
least confidence, entropy, margin and BALD (10 MC-dropout passes); the epoch of every round is picked on
the 150 validation images, metrics on the 600 test images. The full-data line comes from
`full_data.py` run with the same training configuration (`results/<full-data-name>.json`).

For two classes, least confidence (1 - max p), margin (-(p1 - p2) = 1 - 2 max p) and entropy are strictly
increasing functions of each other, so with the same seeded tie-break they select exactly the same images
(tests/test_strategies.py::test_binary_uncertainty_rankings_coincide). The benchmark therefore trains
least confidence once and reports its curve for entropy and margin too, marked `identical_to`.

    python benchmarks/full_data.py --freeze-stages 6 --name full_data_freeze6 --only isic2017_melanoma \
        isic2017_seborrheic_keratosis                       # the full-data line (17 min measured, 1 thread)
    python benchmarks/al_baselines.py                       # 34 + 39 min measured for the two tasks, 2 cores

Interrupted runs resume from the pool states in results/al_baselines/<task>/state (kept on this machine,
not committed). A finished results.json is reused only if it was made with the same configuration; see
benchmarks/README.md for the run order and times.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from al_common import (
    experiment_config,
    finished_or_run,
    full_data_entry,
    labels_text,
    means,
    p_text,
    strategy_block,
)
from common import RESULTS, base_parser, saving_cell
from lesionlab.evaluation.report import summarize, write_report
from provenance import write_outputs

TASKS = ("melanoma", "seborrheic_keratosis")
TRAINED = ["random", "least_confidence", "bald"]
EQUIVALENT = {"entropy": "least_confidence", "margin": "least_confidence"}  # binary tasks only


def config_for(
    task: str, data: Path, out: Path, seeds: list[int], full: dict | None, cache: Path, threads: int = 2
):
    return experiment_config(
        f"ISIC 2017 {task}: uncertainty baselines vs random",
        task,
        data,
        out,
        seeds,
        cache,
        strategies={name: {} for name in TRAINED},
        full=full,
        threads=threads,
    )


def verdict(block: dict, n_seeds: int) -> list[str]:
    """One sentence per uncertainty strategy: does it beat random, by how much, with what p-value."""
    base = block["random"]["alc"]["mean"]
    lines = []
    for name in TRAINED[1:]:
        b = block[name]
        vs = b["vs_random"] or {}
        points, seeds = vs.get("points_test") or {}, vs.get("seeds_test") or {}
        diff = b["alc"]["mean"] - base
        sav_info = b["saving_vs_random"] or {}
        sav = sav_info.get("value")
        word = "beats" if diff > 0 and (points.get("p_wilcoxon") or 1) <= 0.05 else "does not clearly beat"
        if diff <= 0:
            word = "does not beat"
        sav_s = (
            ""
            if sav is None or diff < 0
            else f", {sav:.0%} fewer labels than random to reach its best mean ({sav_info['target']:.3f})"
        )
        lines.append(
            f"- **{name} {word} random**: ALC {b['alc']['mean']:.3f} vs {base:.3f} "
            f"({diff:+.3f}, {diff / base:+.1%}){sav_s}; paired Wilcoxon over {points.get('n', 0)} "
            f"(seed, round) points p = {p_text(points)}, over {n_seeds} seeds' curves "
            f"p = {p_text(seeds)} (paired t p = {p_text(seeds, 'p_ttest')})."
        )
    lines.append(
        f"- With {n_seeds} seeds the exact two-sided Wilcoxon test over seeds cannot go below "
        f"{2 / 2**n_seeds:.2f}; the test over (seed, round) points is the sharper one, and treats rounds "
        "of one seed as independent, which they are not quite."
    )
    return lines


def _full_line(full: dict | None) -> str:
    if not full:
        return "not available"
    keys = ["auc", "accuracy", "ap", "sensitivity", "specificity"]
    return ", ".join(f"{k} {full[k]:.3f}" for k in keys if k in full)


def task_lines(task: str, block: dict[str, Any], metric: str, seeds: list[int]) -> list[str]:
    """One task's table: each strategy's curve, ALC, labels to 99 % of full data, saving and p vs random."""
    md = [f"## ISIC 2017 {task} (test {metric}, mean ± s.e. over seeds {seeds})", ""]
    header = "| strategy | " + " | ".join(f"{p['fraction']:.0%}" for p in block["random"]["curve"])
    md += [
        header
        + " | ALC | labels to 99 % full | saving vs random | p vs random (Wilcoxon over seeds / points) |"
    ]
    md += ["|---" * (len(block["random"]["curve"]) + 5) + "|"]
    for name in ["random", "least_confidence", "entropy", "margin", "bald"]:
        b = block[name]
        cells = " | ".join(f"{p[metric]['mean']:.3f} ± {p[metric]['se'] or 0:.3f}" for p in b["curve"])
        sav_s = saving_cell(b, block["random"]["alc"]["mean"])
        vs = b["vs_random"] or {}
        p_s = "—" if name == "random" else f"{p_text(vs.get('seeds_test'))} / {p_text(vs.get('points_test'))}"
        label = name + (f" (= {b['identical_to']})" if "identical_to" in b else "")
        md.append(
            f"| {label} | {cells} | {b['alc']['mean']:.3f} ± {b['alc']['se']:.3f} "
            f"| {labels_text(b)} | {sav_s} | {p_s} |"
        )
    return md


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--full-data-name", default="full_data_freeze6")
    args = parser.parse_args()

    results, md, walls = {}, [], {}
    for task in args.tasks:
        out = RESULTS / "al_baselines" / task
        full = means(full_data_entry(args.full_data_name, task))
        config = config_for(task, args.data, out, args.seeds, full, args.cache_dir, args.threads)
        t0 = time.perf_counter()
        raw = finished_or_run(
            config, on_round=lambda s, seed, r, t=task: print(f"{t} {s} seed {seed} round {r}", flush=True)
        )
        raw["full_data"] = full or raw.get("full_data")  # the line may be computed after the runs
        walls[task] = raw.get("wall_seconds", time.perf_counter() - t0)
        write_report(raw, out)
        summary = summarize(raw)
        metric = summary["metric"]
        block = {name: strategy_block(summary, name) for name in TRAINED}
        for name, same in EQUIVALENT.items():
            block[name] = {**block[same], "identical_to": same}
        block["full_data"] = full
        results[f"isic2017_{task}"] = block

        md += task_lines(task, block, metric, args.seeds)
        md += [
            "",
            f"Full-data line (same training configuration, `{args.full_data_name}.json`): "
            f"{_full_line(full)}. Wall time {walls[task]:.0f} s.",
            "",
            "Verdict:",
            "",
            *verdict(block, len(args.seeds)),
            "",
        ]

    payload = {
        "results": results,
        "config": {
            "trained": TRAINED,
            "equivalent": EQUIVALENT,
            "experiment": config_for(
                args.tasks[0], args.data, Path("."), args.seeds, None, args.cache_dir
            ).model_dump(mode="json"),
        },
        "seeds": args.seeds,
        "wall_seconds": walls,
    }
    text = [
        "# Active-learning baselines on ISIC 2017 (EfficientNet-Lite0, CPU fast path, freeze_stages 6)",
        "",
        "Reproduce: see the docstring of `benchmarks/al_baselines.py` "
        "(run order and times: `benchmarks/README.md`). Reports: `results/al_baselines/<task>/report.html`.",
        "",
        *md,
    ]
    write_outputs(RESULTS / "al_baselines.json", payload, text)
    print("\n".join(text))


if __name__ == "__main__":
    main()
