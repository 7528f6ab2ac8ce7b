"""Issue 35: do three papers' mechanisms operate once more of the network trains, and does their effect
appear where they do? The decision criteria are in docs/reproduction.md ("Where the mechanisms operate"),
committed before any of these runs.

- Xue et al. 2019, "Robust learning at noisy labeled medical images: applied to skin lesion
  classification": at 40 % model-ranked noise (the flipped labels of `paper002.py`), how much of the
  flipped training labels each regime fits, epoch by epoch (memorisation), and CE vs OUSM vs OUSM + LoOP.
- Zhou et al. 2017/2021, "Active, continual fine tuning of convolutional neural networks for reducing
  annotation efforts": RFT, AFT(LQ) and ACFT(HQ) (the `paper004.py` protocol) to 600 labels with more of
  the network trained; the frozen control is `paper004.py`'s finished `freeze_stages: 6` runs.
- Zhao et al. 2022, "Self-supervised assisted active learning for skin lesion segmentation": the cold
  start (`ssl_kmeans` vs random) at base sets of 50 and 100 with `paper001.py`'s U-Net, each trained for
  the same 3,000 image passes as the 300 of Table I (whose finished runs are the 300 point).

Every unit (experiment, regime, row, seed) is resumable: paper002's units in results/regime/units/*.json,
the others in experiment folders under results/regime/. Run niced, one thread per process:

    nice -n 19 python benchmarks/regime.py --part paper002 --threads 1
    nice -n 19 python benchmarks/regime.py --part paper001 paper004 --threads 1
    python benchmarks/regime.py --summarize        # regime.json / .md from whatever has finished
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

import paper001
import paper002
import paper004
from al_common import finished_or_run, load_results
from common import RESULTS, base_parser, load_partial, write_json
from lesionlab.config import ExperimentConfig, TrainConfig, load_config
from lesionlab.data.sources import load_source
from lesionlab.evaluation.metrics import binary_metrics
from lesionlab.models.registry import create_classifier
from lesionlab.selfsup.config import PretrainConfig
from lesionlab.selfsup.pretrain import CHECKPOINT, pretrain
from lesionlab.training.auxiliary import EpochEnd
from lesionlab.training.trainer import Trainer
from regime_summary import pretrain_matches, summarize

OUT = RESULTS / "regime"
UNITS = OUT / "units"
RESOLUTION = 128  # both regimes of each experiment at the same resolution: only the trained depth differs

# Xue et al. 2019: the noise rate where the paper's gain is largest, its three losses, two regimes.
NOISE_RATE = 0.4
P002_METHODS = {"ce": "weighted_ce", "ousm": "ousm", "ousm_loop": "ousm_loop"}
P002_REGIMES = {
    "freeze6": {"freeze_stages": 6},
    "full": {"freeze_stages": 0},
    "freeze3": {"freeze_stages": 3},
}
P002_EPOCHS = 20  # no early stopping: the last epoch is reached, the best validation epoch still reported
PROBE_FLIPPED, PROBE_CLEAN = 400, 200  # training images whose fit is measured after every epoch

# Zhou et al.: the paper004 protocol to 600 labels with more of the network trained.
P004_ROWS = ("rft", "aft_lq", "acft_hq")
P004_ROUNDS = 6
# freeze3: stages 3-6 + head trained (full fine-tuning measured ~3x dearer per unit, docs/reproduction.md);
# freeze6: the frozen control at the same 128 px (paper004.py's own runs, 224 px, are read as `freeze6_224`).
P004_REGIMES = {
    "freeze6": {"freeze_stages": 6, "resolution": RESOLUTION},
    "freeze3": {"freeze_stages": 3, "resolution": RESOLUTION},
}

# Zhao et al.: base sets below the paper's 300, the same training length in image passes.
P001_SIZES = (50, 100)
P001_ROWS = ("random", "ssl_kmeans")
P001_PASSES = paper001.BASE * paper001.EPOCHS0  # 3,000, as 10 epochs over 300 images


# ------------------------------------------------------------------ Xue et al. 2019: memorisation
class FitProbe:
    """After every epoch: the share of flipped training labels the model predicts (memorisation), and of
    unflipped ones, on a fixed seeded sample of each, plain images in eval mode."""

    def __init__(self, records: list, noisy: np.ndarray, flipped: np.ndarray, seed: int) -> None:
        rng = np.random.default_rng(seed)
        flip_idx, keep_idx = np.flatnonzero(flipped), np.flatnonzero(~flipped)
        self.flip = np.sort(rng.choice(flip_idx, min(PROBE_FLIPPED, len(flip_idx)), replace=False))
        self.keep = np.sort(rng.choice(keep_idx, min(PROBE_CLEAN, len(keep_idx)), replace=False))
        self.records = [records[i] for i in (*self.flip, *self.keep)]
        self.labels = np.concatenate([noisy[self.flip], noisy[self.keep]])
        self.n_flip = len(self.flip)

    def __call__(self, event: EpochEnd) -> None:
        fitted = event.trainer.predict(self.records).argmax(1) == self.labels
        flip, labels = fitted[: self.n_flip], self.labels[: self.n_flip]
        event.row["fit_flipped"] = float(flip.mean())
        event.row["fit_clean"] = float(fitted[self.n_flip :].mean())
        # By flipped label: benign given to a melanoma (the prior fits these), melanoma given to a benign.
        for name, label in (("fit_flipped_to_benign", 0), ("fit_flipped_to_melanoma", 1)):
            event.row[name] = float(flip[labels == label].mean()) if (labels == label).any() else None


def ousm_k() -> float:
    """OUSM's K as `paper002.py` chose it on the clean validation images (not re-chosen per regime)."""
    chosen = load_partial(paper002.PARTIAL).get("ousm_fraction")
    if not chosen:
        raise SystemExit(f"{paper002.PARTIAL} has no chosen ousm_fraction: run benchmarks/paper002.py first")
    return float(chosen["chosen"])


