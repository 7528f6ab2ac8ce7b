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
        isic2017_seborrheic_keratosis                                  # the full-data line (about 10 min)
    python benchmarks/al_baselines.py                                  # about 40 min on 2 cores

Interrupted runs resume from the pool states in results/al_baselines/<task>/state.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from _common import RESULTS, base_parser, machine, versions, write_json, write_text
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.evaluation.report import summarize, write_report
from lesionlab.loop.experiment import run_experiment

TASKS = ("melanoma", "seborrheic_keratosis")
TRAINED = ["random", "least_confidence", "bald"]
EQUIVALENT = {"entropy": "least_confidence", "margin": "least_confidence"}  # binary tasks only
FREEZE_STAGES = 6  # the AL configuration: see docs/reproduction.md (CPU budget of 90 trainings per task)


def experiment_config(
    task: str, data: Path, out: Path, seeds: list[int], full: dict | None, cache: Path, threads: int = 2
):
    return load_config(
        ExperimentConfig,
        {
            "name": f"ISIC 2017 {task}: uncertainty baselines vs random",
            "data": {"source": "isic2017", "root": str(data / "isic2017"), "task": task},
            "train": {"freeze_stages": FREEZE_STAGES, "num_threads": threads, "epochs": 20, "patience": 5},
            "experiment": {
                "strategies": TRAINED,
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


def full_data_line(name: str, task: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    entry = json.loads(path.read_text())["results"].get(f"isic2017_{task}")
    return {k: v["mean"] for k, v in entry.items() if isinstance(v, dict) and "mean" in v} if entry else None


def strategy_block(summary: dict, name: str, metric: str) -> dict:
    info = summary["strategies"][name]
    curve = [
        {"n_labeled": n, "fraction": p["x"], metric: {"mean": p["mean"], "se": p["sem"]}}
        for n, p in zip(info["n_labeled"], info["curves"][metric], strict=True)
    ]
    return {
        "alc": {"mean": info["alc"]["mean"], "se": info["alc"]["se"]},
        "labels_to_99pct_full": info["labels_to_target"],
        "saving_vs_random": info["saving_vs_random"],
        "vs_random": info["vs_random"],
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


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


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
            if sav is None
            else f", {sav:.0%} fewer labels than random to reach its best mean ({sav_info['target']:.3f})"
        )
        lines.append(
            f"- **{name} {word} random**: ALC {b['alc']['mean']:.3f} vs {base:.3f} "
            f"({diff:+.3f}, {diff / base:+.1%}){sav_s}; paired Wilcoxon over {points.get('n', 0)} "
            f"(seed, round) points p = {_p(points.get('p_wilcoxon'))}, over {n_seeds} seeds' curves "
            f"p = {_p(seeds.get('p_wilcoxon'))} (paired t p = {_p(seeds.get('p_ttest'))})."
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
    keys = ["auc", "acc", "ap", "sensitivity", "specificity"]
    return ", ".join(f"{k} {full[k]:.3f}" for k in keys if k in full)


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--full-data-name", default="full_data_freeze6")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 when tasks run in parallel)")
    args = parser.parse_args()

    results, md, walls = {}, [], {}
    for task in args.tasks:
        out = RESULTS / "al_baselines" / task
        full = full_data_line(args.full_data_name, task)
        config = experiment_config(task, args.data, out, args.seeds, full, args.cache_dir, args.threads)
        t0 = time.perf_counter()
        if (out / "results.json").exists():
            raw = json.loads((out / "results.json").read_text())
            raw["full_data"] = full or raw.get("full_data")  # the line may be computed after the runs
        else:
            raw = run_experiment(
                config,
                on_round=lambda s, seed, r, t=task: print(f"{t} {s} seed {seed} round {r}", flush=True),
            )
        walls[task] = raw.get("wall_seconds", time.perf_counter() - t0)
        write_report(raw, out)
        summary = summarize(raw)
        metric = raw["metric"]
        block = {name: strategy_block(summary, name, metric) for name in TRAINED}
        for name, same in EQUIVALENT.items():
            block[name] = {**block[same], "identical_to": same}
        block["full_data"] = full
        results[f"isic2017_{task}"] = block

        md += [f"## ISIC 2017 {task} (test {metric}, mean ± s.e. over seeds {args.seeds})", ""]
        header = "| strategy | " + " | ".join(f"{p['fraction']:.0%}" for p in block["random"]["curve"])
        md += [
            header
            + " | ALC | labels to 99 % full | saving vs random | p vs random (Wilcoxon over seeds / points) |"
        ]
        md += ["|---" * (len(block["random"]["curve"]) + 5) + "|"]
        for name in ["random", "least_confidence", "entropy", "margin", "bald"]:
            b = block[name]
            cells = " | ".join(f"{p[metric]['mean']:.3f} ± {p[metric]['se'] or 0:.3f}" for p in b["curve"])
            ltt = b["labels_to_99pct_full"]
            ltt_s = (
                f"{ltt['mean']:.0f} ({ltt['n_reached']}/{ltt['n_seeds']} seeds)"
                if ltt and ltt.get("mean")
                else "not reached"
            )
            sav = b["saving_vs_random"]
            sav_s = f"{sav['value']:+.0%}" if sav and sav.get("value") is not None else "—"
            vs = b["vs_random"] or {}
            p_seeds = (vs.get("seeds_test") or {}).get("p_wilcoxon")
            p_points = (vs.get("points_test") or {}).get("p_wilcoxon")
            p_s = "—" if name == "random" else f"{_p(p_seeds)} / {_p(p_points)}"
            label = name + (f" (= {b['identical_to']})" if "identical_to" in b else "")
            md.append(
                f"| {label} | {cells} | {b['alc']['mean']:.3f} ± {b['alc']['se']:.3f} "
                f"| {ltt_s} | {sav_s} | {p_s} |"
            )
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
            "freeze_stages": FREEZE_STAGES,
            "experiment": experiment_config(
                args.tasks[0], args.data, Path("."), args.seeds, None, args.cache_dir
            ).model_dump(mode="json"),
        },
        "seeds": args.seeds,
        "versions": versions(),
        "machine": machine(),
        "wall_seconds": walls,
    }
    write_json(RESULTS / "al_baselines.json", payload)
    text = [
        "# Active-learning baselines on ISIC 2017 (EfficientNet-Lite0, CPU fast path, freeze_stages 6)",
        "",
        "Reproduce: see the docstring of `benchmarks/al_baselines.py`. "
        "Reports: `results/al_baselines/<task>/report.html`.",
        "",
        *md,
    ]
    write_text(RESULTS / "al_baselines.md", "\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
