"""The CPU fast path against full fine-tuning: speed-up and accuracy cost, measured in one run.

Two parts, both on ISIC 2017 task 1 (melanoma) at 224 px with EfficientNet-Lite0 (offline ImageNet weights):

1. throughput: training steps (batch 32, forward + backward + Adam) of full fine-tuning and of the tail
   behind 5 and 6 frozen stages, timed back to back in the same process, repeated; ratios are reported.
2. accuracy: train with each mode on the 2000 training images (epoch picked on the 150 validation images)
   and report test AUC on the 600 test images. Full fine-tuning uses fresh paper-000 augmentation every
   step (the fast path only the fixed views) and at most 6 epochs (patience 2) to fit the CPU budget.

    python benchmarks/fast_path.py                 # about 25 min on 2 cores (full fine-tuning dominates)
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from common import RESULTS, base_parser, fmt, summarize_values
from lesionlab.data.sources import load_source
from lesionlab.evaluation.metrics import compute_metrics
from lesionlab.models.registry import create_classifier
from lesionlab.training.trainer import TrainConfig, Trainer
from provenance import write_outputs

MODES = {"full_finetune": 0, "freeze_5": 5, "freeze_6": 6}


def step_throughput(freeze: int, resolution: int, repeats: int, steps: int = 4) -> list[float]:
    """Images per second of training steps for one mode (random inputs: decoding is not part of a step)."""
    model = create_classifier("efficientnet_lite0", 2, "imagenet", seed=0).to(
        memory_format=torch.channels_last
    )
    x = torch.rand(32, 3, resolution, resolution).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (32,))
    with torch.no_grad():
        inputs = model.run_trunk(x, freeze) if freeze else x
    params = [
        p
        for m in ([model] if not freeze else [*model.stages[freeze:], model.head, model.classifier])
        for p in m.parameters()
    ]
    opt = torch.optim.Adam(params, 1e-4)
    model.train()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            out = model.run_tail(inputs, freeze) if freeze else model.forward_all(inputs)
            loss = torch.nn.functional.cross_entropy(out.logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        rates.append(32 * steps / (time.perf_counter() - t0))
    return rates


def measure_throughput(repeats: int) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Training-step images/s per mode (mean, s.e. over repeats) and each mode's speed-up over full."""
    # Warm up once, then interleave the modes so drifting machine load hits all of them alike.
    step_throughput(5, 224, 1, steps=1)
    rates: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(repeats):
        for mode, freeze in MODES.items():
            rates[mode] += step_throughput(freeze, 224, 1)
    throughput = {
        m: {"mean": float(np.mean(r)), "se": float(np.std(r, ddof=1) / np.sqrt(len(r)))}
        for m, r in rates.items()
    }
    speedup = {m: throughput[m]["mean"] / throughput["full_finetune"]["mean"] for m in MODES}
    return throughput, speedup


def accuracy_run(
    freeze: int, seed: int, args: Any, ds: Any, splits: tuple[list, list, list]
) -> dict[str, Any]:
    """One mode and seed trained on ISIC 2017 task 1: test AUC and accuracy, epochs and throughput."""
    train, val, test = splits
    extra = {"epochs": 6, "patience": 2} if freeze == 0 else {}
    cfg = TrainConfig(freeze_stages=freeze, seed=seed, num_threads=args.threads, progress=False, **extra)
    trainer = Trainer(create_classifier("efficientnet_lite0", 2, "imagenet", seed=seed), cfg, args.cache_dir)
    t0 = time.perf_counter()
    fit = trainer.fit(train, val, ds.classes)
    metrics = compute_metrics(np.array([r.label for r in test]), trainer.predict(test), ds.classes)
    return {
        "auc": metrics["auc"],
        "accuracy": metrics["accuracy"],
        "best_epoch": fit.best_epoch,
        "epochs_run": len(fit.history),
        "images_per_second": fit.images_per_second,
        "cache_seconds": fit.cache_seconds,
        "train_seconds": fit.train_seconds,
        "wall_seconds": time.perf_counter() - t0,
        "config": cfg.model_dump(),
    }


def main() -> None:
    parser = base_parser(__doc__)
    parser.set_defaults(seeds=[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()

    throughput, speedup = measure_throughput(args.repeats)

    accuracy: dict[str, dict] = {}

    def save() -> None:  # after the throughput part and after every accuracy run, so nothing is lost
        payload = {
            "results": {
                "throughput_images_per_second": throughput,
                "speedup_vs_full": speedup,
                "accuracy": accuracy,
            },
            "config": {
                "resolution": 224,
                "batch_size": 32,
                "backbone": "efficientnet_lite0",
                "modes": MODES,
                "threads": args.threads,
            },
            "seeds": args.seeds,
            "wall_seconds": time.perf_counter() - t_start,
        }
        write_outputs(RESULTS / "fast_path.json", payload, table(throughput, speedup, accuracy))

    save()
    if not args.skip_accuracy:
        ds = load_source("isic2017", args.data / "isic2017", "melanoma")
        train, val, test = ds.split("train"), ds.split("val"), ds.split("test")
        for mode, freeze in sorted(MODES.items(), key=lambda m: m[1] == 0):  # cheap modes first
            rows = []
            for seed in args.seeds:
                rows.append(accuracy_run(freeze, seed, args, ds, (train, val, test)))
                print(mode, seed, rows[-1]["auc"], rows[-1]["wall_seconds"], flush=True)
            accuracy[mode] = {
                **summarize_values(rows, ["auc", "accuracy", "images_per_second"]),
                "per_seed": rows,
            }
            save()

    print("\n".join(table(throughput, speedup, accuracy)))


def table(throughput: dict, speedup: dict, accuracy: dict) -> list[str]:
    """The markdown summary; modes whose accuracy run has not finished yet show dashes."""
    lines = [
        "# CPU fast path vs full fine-tuning (EfficientNet-Lite0, 224 px, ISIC 2017 task 1)",
        "",
        "Reproduce: `python benchmarks/fast_path.py`.",
        "",
        "| mode | train step images/s | speed-up | test AUC | test ACC | end-to-end train images/s |",
        "|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        acc = accuracy.get(mode)
        cells = [fmt(acc["auc"]), fmt(acc["accuracy"]), fmt(acc["images_per_second"])] if acc else ["—"] * 3
        lines.append(
            f"| {mode} | {fmt(throughput[mode])} | {speedup[mode]:.1f}x | " + " | ".join(cells) + " |"
        )
    return lines


if __name__ == "__main__":
    main()
