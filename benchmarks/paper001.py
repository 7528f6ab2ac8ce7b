"""Zhao et al. 2022, "Self-supervised Assisted Active Learning for Skin Lesion Segmentation"
(EMBC 2022) on ISIC 2017 segmentation: self-supervised cold start and warm start.

The paper's protocol: the 2000 ISIC 2017 training images with masks, a fixed split into a pool of 1600 and
400 test images; Models Genesis pre-training on the pool (no labels); a base set of 300 chosen at random
or by `ssl_kmeans` (k = 10, AAP 512 x 2 x 2), trained 10 epochs from random or pre-trained weights; then
T = 9 rounds of +35 labels with 2 epochs each on the continued model; Dice (and Jaccard), 3 seeds. The
150 official validation masks pick each fit's epoch (the paper gives no model selection).

CPU configuration (docs/reproduction.md, the Zhao et al. 2022 section): the paper's U-Net shape at width 16
(128 channels at 1/16 resolution instead of 512) on 128 x 128 inputs (the paper: 256), batch 8, Adam 1e-3;
so AAP 2 x 2 gives 512-d features (the paper: 2048) and AAP 1 x 1 128-d (the paper: 512). `--paper-shape`
runs width 64 at 256 px, the paper's configuration, for a machine with a GPU.

Units (each resumable; results under results/paper001/<row>/seed<k>/, one experiment per row and seed):

    python benchmarks/paper001.py --rows pretrain                   # Models Genesis on the pool (seed 0)
    python benchmarks/paper001.py --rows random ssl_kmeans random_ssl_weights ssl_kmeans_ssl_weights
                                      # Table I: base set of 300, then 8 rounds of +35 (to 580 labels)
    python benchmarks/paper001.py --rows k5_pool1 k5_pool2 k10_pool1 # Table II (k10, pool 2: row ssl_kmeans)
    python benchmarks/paper001.py --rows curves                     # Fig. 2: 9 strategies x 9 rounds
    python benchmarks/paper001.py --rows curves --seeds 2 --strategies random pixel_entropy ...
                                      # one seed's curves split over two processes (two cores)
    python benchmarks/paper001.py --rows full_data                  # all 1600 pool masks, 10 epochs
    python benchmarks/paper001.py --summarize                       # paper001.json / .md from finished rows

`--seeds 0` and `--threads 1` run one seed on one core (two processes side by side use both cores).
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import RESULTS, base_parser, fmt
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.evaluation.curves import alc, labels_to_target
from lesionlab.evaluation.metrics import mean_se
from lesionlab.evaluation.report import write_report
from lesionlab.evaluation.statistics import compare_curves
from lesionlab.runner.experiment import run_experiment
from lesionlab.selfsup.config import PretrainConfig
from lesionlab.selfsup.pretrain import CHECKPOINT, pretrain
from provenance import write_outputs

OUT = RESULTS / "paper001"
POOL, TEST, SPLIT_SEED = 1600, 400, 2017
BASE, STEP, ROUNDS, EPOCHS0, EPOCHS = 300, 35, 9, 10, 2
TABLE1_ROUNDS = 8  # Table I's points: 300, 370, 440, 510, 580 labels = rounds 0, 2, 4, 6, 8 of +35
TABLE1_ROWS = ("random", "ssl_kmeans", "random_ssl_weights", "ssl_kmeans_ssl_weights")
CPU = {"width": 16, "resolution": 128}
PAPER_SHAPE = {"width": 64, "resolution": 256}
PRETRAIN_EPOCHS = 10  # the paper gives none
KEYS = ["dice", "jaccard"]
BASE_ROWS = {  # row -> (initial selection, ssl_kmeans params or None, SSL weights?)
    "random": ("random", None, False),
    "ssl_kmeans": ("strategy", {"k": 10, "pool": 2}, False),
    "random_ssl_weights": ("random", None, True),
    "ssl_kmeans_ssl_weights": ("strategy", {"k": 10, "pool": 2}, True),
    # Table II is "without initializing pre-trained weights": the SSL encoder clusters, the U-Net starts
    # from random weights. Its k = 10, AAP 2048 column is the ssl_kmeans row above.
    "k5_pool1": ("strategy", {"k": 5, "pool": 1}, False),
    "k5_pool2": ("strategy", {"k": 5, "pool": 2}, False),
    "k10_pool1": ("strategy", {"k": 10, "pool": 1}, False),
}
CURVE_STRATEGIES = [
    "random",
    "pixel_entropy",
    "pixel_mc_dropout",
    "pixel_ens_s",
    "pixel_ens_js",
    "ceal",
    "coreset",
    "confident_coreset",
    "ssl_kmeans",
]
# Zhao et al. 2022, Table I: Dice per label count for each row.
PAPER_TABLE1 = {
    "random": {300: 0.580, 370: 0.657, 440: 0.717, 510: 0.687, 580: 0.774},
    "random_ssl_weights": {300: 0.682, 370: 0.576, 440: 0.696, 510: 0.725, 580: 0.785},
    "ssl_kmeans": {300: 0.744, 370: 0.683, 440: 0.743, 510: 0.765, 580: 0.797},
    "ssl_kmeans_ssl_weights": {300: 0.732, 370: 0.682, 440: 0.763, 510: 0.777, 580: 0.803},
}
# Kim et al. 2020 ("Confident Coreset for Active Learning in Medical Image Analysis"): confident coreset
# reached 67.04 % Jaccard at 20 % of the labels, random at 30-35 %;
# full data 69.2 %.
PAPER003_REACH_SHARE = 0.6704 / 0.692
# Zhao et al. 2022, Table I (Dice at 300 labels, then 580) and Kim et al. 2020's segmentation (Jaccard,
# ISIC 2017).
PAPER = {
    "dice_random_300": 0.580,
    "dice_random_ssl_weights_300": 0.682,
    "dice_ssl_kmeans_300": 0.744,
    "dice_ssl_kmeans_ssl_weights_300": 0.732,
    "dice_ssl_kmeans_ssl_weights_580": 0.803,
    "paper003_jaccard_confident_coreset_30pct": 0.683,
    "paper003_jaccard_full": 0.692,
}


def prepare_data(data: Path, out: Path) -> Path:
    """A folder-source copy (symlinks) of ISIC 2017 with the paper's fixed split: 1600 pool (train) and
    400 test from the training images, the 150 validation images as val. Returns the folder."""
    root = Path(data) / "isic2017"
    folder = out / "data"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    rows = []
    for stem, split in (("ISIC-2017_Training", "train"), ("ISIC-2017_Validation", "val")):
        with open(root / f"{stem}_Part3_GroundTruth.csv", newline="") as fh:
            labels = {r["image_id"]: float(r["melanoma"]) for r in csv.DictReader(fh)}
        ids = sorted(labels)
        if split == "train":
            order = np.random.default_rng(SPLIT_SEED).permutation(len(ids))
            splits = {ids[i]: ("train" if k < POOL else "test") for k, i in enumerate(order)}
        else:
            splits = dict.fromkeys(ids, "val")
        for image_id in ids:
            for src, dst in (
                (root / f"{stem}_Data" / f"{image_id}.jpg", folder / "images" / f"{image_id}.jpg"),
                (
                    root / f"{stem}_Part1_GroundTruth" / f"{image_id}_segmentation.png",
                    folder / "masks" / f"{image_id}_segmentation.png",
                ),
            ):
                if not dst.is_symlink():
                    dst.symlink_to(src.resolve())
            label = "melanoma" if labels[image_id] == 1.0 else "other"
            rows.append(f"{image_id},{label},{splits[image_id]}")
    csv_path = folder / "labels.csv"
    text = "image_id,label,split\n" + "\n".join(rows) + "\n"
    if not csv_path.exists() or csv_path.read_text() != text:
        csv_path.write_text(text)
    return folder


def data_section(folder: Path) -> dict[str, Any]:
    return {
        "source": "folder",
        "root": str(folder / "images"),
        "options": {
            "csv": str(folder / "labels.csv"),
            "masks": str(folder / "masks"),
            "positive": "melanoma",
        },
    }


def pretrain_unit(folder: Path, shape: dict[str, int], cache: Path, threads: int) -> Path:
    out = OUT / "pretrain"
    if not (out / CHECKPOINT).exists():
        cfg = load_config(
            PretrainConfig,
            {
                "data": data_section(folder),
                "model": {"backbone": "unet", "width": shape["width"], "weights": "none"},
                "epochs": PRETRAIN_EPOCHS,
                "batch_size": 8,
                "resolution": shape["resolution"],
                "num_threads": threads,
                "output": str(out),
                "cache_dir": str(cache),
            },
        )
        pretrain(cfg)
    return out / CHECKPOINT


def curve_folder(seed: int, strategies: list[str]) -> str:
    """`seed<k>` for all curve strategies; a subset (one seed split over processes) adds its names."""
    if not strategies or strategies == CURVE_STRATEGIES:
        return f"seed{seed}"
    return f"seed{seed}_" + "+".join(strategies)


def row_config(
    row: str,
    folder: Path,
    shape: dict[str, int],
    seeds: list[int],
    cache: Path,
    threads: int,
    ckpt: Path,
    subset: list[str] | None = None,
) -> ExperimentConfig:
    curves = row == "curves"
    full = row == "full_data"
    initial, params, ssl_weights = BASE_ROWS.get(row, ("strategy", {"k": 10, "pool": 2}, True))
    if full:
        initial, params, ssl_weights = "random", None, False
    kmeans = {**(params or {"k": 10, "pool": 2}), "checkpoint": str(ckpt)}
    # Table I continues each base set for 8 rounds with its own criterion (random or ssl_kmeans);
    # Table II and full data are the base set only.
    table1 = row in TABLE1_ROWS
    per_round = "ssl_kmeans" if initial == "strategy" else "random"
    strategies = (subset or CURVE_STRATEGIES) if curves else [per_round if table1 else "random"]
    # ssl_kmeans picks the base set of the curves and the clustered rows; confident_coreset's alpha only
    # when it runs (a split seed's subset may leave it out, and the runner refuses unused params).
    strategy_params: dict[str, Any] = {"ssl_kmeans": kmeans} if curves or initial == "strategy" else {}
    if "confident_coreset" in strategies:
        strategy_params["confident_coreset"] = {"alpha": 0.5}
    experiment: dict[str, Any] = {
        "strategies": strategies,
        "strategy_params": strategy_params,
        "seeds": seeds,
        "initial": {"kind": initial, "size": POOL if full else BASE}
        | ({"strategy": "ssl_kmeans"} if initial == "strategy" else {}),
        "budget": STEP,
        "rounds": ROUNDS if curves else TABLE1_ROUNDS if table1 else 0,
        "round_epochs": EPOCHS,
        "learning": "acft_lq",  # the paper continues training the same model each round
        "continual_lr_scale": 1.0,
        "mc_samples": 10,
        "ensemble_size": 3,
        # Fig. 2's committees: members fine-tuned on each round like the model (Zhao et al.'s protocol),
        # not retrained afresh: ~2.4x cheaper per round on CPU (docs/reproduction.md, Zhao et al. 2022).
        "ensemble_members": "continued" if curves else "fresh",
        "evaluate_on": "test",
        "metric": "dice",
    }
    return load_config(
        ExperimentConfig,
        {
            "name": f"paper001 {row}",
            "task": "segmentation",
            "data": data_section(folder),
            "model": {
                "backbone": "unet",
                "width": shape["width"],
                "weights": str(ckpt) if ssl_weights else "none",
                "dropout": 0.2,
            },
            "train": {
                "resolution": shape["resolution"],
                "preprocessing": "grayscale_minmax",
                "epochs": EPOCHS0,
                "batch_size": 8,
                "lr": 1e-3,
                "patience": 0,
                "freeze_stages": 0,
                "augmentation": "light",
                "num_threads": threads,
            },
            "experiment": experiment,
            "output": str(OUT / row / curve_folder(seeds[0], subset or []) if len(seeds) == 1 else OUT / row),
            "cache_dir": str(cache),
            "check_files": False,
        },
    )


def run_row(config: ExperimentConfig) -> dict[str, Any]:
    """One (row, seed) experiment in its own folder, so processes on other seeds never share one."""
    done = Path(config.output) / "results.json"
    if done.exists():
        return json.loads(done.read_text())
    return run_experiment(config)


def load_row(row: str) -> dict[str, Any] | None:
    """Every finished seed of `row` as one results dict (runs of all seeds), or None."""
    files = sorted((OUT / row).glob("seed*/results.json"))
    if not files:
        return None
    raws = [json.loads(f.read_text()) for f in files]
    runs = [run for raw in raws for run in raw["runs"]]
    keys = [(run["strategy"], run["seed"]) for run in runs]
    if repeated := sorted({k for k in keys if keys.count(k) > 1}):
        raise SystemExit(
            f"{OUT / row}: (strategy, seed) {repeated} finished in more than one seed folder; "
            "keep one (a whole seed<k> or its split seed<k>_<strategies> folders) and summarize again"
        )
    return {**raws[0], "runs": runs}


def _stats(values: list[float]) -> dict[str, float]:
    return {k: v for k, v in mean_se(values).items() if k in ("mean", "se", "n")}


def round_metrics(raw: dict[str, Any], strategy: str, round_: int) -> dict[str, dict[str, float]]:
    runs = [r for r in raw["runs"] if r["strategy"] == strategy]
    return {
        k: _stats([r["rounds"][round_]["metrics"][k] for r in runs if len(r["rounds"]) > round_])
        for k in KEYS
    }


def seed_curves(raw: dict[str, Any], strategy: str) -> tuple[list[float], dict[str, np.ndarray]]:
    """A strategy's label counts and its (seeds, rounds) arrays of Dice and Jaccard, seeds in order,
    cut to the rounds every seed finished (so two strategies' arrays pair seed by seed)."""
    runs = sorted((r for r in raw["runs"] if r["strategy"] == strategy), key=lambda r: r["seed"])
    n_rounds = min(len(r["rounds"]) for r in runs)
    x = [runs[0]["rounds"][t]["n_labeled"] for t in range(n_rounds)]
    values = {
        k: np.array([[r["rounds"][t]["metrics"][k] for t in range(n_rounds)] for r in runs], dtype=float)
        for k in KEYS
    }
    return x, values


def curve_block(raw: dict[str, Any], strategy: str) -> dict[str, Any]:
    """Mean ± s.e. per round and the area under the Dice and Jaccard curves (lesionlab's `alc`: the
    curve's mean height over its label range), per seed then over seeds."""
    x, values = seed_curves(raw, strategy)
    curve = [{"n_labeled": n, **{k: _stats(list(values[k][:, t])) for k in KEYS}} for t, n in enumerate(x)]
    return {
        "alc": _stats([alc(x, y) for y in values["dice"]]),
        "alc_jaccard": _stats([alc(x, y) for y in values["jaccard"]]),
        "curve": curve,
    }


def paper003_reach(raw: dict[str, Any], strategy: str, full_jaccard: float) -> dict[str, Any]:
    """Kim et al. 2020's other segmentation reading: labels until the Jaccard curve first reaches 67.04 %, the
    value confident coreset reached at 20 % of the labels, here as the same share of our full-data
    Jaccard (67.04 / 69.2 = 96.9 %). Per seed; a seed that never reaches it counts in `n_missed`."""
    x, values = seed_curves(raw, strategy)
    target = PAPER003_REACH_SHARE * full_jaccard
    per_seed = [labels_to_target(x, y, target) for y in values["jaccard"]]
    reached = [v for v in per_seed if v is not None]
    return {
        "target_jaccard": target,
        "labels_per_seed": per_seed,
        "n_missed": len(per_seed) - len(reached),
        **(_stats(reached) if reached else {}),
    }


def versus_random(raw: dict[str, Any], strategy: str) -> dict[str, Any]:
    """Paired test of a curve against random's over the seeds both finished, from round 1 on (round 0 is
    the shared base fit, equal by construction): over (seed, round) points (more power, optimistic p)
    and over seeds (each seed's mean, honest independence)."""
    a = {r["seed"]: r["rounds"] for r in raw["runs"] if r["strategy"] == strategy}
    b = {r["seed"]: r["rounds"] for r in raw["runs"] if r["strategy"] == "random"}
    seeds = sorted(a.keys() & b.keys())
    rounds = min(len(runs[s]) for runs in (a, b) for s in seeds) if seeds else 0
    if rounds < 2:
        return {"n_seeds": len(seeds)}
    a_dice, b_dice = (
        np.array([[runs[s][t]["metrics"]["dice"] for t in range(1, rounds)] for s in seeds])
        for runs in (a, b)
    )
    tests = {over: compare_curves(a_dice, b_dice, pair_over=over) for over in ("points", "seeds")}
    return {"n_seeds": len(seeds), **tests}


def versus_random_text(vs: dict[str, Any]) -> str:
    """The table cell: the mean paired difference, with p values only when 3 or more seeds pair up."""
    if "seeds" not in vs:
        return "n/a"
    diff = f"{vs['seeds']['mean_difference']:+.3f}"
    if vs["n_seeds"] < 3:
        return f"{diff} ({vs['n_seeds']} seed(s): no test)"
    return f"{diff} (p {vs['seeds']['p_ttest']:.2f}, {vs['points']['p_wilcoxon']:.3f})"


def table1_lines(table1: dict[str, Any]) -> list[str]:
    """Table I's layout: Dice per label count, the four rows across, with the paper's values."""
    md = ["", "## Table I: Dice over the rounds (mean ± s.e.; paper in brackets)", ""]
    md += ["| labels | " + " | ".join(table1) + " |", "|---|" + "---|" * len(table1)]
    counts = sorted({e["n_labeled"] for block in table1.values() for e in block["curve"]})
    for n in counts:
        cells = []
        for row, block in table1.items():
            entry = next((e for e in block["curve"] if e["n_labeled"] == n), None)
            paper = PAPER_TABLE1.get(row, {}).get(int(n))
            cells.append(
                ("" if entry is None else fmt(entry["dice"])) + ("" if paper is None else f" ({paper:.3f})")
            )
        md.append(f"| {int(n)} | " + " | ".join(cells) + " |")
    return md


def target_lines(results: dict[str, Any]) -> list[str]:
    """The issue's targets that the finished rows decide; the others are named as not yet measured."""
    md = ["", "## Targets", ""]
    base = results["base_set_300"]
    if "random" in base and "ssl_kmeans" in base:
        gap = base["ssl_kmeans"]["dice"]["mean"] - base["random"]["dice"]["mean"]
        verdict = "met" if gap >= 0.05 else "missed"
        md.append(
            f"- ssl_kmeans base set beats random by at least 0.05 Dice at 300 labels: **{verdict}** "
            f"({fmt(base['ssl_kmeans']['dice'])} vs {fmt(base['random']['dice'])}, {gap:+.3f}; "
            f"{base['ssl_kmeans']['n_seeds']} and {base['random']['n_seeds']} seeds)."
        )
    table1 = results.get("table1_curves", {})
    for cold, warm in (("random", "random_ssl_weights"), ("ssl_kmeans", "ssl_kmeans_ssl_weights")):
        if cold not in table1 or warm not in table1:
            continue
        worse = []
        for c, w in zip(table1[cold]["curve"], table1[warm]["curve"], strict=False):
            t = round((c["n_labeled"] - BASE) / STEP)
            se = max(c["dice"]["se"] or 0.0, w["dice"]["se"] or 0.0)
            if t > 3 and w["dice"]["mean"] < c["dice"]["mean"] - se:
                worse.append(f"round {t}: {w['dice']['mean']:.3f} vs {c['dice']['mean']:.3f} ± {se:.3f}")
        verdict = "met" if not worse else "missed"
        md.append(
            f"- warm start ({warm}) never worse than random initialisation ({cold}) by more than one s.e. "
            f"after round 3: **{verdict}**" + (f" ({'; '.join(worse)})." if worse else ".")
        )
    cc = results.get("confident_coreset_jaccard_at_30pct")
    full = results.get("full_data")
    if cc and full:
        gap = cc["mean"] - full["jaccard"]["mean"]
        verdict = "met" if gap >= -0.01 else "missed"
        md.append(
            f"- confident coreset within 1 Jaccard point of full data at 30 % of the labels: **{verdict}** "
            f"({cc['mean']:.3f} at {cc['n_labeled']:.0f} labels vs {full['jaccard']['mean']:.3f}, "
            f"{gap:+.3f})."
        )
    else:
        md.append(
            "- confident coreset at 30 % against full data: not measured yet (rows `curves`, `full_data`)."
        )
    return md


def table1_report(raws: dict[str, dict[str, Any]]) -> None:
    """Table I's four rows as one report (Dice and Jaccard curves, mean ± s.e. over seeds): each row's
    runs renamed to the row, since random and random_ssl_weights share a per-round strategy."""
    runs = [{**run, "strategy": row} for row, raw in raws.items() for run in raw["runs"]]
    write_report({**next(iter(raws.values())), "runs": runs}, OUT / "table1")


def curve_lines(raw: dict[str, Any], results: dict[str, Any]) -> list[str]:
    """Fig. 2's comparison: each strategy's curve, its areas, its paired difference to random and paper
    003's readings (Jaccard at 30 % of the pool; labels to 96.9 % of the full-data Jaccard)."""
    write_report(raw, OUT / "curves")
    full = results.get("full_data")
    at30 = round(0.3 * POOL)
    md = ["", "## Curves (Fig. 2; all from the ssl_kmeans base set with SSL weights)", ""]
    md += ["Curves with mean ± s.e.: results/paper001/curves/report.html.", ""]
    md += [
        f"| strategy | Dice at last round | ALC Dice | ALC Jaccard | Jaccard at ~{at30} labels (30 %) "
        "| Dice - random, mean over rounds 1-9 (p: seeds, points) "
        "| labels to 96.9 % of full Jaccard (seeds missing) |",
        "|---|---|---|---|---|---|---|",
    ]
    finished = {run["strategy"] for run in raw["runs"]}
    for s in [s for s in CURVE_STRATEGIES if s in finished]:
        block = curve_block(raw, s)
        point = min(block["curve"], key=lambda e: abs(e["n_labeled"] - at30))
        block["jaccard_at_30pct"] = {"n_labeled": point["n_labeled"], **point["jaccard"]}
        cells = [fmt(block["curve"][-1]["dice"]), fmt(block["alc"]), fmt(block["alc_jaccard"])]
        cells.append(f"{fmt(point['jaccard'])} ({point['n_labeled']:.0f})")
        if s != "random":
            block["vs_random"] = versus_random(raw, s)
            cells.append(versus_random_text(block["vs_random"]))
        else:
            cells.append("")
        if full:
            block["paper003_reach"] = reach = paper003_reach(raw, s, full["jaccard"]["mean"])
            cells.append(
                (
                    f"{reach['mean']:.0f}" + (f" ± {reach['se']:.0f}" if reach["n"] > 1 else "")
                    if "mean" in reach
                    else "never"
                )
                + f" ({reach['n_missed']})"
            )
        else:
            cells.append("needs full data")
        results["curves"][s] = block
        md.append(f"| {s} | " + " | ".join(cells) + " |")
    if "confident_coreset" in results["curves"]:
        cc = results["curves"]["confident_coreset"]
        results["confident_coreset_jaccard_at_30pct"] = cc["jaccard_at_30pct"]
    md += [
        "",
        "p over seeds: paired t-test of the per-seed mean Dice over rounds 1-9 (round 0 is the shared base "
        "fit); over points: Wilcoxon over "
        "(seed, round) pairs (optimistic: rounds of one seed are correlated). Labels to 96.9 % of the "
        f"full-data Jaccard (Kim et al. 2020's 67.04 / 69.2): {BASE} means the base set already reaches it.",
    ]
    return md


def summarize() -> tuple[dict[str, Any], list[str]]:
    results: dict[str, Any] = {"base_set_300": {}, "curves": {}}
    md = [
        "## Base set of 300 (Table I) and the clustering ablation (Table II)",
        "",
        "| row | Dice | Jaccard | seconds per seed (1 thread) |",
        "|---|---|---|---|",
    ]
    table1: dict[str, Any] = {}
    table1_raws: dict[str, dict[str, Any]] = {}
    for row in BASE_ROWS:
        if (raw := load_row(row)) is not None:
            strategy = raw["runs"][0]["strategy"]  # one per row: random or ssl_kmeans
            block = round_metrics(raw, strategy, 0)
            block["seconds"] = _stats([r["rounds"][0]["train_seconds"] for r in raw["runs"]])
            block["n_seeds"] = len(raw["runs"])
            results["base_set_300"][row] = block
            md.append(
                f"| {row} | {fmt(block['dice'])} | {fmt(block['jaccard'])} | {block['seconds']['mean']:.0f} |"
            )
            if row in TABLE1_ROWS and len(raw["runs"][0]["rounds"]) > 1:
                table1[row] = curve_block(raw, strategy)
                table1_raws[row] = raw
    if table1:
        results["table1_curves"] = table1
        md += table1_lines(table1)
        table1_report(table1_raws)
        md += ["", "Curves with mean ± s.e.: results/paper001/table1/report.html."]
    if (raw := load_row("full_data")) is not None:
        results["full_data"] = round_metrics(raw, "random", 0)
        f = results["full_data"]
        md += ["", f"Full data (1600 masks): Dice {fmt(f['dice'])}, Jaccard {fmt(f['jaccard'])}."]
    if (raw := load_row("curves")) is not None:
        md += curve_lines(raw, results)
    md += target_lines(results)
    return results, md


def main() -> None:
    parser = base_parser(__doc__)
    rows = ["pretrain", *BASE_ROWS, "curves", "full_data"]
    parser.add_argument("--rows", nargs="+", choices=rows, default=[])
    parser.add_argument("--summarize", action="store_true", help="only write the tables from finished rows")
    parser.add_argument(
        "--strategies",
        nargs="+",
        choices=CURVE_STRATEGIES,
        default=None,
        help="row curves: only these strategies (split one seed over two processes; own folder per subset)",
    )
    parser.add_argument("--paper-shape", action="store_true", help="width 64 at 256 px (the paper's; GPU)")
    args = parser.parse_args()
    if args.strategies and args.rows != ["curves"]:
        parser.error("--strategies splits the curves row only: use it with --rows curves")
    shape = PAPER_SHAPE if args.paper_shape else CPU
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    if not args.summarize and args.rows:
        folder = prepare_data(args.data, OUT)
        ckpt = OUT / "pretrain" / CHECKPOINT
        if any(r not in ("random", "full_data") for r in args.rows):  # rows that read the SSL model
            t = time.perf_counter()
            ckpt = pretrain_unit(folder, shape, args.cache_dir, args.threads)
            timings["pretrain"] = time.perf_counter() - t
        for row in [r for r in args.rows if r != "pretrain"]:
            t = time.perf_counter()
            for seed in args.seeds:
                subset = args.strategies
                run_row(row_config(row, folder, shape, [seed], args.cache_dir, args.threads, ckpt, subset))
            timings[row] = time.perf_counter() - t
    results, md = summarize()
    head = [
        '# Reproduction of Zhao et al. 2022, "Self-supervised Assisted Active Learning for Skin Lesion'
        ' Segmentation"',
        "",
        f"CPU configuration: U-Net width {shape['width']} at {shape['resolution']} px (paper: 64 at 256);",
        "reproduce with the commands in the docstring of benchmarks/paper001.py.",
        "",
    ]
    payload = {
        "results": results,
        "paper": PAPER,
        "config": {"shape": shape, "pool": POOL, "test": TEST, "base": BASE, "step": STEP, "rounds": ROUNDS},
        "seeds": args.seeds,
        "seconds_this_call": {**timings, "total": time.perf_counter() - t0},
    }
    write_outputs(RESULTS / "paper001.json", payload, head + md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
