"""Choose HAM10000's class weighting and epoch count on a lesion-grouped validation split, never the test.

HAM10000 is 72 % nevi. Paper 000's balanced weighted cross-entropy (n / (C n_c)) buys balanced accuracy
at the price of plain accuracy, and the issue sets a target on both. So, before the full-data run, each
weighting scheme trains once (seed 0) on 85 % of the 5984 training images, keeping every `lesion_id`
on one side, and is scored per epoch on the other 15 %. The (scheme, epoch) with the highest mean of
validation accuracy and balanced accuracy (the two targets, weighted equally, fixed in advance) becomes
the HAM10000 configuration of `full_data.py`, which then trains on all 5984 images for that many epochs.

    python benchmarks/ham_selection.py            # measured: 78 min on 1 thread beside another
                                                  # benchmark, caching included

Writes results/ham_selection.json and .md.
"""

from __future__ import annotations

import time
from dataclasses import replace

from _common import RESULTS, base_parser, machine, versions, write_json, write_text
from lesionlab.data.sources import load_source
from lesionlab.models.registry import create_classifier
from lesionlab.training.trainer import TrainConfig, Trainer

SCHEMES = ("balanced", "sqrt")  # "none" (plain cross-entropy) can be added with --schemes
VAL_FRACTION = 0.15


def criterion(row: dict) -> float:
    """The selection score of one epoch: the mean of the two targeted metrics on validation."""
    return 0.5 * (row["val_accuracy"] + row["val_balanced_accuracy"])


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--schemes", nargs="+", default=list(SCHEMES))
    args = parser.parse_args()

    ds = load_source("ham10000", args.data / "ham10000", "7class", val_fraction=VAL_FRACTION, seed=0)
    train, val = ds.split("train"), ds.split("val")
    base = TrainConfig(num_threads=args.threads, progress=False, seed=0, epochs=12, patience=0)
    t_start = time.perf_counter()
    per_scheme = {}
    for scheme in args.schemes:
        model = create_classifier("efficientnet_lite0", ds.num_classes, "imagenet", seed=0)
        trainer = Trainer(model, replace(base, class_weights=scheme), cache_dir=args.cache_dir)
        fit = trainer.fit(train, val, ds.classes)
        history = [
            {k: row[k] for k in ("epoch", "val_accuracy", "val_balanced_accuracy", "val_macro_auc")}
            for row in fit.history
        ]
        best = max(history, key=criterion)
        per_scheme[scheme] = {"history": history, "best": best, "score": criterion(best)}
        print(f"{scheme}: best epoch {best['epoch']}, {best}", flush=True)

    chosen = max(per_scheme, key=lambda s: per_scheme[s]["score"])
    payload = {
        "chosen": {"class_weights": chosen, "epochs": per_scheme[chosen]["best"]["epoch"]},
        "per_scheme": per_scheme,
        "criterion": "mean of validation accuracy and balanced accuracy",
        "config": {
            "val_fraction": VAL_FRACTION,
            "n_train": len(train),
            "n_val": len(val),
            "max_epochs": base.epochs,
            "freeze_stages": base.freeze_stages,
            "resolution": base.resolution,
        },
        "seeds": [0],
        "versions": versions(),
        "machine": machine(),
        "wall_seconds": time.perf_counter() - t_start,
    }
    write_json(RESULTS / "ham_selection.json", payload)
    md = [
        "# HAM10000: class weighting and epochs chosen on a lesion-grouped validation split",
        "",
        f"{len(train)} training / {len(val)} validation images (no `lesion_id` on both sides), seed 0, "
        f"up to {base.epochs} epochs. Reproduce: `python benchmarks/ham_selection.py`.",
        "",
        "| class weights | best epoch | val accuracy | val balanced accuracy | val macro AUC |",
        "|---|---|---|---|---|",
    ]
    for scheme, info in per_scheme.items():
        b = info["best"]
        md.append(
            f"| {scheme} | {b['epoch']} | {b['val_accuracy']:.3f} | {b['val_balanced_accuracy']:.3f} "
            f"| {b['val_macro_auc']:.3f} |"
        )
    md += ["", f"Chosen: `{payload['chosen']}` (criterion: {payload['criterion']})."]
    write_text(RESULTS / "ham_selection.md", "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