def p002_config(regime: str, method: str, seed: int, threads: int) -> TrainConfig:
    settings = {**paper002.TRAIN, "epochs": P002_EPOCHS, "patience": 0, "resolution": RESOLUTION}
    settings.update(P002_REGIMES[regime])
    return TrainConfig(
        **settings, num_threads=threads, seed=seed, loss=P002_METHODS[method], ousm_fraction=ousm_k()
    )


def unit_file(regime: str, method: str, seed: int) -> Path:
    return UNITS / "paper002" / f"{regime}_{method}_seed{seed}.json"


def p002_unit(regime: str, method: str, seed: int, splits, args) -> dict[str, Any]:
    """One fit on the seed's noisy labels: test accuracy / AUC at the best validation epoch, and the fit
    of flipped and clean training labels after every epoch."""
    train, val, test, classes = splits
    scores = paper002.noise_scores(train, val, classes, seed, args.threads, args.cache_dir)
    noisy, info = paper002.noisy_train(train, classes, NOISE_RATE, seed, scores)
    probe = FitProbe(noisy, np.asarray(info.labels), np.asarray(info.flipped), seed)
    config = p002_config(regime, method, seed, args.threads)
    model = create_classifier("efficientnet_lite0", len(classes), "imagenet", 0.2, seed=seed)
    trainer = Trainer(model, config, cache_dir=args.cache_dir, callbacks=[probe])
    t0, c0 = time.perf_counter(), time.process_time()
    fit = trainer.fit(noisy, val, classes)
    cpu = time.process_time() - c0
    probs = trainer.predict(test)
    metrics = binary_metrics(np.array([r.label for r in test]), probs[:, 1], threshold=0.5)
    return {
        "accuracy": metrics["accuracy"],
        "auc": metrics["auc"],
        "best_epoch": fit.best_epoch,
        "memorised_fraction_final": fit.history[-1]["fit_flipped"],
        "flipped": int(info.flipped.sum()),
        "history": fit.history,
        "train_cpu_seconds": cpu,
        "seconds": time.perf_counter() - t0,
        "config": config.model_dump(mode="json"),
    }


def run_paper002(args) -> None:
    ds = load_source("isic2017", args.data / "isic2017", "melanoma")
    splits = (
        ds.split("train"),
        ds.split("val", labeled_only=True),
        ds.split("test", labeled_only=True),
        ds.classes,
    )
    for regime, method, seed in p002_order(args):
        path = unit_file(regime, method, seed)
        if path.exists():
            continue
        print(f"paper002 {regime} {method} seed {seed}", flush=True)
        row = p002_unit(regime, method, seed, splits, args)
        write_json(path, row)
        print(
            f"  memorised {row['memorised_fraction_final']:.3f}, best epoch {row['best_epoch']}, "
            f"{row['train_cpu_seconds']:.0f} CPU s",
            flush=True,
        )


def p002_order(args) -> list[tuple[str, str, int]]:
    """Memorisation (CE) in every regime first, since it decides the rest; then the other losses."""
    regimes = args.regimes or list(P002_REGIMES)
    methods = [m for m in P002_METHODS if m in (args.methods or P002_METHODS)]
    first = [(r, "ce", s) for s in args.seeds for r in regimes if "ce" in methods]
    rest = [(r, m, s) for r in regimes if r != "freeze3" for s in args.seeds for m in methods if m != "ce"]
    return first + rest


# ------------------------------------------------------------------ Zhou et al.: continual fine-tuning
def p004_dir(regime: str, row: str, seed: int) -> Path:
    return OUT / "paper004" / regime / row / f"seed{seed}"


def p004_config(regime: str, row: str, seed: int, args) -> ExperimentConfig:
    """`paper004.py`'s unit, to 600 labels, with the regime's training settings."""
    base = paper004.unit_config(row, seed, args.data, args.cache_dir, None, args.threads)
    raw = base.model_dump(mode="json")
    raw["train"].update(P004_REGIMES[regime])
    raw["experiment"]["rounds"] = P004_ROUNDS
    raw["name"] = f"issue 35, Zhou et al. ACFT, {regime}: {row} (seed {seed})"
    raw["output"] = str(p004_dir(regime, row, seed))
    return load_config(ExperimentConfig, raw)


