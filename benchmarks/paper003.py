"""Kim et al. 2020, "Confident Coreset for Active Learning in Medical Image Analysis"
(arXiv 2020) on HAM10000 7-class: core-set, learned loss, VAAL and confident coreset.

The paper's protocol on our data: the pool is the 5984 HAM10000 training images minus a lesion-grouped,
stratified 15 % validation part (epoch choice each round), the test set the 1512 ISIC 2018 Task 3 images;
10 % random start, +5 % of the pool per round up to 40 % (6 rounds), accuracy as the metric, 3 seeds (the
paper uses 5). Training: the active-learning configuration of the other benchmarks (`freeze_stages: 6`, up
to 20 epochs, patience 5) with HAM10000's chosen class weighting (`sqrt`, ham_selection.json). The
full-data line is the same training on the whole pool (one run per seed through the same runner).

Parts, each one run of about three hours on 2 cores (resumable: every row is one experiment folder
under results/paper003/ham10000_7class/<row>/ whose rounds are checkpointed):

    python benchmarks/paper003.py --part main        # full data, random, entropy, coreset, learning_loss,
                                                      # vaal, confident_coreset (alpha 0.25)
    python benchmarks/paper003.py --part ablations   # Eq. 6 sum, rank fusion, sequential half-and-half
    python benchmarks/paper003.py --part alpha       # alpha 0.5 and 0.75 (0.25 is the main row; 0 and 1
                                                      # are learning_loss and coreset, see ALPHA_ROWS)
    python benchmarks/paper003.py --summarize        # tables and json from whatever rows have finished

`--rows a b` runs only those rows (two processes with disjoint rows and `--threads 1` use both cores).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from al_common import finished_or_run, labels_text, load_results, p_text, strategy_block, summary_of
from common import RESULTS, base_parser, fmt
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.data.sources import load_source
from lesionlab.evaluation.metrics import mean_se
from lesionlab.evaluation.report import write_report
from provenance import write_outputs

DATASET = "ham10000_7class"
OUT = RESULTS / "paper003" / DATASET
VAL_FRACTION = 0.15  # the lesion-grouped validation part of ham_selection.py / ham_tta.py
METRIC = "accuracy"
KEYS = ["accuracy", "balanced_accuracy", "macro_auc"]
INITIAL, STEP, LAST = 0.10, 0.05, 0.40
ROUNDS = round((LAST - INITIAL) / STEP)  # 6 rounds: 10, 15, ..., 40 %
TRAIN = {"freeze_stages": 6, "epochs": 20, "patience": 5, "class_weights": "sqrt"}
PARTS: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "main": {
        "random": ("random", {}),
        "entropy": ("entropy", {}),
        "coreset": ("coreset", {}),
        "learning_loss": ("learning_loss", {}),
        "vaal": ("vaal", {}),
        "confident_coreset": ("confident_coreset", {"alpha": 0.25}),
    },
    "ablations": {
        "confident_coreset_sum": ("confident_coreset_sum", {}),
        "confident_coreset_rank": ("confident_coreset_rank", {}),
        "confident_coreset_sequential": ("confident_coreset_sequential", {}),
    },
    "alpha": {f"alpha_{a}": ("confident_coreset", {"alpha": a}) for a in (0.5, 0.75)},
}
ROWS = {row: spec for part in PARTS.values() for row, spec in part.items()}
# The sweep's ends are other rows, not new runs: at alpha = 0 and 1 confident_coreset runs learning_loss's
# and coreset's own selection code (selection/coreset.py), and the loss predictor's taps are detached, so
# the model trains exactly as without it (tests/test_loss_predictor.py). Same seeds, same start, same
# picks, same models: the runs would repeat those rows bit for bit.
ALPHA_ROWS = {
    0.0: "learning_loss",
    0.25: "confident_coreset",
    0.5: "alpha_0.5",
    0.75: "alpha_0.75",
    1.0: "coreset",
}
# Kim et al. 2020, ISIC 2018 / HAM10000 classification (ResNet-18, 5 seeds): accuracy at 35 % of the labels
# against all labels, and the ordering it reports.
PAPER = {"confident_coreset_at_35pct": 0.843, "full_data": 0.852}


def base(data: Path, cache: Path | None, threads: int, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "data": {
            "source": "ham10000",
            "root": str(data / "ham10000"),
            "task": "7class",
            "options": {"val_fraction": VAL_FRACTION, "seed": 0},
        },
        "train": {**TRAIN, "num_threads": threads, "progress": False},
        "output": str(OUT / name),
        "cache_dir": None if cache is None else str(cache),
    }


def row_config(row: str, data: Path, seeds: list[int], cache, threads: int, full: dict | None):
    strategy, params = ROWS[row]
    config = base(data, cache, threads, row)
    config["experiment"] = {
        "strategies": [strategy],
        "strategy_params": {strategy: params} if params else {},
        "seeds": seeds,
        "initial": {"kind": "random", "size": INITIAL},
        "budget": STEP,
        "rounds": ROUNDS,
        "metric": METRIC,
        "full_data": full,
    }
    return load_config(ExperimentConfig, config)


def pool_size(data: Path) -> int:
    ds = load_source("ham10000", data / "ham10000", "7class", val_fraction=VAL_FRACTION, seed=0)
    return sum(r.split == "train" for r in ds.records)


def full_config(data: Path, seeds: list[int], cache, threads: int) -> ExperimentConfig:
    """The whole pool labelled from the start, no rounds: the same training, the same runner."""
    config = base(data, cache, threads, "full_data")
    config["experiment"] = {
        "strategies": ["random"],
        "seeds": seeds,
        "initial": {"kind": "random", "size": pool_size(data)},
        "rounds": 0,
        "metric": METRIC,
    }
    return load_config(ExperimentConfig, config)


def full_line(raw: dict[str, Any]) -> dict[str, dict[str, float]]:
    values = {k: [run["rounds"][-1]["metrics"][k] for run in raw["runs"]] for k in KEYS}
    return {k: {kk: mean_se(v)[kk] for kk in ("mean", "se")} for k, v in values.items()}


def at_fraction(raw: dict[str, Any], fraction: float) -> dict[str, float]:
    values = []
    for run in raw["runs"]:
        point = min(run["rounds"], key=lambda r: abs(r["fraction"] - fraction))
        values.append(point["metrics"][METRIC])
    stat = mean_se(values)
    return {"mean": stat["mean"], "se": stat["se"]}


def row_block(raw: dict[str, Any], row: str, random_raw: dict[str, Any] | None) -> dict[str, Any]:
    strategy = ROWS[row][0]
    # Rows that run the same strategy (the alpha sweep) are told apart by their folder, not their name.
    block = strategy_block(summary_of(raw, random_raw if row != "random" else None), strategy)
    block["at_35pct"] = at_fraction(raw, 0.35)
    block["p_vs_random"] = ((block.get("vs_random") or {}).get("points_test") or {}).get("p_wilcoxon")
    block["compute_minutes"] = (
        sum(r["train_seconds"] + r["selection_seconds"] for run in raw["runs"] for r in run["rounds"]) / 60
    )
    return block


def run_rows(rows: list[str], args, full: dict | None) -> None:
    for row in rows:
        config = row_config(row, args.data, args.seeds, args.cache_dir, args.threads, full)
        print(f"{DATASET}: {row}", flush=True)
        raw = finished_or_run(config)
        write_report(raw, Path(config.output))


def summarize_rows(args) -> tuple[dict[str, Any], list[str]]:
    raws = {row: load_results(OUT / row) for row in ROWS}
    raws = {row: raw for row, raw in raws.items() if raw is not None}
    full_raw = load_results(OUT / "full_data")
    full = full_line(full_raw) if full_raw else None
    for raw in raws.values():  # the line as it is now, whenever the row ran
        raw["full_data"] = {k: v["mean"] for k, v in full.items()} if full else None
    random_raw = raws.get("random")
    results: dict[str, Any] = {
        row: row_block(raw, row, None if row == "random" else random_raw) for row, raw in raws.items()
    }
    if full:
        results["full_data"] = full
    md = [f"## HAM10000 7-class, ISIC 2018 test ({METRIC}, mean ± s.e. over seeds {args.seeds})", ""]
    if not results:
        return results, [*md, "No row has finished yet."]
    fractions = [
        p["fraction"] for p in next(iter(r for k, r in results.items() if k != "full_data"))["curve"]
    ]
    md += [
        "| row | " + " | ".join(f"{f:.0%}" for f in fractions) + " | ALC | labels to 99 % full | "
        "p vs random (points / seeds) | minutes |",
        "|---|" + "---|" * len(fractions) + "---|---|---|---|",
    ]
    pool = (random_raw or next(iter(raws.values())))["pool_size"]
    for row, b in results.items():
        if row == "full_data":
            continue
        cells = " | ".join(fmt(p[METRIC]) for p in b["curve"])
        tests = b.get("vs_random") or {}
        points, seeds = (p_text(tests.get(k), missing="—") for k in ("points_test", "seeds_test"))
        md.append(
            f"| {row} | {cells} | {fmt(b['alc'])} | {labels_text(b, pool)} | {points} / {seeds} "
            f"| {b['compute_minutes']:.0f} |"
        )
    if full:
        md += [
            "",
            "Full data (same training, whole pool of "
            + f"{pool} images): "
            + ", ".join(f"{k} {fmt(v)}" for k, v in full.items())
            + ".",
        ]
    md += [
        "",
        "Targets (confident_coreset's ALC beats coreset's and learning_loss's; all three beat random):",
        "",
    ]
    md += target_lines(results)
    md += variant_tables(results)
    if sweep := alpha_sweep(results):
        results["alpha_sweep"] = sweep
    return results, md


def alpha_sweep(results: dict[str, Any]) -> dict[str, Any]:
    """Sec. 4.2's sweep read from the rows that hold each alpha (ALPHA_ROWS)."""
    return {
        str(alpha): {"row": row, "alc": results[row]["alc"], "at_35pct": results[row]["at_35pct"]}
        for alpha, row in ALPHA_ROWS.items()
        if row in results
    }


