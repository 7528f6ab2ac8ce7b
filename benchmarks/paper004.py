"""Zhou et al. 2021, "Active, Continual Fine Tuning of Convolutional Neural Networks for Reducing
Annotation Efforts" (ACFT; Medical Image Analysis 2021) on ISIC 2017 task 1 (melanoma: binary, 374 of 2000
positive).

Protocol: an empty start (Alg. 1 line 1: the first 100 candidates are picked by the ImageNet trunk with a
head that has never seen a label), b = 100 candidates per round (5 % of the pool) for 10 rounds (100 to
1000 labels), m = 12 patches per candidate (3 scales x 4 quarter turns: the library's default is the
paper's 24, halved for the CPU, and 1/4 of 12 keeps 3 patches as Table 1 does), alpha = 1/4, omega = 5, the
active-learning benchmarks' training (`freeze_stages: 6`, 224 px, 4 views, up to 20 epochs, patience 5,
epoch picked on the 150 validation images, AUC on the 600 test images), lr 1e-4 from M0 and 1e-5 when
continuing (Table 3's note), 3 seeds. The full-data line is `results/full_data_freeze6.json`.

Rows (Table 2's codes; the criterion is entropy + majority + randomness unless named):

    main      rft (random, retrain from M0), aft_lq, acft_hq, acft_hq_diversity
    learning  acft_q, acft_lq (the rest of Table 4's rows), acft_hq_lr1 (ACFT(HQ) at AFT's lr)
    table4    acft_hq_{entropy,diversity}_{nomaj_norand,maj_norand,nomaj_rand}, aift_hq  (its columns)

A unit is one (row, seed), its own experiment folder under results/paper004/<task>/<row>/seed<k>/, so it
resumes after a kill and two units can run side by side (one thread each). The summary (paper004.json and
.md) is written from the rows whose every requested seed has finished; others are listed as missing.

    python benchmarks/paper004.py --part main --threads 1                 # 4 rows x 3 seeds
    python benchmarks/paper004.py --rows acft_hq --seeds 0 --threads 1    # one unit
    python benchmarks/paper004.py --summary-only                          # rewrite the summary

Measured (1 thread, another job beside): see docs/reproduction.md (the Zhou et al. section) for the time of
one unit.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from al_common import FREEZE_STAGES, finished_or_run, full_data_entry, load_results, means
from common import RESULTS, base_parser
from lesionlab.config import ExperimentConfig, load_config
from lesionlab.evaluation.acft_report import save_png

TASK = "melanoma"
BUDGET = 100  # candidates per round
ROUNDS = 10  # 100 .. 1000 labels
PATCHES = 12  # the CPU cut: the trunk sees N x m patches once (24,000 here)
FULL_DATA = "full_data_freeze6"
POOL_POSITIVE_SHARE = 374 / 2000  # melanomas in the ISIC 2017 training pool
MAJ_RAND = {"majority": True, "randomness": True, "patches": PATCHES}

# row -> (strategy, its parameters, learning strategy)
PARTS: dict[str, dict[str, tuple[str, dict[str, Any], str]]] = {
    "main": {
        "rft": ("random", {}, "retrain"),
        "aft_lq": ("acft_entropy", MAJ_RAND, "retrain"),
        "acft_hq": ("acft_entropy", MAJ_RAND, "acft_hq"),
        "acft_hq_diversity": ("acft_diversity", MAJ_RAND, "acft_hq"),
    },
    "learning": {
        "acft_q": ("acft_entropy", MAJ_RAND, "acft_q"),
        "acft_lq": ("acft_entropy", MAJ_RAND, "acft_lq"),
        # Table 3's 1/10 learning rate stalls continual fine-tuning with Adam here (seed 0: the best epoch
        # of rounds 2-4 was the first, test AUC flat at 0.702-0.704); the same row at AFT's rate.
        "acft_hq_lr1": ("acft_entropy", MAJ_RAND, "acft_hq"),
    },
    "table4": {
        **{
            f"acft_hq_{crit}_{'maj' if maj else 'nomaj'}_{'rand' if rand else 'norand'}": (
                f"acft_{crit}",
                {"majority": maj, "randomness": rand, "patches": PATCHES},
                "acft_hq",
            )
            for crit in ("entropy", "diversity")
            for maj, rand in ((False, False), (True, False), (False, True))
        },
        "aift_hq": ("aift", {"patches": PATCHES}, "acft_hq"),
    },
}
ROWS = {row: spec for part in PARTS.values() for row, spec in part.items()}
EXPERIMENT_OVERRIDES = {"acft_hq_lr1": {"continual_lr_scale": 1.0}}  # rows that change the protocol
ACFT_ROWS = ("acft_hq", "acft_hq_diversity")


def unit_dir(row: str, seed: int) -> Path:
    return RESULTS / "paper004" / TASK / row / f"seed{seed}"


def unit_config(
    row: str, seed: int, data: Path, cache: Path, full: dict | None, threads: int
) -> ExperimentConfig:
    strategy, params, learning = ROWS[row]
    return load_config(
        ExperimentConfig,
        {
            "name": f"Zhou et al. 2021 (ACFT), ISIC 2017 {TASK}: {row} (seed {seed})",
            "data": {"source": "isic2017", "root": str(data / "isic2017"), "task": TASK},
            "train": {"freeze_stages": FREEZE_STAGES, "num_threads": threads, "epochs": 20, "patience": 5},
            "experiment": {
                "strategies": [strategy],
                "strategy_params": {strategy: params} if params else {},
                "seeds": [seed],
                "initial": {"kind": "empty"},
                "budget": BUDGET,
                "rounds": ROUNDS,
                "learning": learning,
                **EXPERIMENT_OVERRIDES.get(row, {}),
                "full_data": full,
            },
            "output": str(unit_dir(row, seed)),
            "cache_dir": str(cache),
        },
    )


def merged(row: str, seeds: list[int]) -> dict[str, Any] | None:
    """The row's finished units as one experiment (runs of every seed, the strategy named as the row)."""
    raws = [load_results(unit_dir(row, s)) for s in seeds]
    if any(r is None for r in raws):
        return None
    out = dict(raws[0])
    out["runs"] = [{**run, "strategy": row} for raw in raws for run in raw["runs"]]
    out["name"] = f"Zhou et al. 2021 (ACFT), ISIC 2017 {TASK}: {row}"
    return out