def run_paper004(args) -> None:
    for seed in args.seeds:  # seed by seed, so each finished seed pairs every row in both regimes
        for regime in args.p004_regimes or list(P004_REGIMES):
            for row in P004_ROWS:
                print(f"paper004 {regime} {row} seed {seed}", flush=True)
                finished_or_run(p004_config(regime, row, seed, args))


# ------------------------------------------------------------------ Zhao et al.: cold start by size
def ssl_checkpoint(args) -> Path:
    """`paper001.py`'s Models Genesis pre-training, rebuilt in the cache (its model is not committed);
    the held-out losses are compared with the committed run's in the summary."""
    paper001.prepare_data(args.data, paper001.OUT)  # the fixed split as symlinks (git-ignored)
    out = args.cache_dir / "benchmarks" / "regime_pretrain"
    if not (out / CHECKPOINT).exists():
        stored = json.loads((paper001.OUT / "pretrain" / "pretrain.json").read_text())["config"]
        cfg = {**stored, "output": str(out), "cache_dir": str(args.cache_dir), "num_threads": args.threads}
        pretrain(load_config(PretrainConfig, cfg))
    write_json(OUT / "pretrain.json", json.loads((out / "pretrain.json").read_text()))
    return out / CHECKPOINT


def p001_dir(size: int, row: str, seed: int) -> Path:
    return OUT / "paper001" / f"base{size}" / row / f"seed{seed}"


def p001_config(size: int, row: str, seed: int, ckpt: Path, args) -> ExperimentConfig:
    folder = paper001.OUT / "data"
    base = paper001.row_config(row, folder, paper001.CPU, [seed], args.cache_dir, args.threads, ckpt)
    raw = base.model_dump(mode="json")
    raw["experiment"]["initial"]["size"] = size
    raw["experiment"]["rounds"] = 0
    raw["train"]["epochs"] = P001_PASSES // size
    raw["name"] = f"issue 35, Zhao et al. cold start: {row}, base set {size} (seed {seed})"
    raw["output"] = str(p001_dir(size, row, seed))
    return load_config(ExperimentConfig, raw)


def run_paper001(args) -> None:
    ckpt = ssl_checkpoint(args)
    for size in args.sizes:
        for seed in args.seeds:
            for row in P001_ROWS:
                if load_results(p001_dir(size, row, seed)) is None:
                    print(f"paper001 base {size} {row} seed {seed}", flush=True)
                    paper001.run_row(p001_config(size, row, seed, ckpt, args))


PARTS = {"paper002": run_paper002, "paper004": run_paper004, "paper001": run_paper001}


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--part", nargs="+", choices=list(PARTS), default=list(PARTS))
    parser.add_argument("--regimes", nargs="+", choices=list(P002_REGIMES), help="paper002 regimes")
    parser.add_argument("--methods", nargs="+", choices=list(P002_METHODS), help="paper002 losses")
    parser.add_argument("--p004-regimes", nargs="+", choices=list(P004_REGIMES))
    parser.add_argument("--sizes", type=int, nargs="+", default=list(P001_SIZES), help="paper001 base sets")
    parser.add_argument("--summarize", action="store_true", help="only rebuild regime.json / .md")
    args = parser.parse_args()
    if not args.summarize:
        for part in args.part:
            PARTS[part](args)
    summarize(args.seeds, list(P004_REGIMES), list(P001_SIZES), run_config(args))


def run_config(args) -> dict[str, Any]:
    """What the units ran with, for regime.json (each unit's own file holds its full configuration)."""
    return {
        "paper002": {
            "noise_rate": NOISE_RATE,
            "noise": "paper002.py's model-ranked noise, its cached scores per seed",
            "losses": P002_METHODS,
            "regimes": P002_REGIMES,
            "train": p002_config("full", "ce", 0, 1).model_dump(mode="json"),
            "probe": {"flipped": PROBE_FLIPPED, "clean": PROBE_CLEAN, "when": "after every epoch"},
        },
        "paper004": {
            "rows": {r: list(paper004.ROWS[r]) for r in P004_ROWS},
            "rounds": P004_ROUNDS,
            "regimes": P004_REGIMES,
            "freeze6_224": "results/paper004/melanoma/<row>/seed<k> (paper004.py, 224 px), cut to 600 labels",
        },
        "paper001": {
            "sizes": [*P001_SIZES, paper001.BASE],
            "passes": P001_PASSES,
            "size_300": "results/paper001/{random,ssl_kmeans}/seed<k>, round 0 (10 epochs x 300)",
            "pretrain_matches_paper001": pretrain_matches(OUT / "pretrain.json"),
        },
    }


if __name__ == "__main__":
    main()