def variant_tables(results: dict[str, Any]) -> list[str]:
    """The aggregation ablations and the alpha sweep, each beside confident_coreset (product, 0.25)."""
    md: list[str] = []
    aggregations = ["confident_coreset", *PARTS["ablations"]]
    if len([r for r in aggregations if r in results]) > 1:
        md += ["", "Aggregation (Sec. 4.2):", "", "| aggregation | ALC | accuracy at 35 % |", "|---|---|---|"]
        md += [
            f"| {r} | {fmt(results[r]['alc'])} | {fmt(results[r]['at_35pct'])} |"
            for r in aggregations
            if r in results
        ]
    sweep = alpha_sweep(results)
    if len(sweep) > 1:
        md += ["", "Alpha (Eq. 5; 0 and 1 are the learning_loss and coreset rows, see ALPHA_ROWS):", ""]
        md += ["| alpha | row | ALC | accuracy at 35 % |", "|---|---|---|---|"]
        md += [f"| {a} | {b['row']} | {fmt(b['alc'])} | {fmt(b['at_35pct'])} |" for a, b in sweep.items()]
    return md


def target_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    cc = results.get("confident_coreset")
    for other in ("coreset", "learning_loss", "random"):
        if cc is None or other not in results:
            continue
        diff = cc["alc"]["mean"] - results[other]["alc"]["mean"]
        lines.append(
            f"- confident_coreset vs {other}: ALC {cc['alc']['mean']:.4f} vs "
            f"{results[other]['alc']['mean']:.4f} "
            f"({diff:+.4f}): **{'met' if diff > 0 else 'missed'}**"
        )
    for row in ("coreset", "learning_loss"):
        if row in results and "random" in results:
            diff = results[row]["alc"]["mean"] - results["random"]["alc"]["mean"]
            lines.append(
                f"- {row} vs random: ALC {diff:+.4f}, paired Wilcoxon over (seed, round) points "
                f"p = {p_text((results[row].get('vs_random') or {}).get('points_test'))}: "
                f"**{'met' if diff > 0 else 'missed'}**"
            )
    if cc is not None and "full_data" in results:
        lines.append(
            f"- Paper: {PAPER['confident_coreset_at_35pct']:.3f} at 35 % vs {PAPER['full_data']:.3f} "
            f"with all labels; here {cc['at_35pct']['mean']:.3f} ± {cc['at_35pct']['se']:.3f} at 35 % vs "
            f"{results['full_data'][METRIC]['mean']:.3f} ± {results['full_data'][METRIC]['se']:.3f}."
        )
    return lines


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--part", choices=list(PARTS), nargs="+", default=[])
    parser.add_argument("--rows", nargs="+", choices=[*ROWS, "full_data"], default=[])
    parser.add_argument("--summarize", action="store_true", help="only write the tables from finished rows")
    args = parser.parse_args()
    t_start = time.perf_counter()

    rows = list(args.rows) + [row for part in args.part for row in PARTS[part]]
    full = None
    if not args.summarize and ("full_data" in rows or "main" in args.part):
        raw = finished_or_run(full_config(args.data, args.seeds, args.cache_dir, args.threads))
        full = {k: v["mean"] for k, v in full_line(raw).items()}
    elif (full_raw := load_results(OUT / "full_data")) is not None:
        full = {k: v["mean"] for k, v in full_line(full_raw).items()}
    if not args.summarize:
        run_rows([r for r in rows if r != "full_data"], args, full)

    results, md = summarize_rows(args)
    payload = {
        "results": {DATASET: results},
        "config": {
            "parts": {
                part: {row: list(spec) for row, spec in specs.items()} for part, specs in PARTS.items()
            },
            "experiment": row_config(
                "confident_coreset", args.data, args.seeds, args.cache_dir, args.threads, None
            ).model_dump(mode="json"),
            "p_values": "paired Wilcoxon of test accuracy against random over (seed, round) points and seeds",
        },
        "paper": PAPER,
        "seeds": args.seeds,
        "wall_seconds_this_call": time.perf_counter() - t_start,
    }
    head = [
        "# Reproduction of Kim et al. 2020 (confident coreset): HAM10000 7-class",
        "",
        "Reproduce: `python benchmarks/paper003.py --part main ablations alpha` (resumable; see the",
        "docstring for the parts and their times). Minutes: training and selection time of a row, summed",
        "over its seeds and rounds (1 thread).",
        "",
    ]
    write_outputs(RESULTS / "paper003.json", payload, head + md)
    print("\n".join(md))
    print(json.dumps({"finished_rows": sorted(r for r in results if r in ROWS or r == "full_data")}))


if __name__ == "__main__":
    main()