def gallery(row: str, seed: int, data: Path, cache: Path, threads: int, k: int = 5) -> Path | None:
    """Fig. 7 / Appendix B: the top and bottom candidates of the last selection's pool under the row's
    final model (continual rows keep it in state/), with their patch histograms. None without a model."""
    import torch

    from lesionlab.data.loading import load_dataset
    from lesionlab.data.pool_state import PoolState
    from lesionlab.evaluation.acft_report import candidate_gallery
    from lesionlab.models.registry import create_classifier
    from lesionlab.selection.base import Evidence, get_strategy
    from lesionlab.training.patch_activations import patch_probabilities
    from lesionlab.training.trainer import Trainer

    config = unit_config(row, seed, data, cache, None, threads)
    strategy_name, params, _ = ROWS[row]
    state_dir = unit_dir(row, seed) / "state"
    state = PoolState.load(state_dir / f"{strategy_name}_seed{seed}.json")
    models = sorted(state_dir.glob(f"{strategy_name}_seed{seed}_model_round*.pt"))
    if strategy_name == "random" or not models:
        return None
    dataset = load_dataset(config, verify_files=False)
    by_id = {r.id: r for r in dataset.split("train")}
    model = create_classifier(config.model.backbone, dataset.num_classes, config.model.weights, seed=seed)
    model.load_state_dict(torch.load(models[-1], weights_only=True))
    trainer = Trainer(model, config.train.updated(progress=False), cache_dir=cache)
    records = [by_id[i] for i in state.unlabeled_ids()]
    probs = patch_probabilities(trainer, records, PATCHES)
    strategy = get_strategy(strategy_name, **params)
    scores = strategy.scores(Evidence(ids=np.array([r.id for r in records]), patch_probs=probs))
    images = list(trainer.images.get_many([r.image_path for r in records]))
    labels = [dataset.classes[r.label] for r in records]
    fig = candidate_gallery(
        probs, scores, images, labels, k=k, title=f"{row}, seed {seed}, after {state.n_rounds - 1} rounds"
    )
    return save_png(fig, RESULTS / "paper004" / TASK / row / f"gallery_seed{seed}.png")


def run_units(rows: list[str], seeds: list[int], args, full: dict | None) -> None:
    for row in rows:
        for seed in seeds:
            config = unit_config(row, seed, args.data, args.cache_dir, full, args.threads)
            print(f"paper004 {TASK}: {row} seed {seed}", flush=True)
            t0 = time.perf_counter()
            raw = finished_or_run(config)
            print(
                f"  done ({time.perf_counter() - t0:.0f} s this call, "
                f"{raw.get('wall_seconds', 0):.0f} s in the run's last invocation)"
            )


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--part", nargs="+", choices=list(PARTS), default=["main"])
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), help="instead of --part")
    parser.add_argument("--summary-only", action="store_true", help="summarise finished units, run nothing")
    parser.add_argument("--no-gallery", action="store_true", help="skip the candidate galleries (Fig. 7)")
    args = parser.parse_args()
    full_entry = full_data_entry(FULL_DATA, TASK)
    if full_entry is None:
        raise SystemExit(f"results/{FULL_DATA}.json has no {TASK} line: run full_data.py first (README.md)")
    full = means(full_entry)
    rows = args.rows or [r for p in args.part for r in PARTS[p]]
    t_start = time.perf_counter()
    if not args.summary_only:
        run_units(rows, args.seeds, args, full)

    # The summary reads this module's rows and helpers, so it is imported here (no import cycle).
    from paper004_summary import write_summary

    config = {
        "rows": {k: list(v) for k, v in ROWS.items()},
        "parts": {k: list(v) for k, v in PARTS.items()},
        "budget": BUDGET,
        "rounds": ROUNDS,
        "patches": PATCHES,
        "experiment": unit_config("acft_hq", 0, args.data, args.cache_dir, None, 1).model_dump(mode="json"),
        "full_data_line": f"results/{FULL_DATA}.json (same training configuration)",
    }
    gallery_of = (
        None
        if args.no_gallery
        else (lambda row: gallery(row, args.seeds[0], args.data, args.cache_dir, args.threads))
    )
    write_summary(args.seeds, full_entry, config, t_start, gallery_of)


if __name__ == "__main__":
    main()
