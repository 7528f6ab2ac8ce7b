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

from common import RESULTS, base_parser
from lesionlab.config import ExperimentConfig, load_config
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


def experiment_section(
    row: str, seeds: list[int], ckpt: Path, subset: list[str] | None
) -> tuple[dict[str, Any], bool]:
    """The row's `experiment` settings, and whether its U-Net starts from the SSL weights."""
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
    return experiment, ssl_weights


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
    """One row's experiment (one seed: its own folder, see `curve_folder`)."""
    experiment, ssl_weights = experiment_section(row, seeds, ckpt, subset)
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
    # imported here: the summary module reads this one's protocol constants (no import cycle)
    from paper001_summary import PAPER, summarize

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
