"""Full-data fine-tuning: the reference rows every active-learning curve is measured against.

ISIC 2017 task 1 (melanoma) and task 2 (seborrheic keratosis): train on the 2000 training images, pick
the epoch on the 150 validation images, report on the 600 test images. HAM10000: train on all 5984
images (so no validation split is left to pick an epoch on) with the class weighting and the number of
epochs that `ham_selection.py` chose on a lesion-grouped validation split, report on the 1512 ISIC 2018
test images under the test-time rule (views averaged, logit adjustment) that `ham_tta.py` chose on the
same split; every view count is measured as well, for the record. Several seeds; mean and s.e.

    python benchmarks/full_data.py                 # all three, 3 seeds
    # (ISIC 2017 about 60 min on 2 cores; HAM10000 at freeze 3 about 75 min per seed on 1 core)
    python benchmarks/full_data.py --only isic2017_melanoma --seeds 0

Interrupted runs resume: finished (task, seed) units are kept in results/full_data.partial.json. Runs
side by side on different seeds (`--seeds 1 --threads 1` beside `--seeds 2 --threads 1`) share that file;
a last plain run then trains nothing and writes the summary of all seeds.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from _common import (
    NOT_TRAINING,
    RESULTS,
    base_parser,
    fmt,
    load_if_saved,
    load_partial,
    machine,
    save_partial,
    summarize_values,
    training_fields,
    versions,
    write_json,
    write_text,
)
from ham_tta import tta_metrics
from lesionlab.data.sources import load_source
from lesionlab.evaluation.decision import prior_adjusted
from lesionlab.evaluation.metrics import compute_metrics
from lesionlab.models.registry import create_classifier, save_checkpoint
from lesionlab.training.trainer import TrainConfig, Trainer

BINARY_KEYS = ["acc", "auc", "ap", "sensitivity", "specificity"]
MULTI_KEYS = ["accuracy", "balanced_accuracy", "macro_auc"]
# The CPU default configuration (see docs/reproduction.md for why).
DEFAULT_TRAIN = TrainConfig(num_threads=2, progress=False)
HAM_EPOCHS = 6  # used only until benchmarks/ham_selection.py has chosen epochs on a validation split
HAM_SELECTION = RESULTS / "ham_selection.json"
HAM_TTA = RESULTS / "ham_tta.json"
PAPER000 = {
    "isic2017_melanoma": {"auc": 0.821, "acc": 0.863},
    "isic2017_seborrheic_keratosis": {"auc": 0.941},
}
TARGETS = {
    "isic2017_melanoma": {"auc": 0.78},
    "isic2017_seborrheic_keratosis": {"auc": 0.88},
    "ham10000_7class": {"accuracy": 0.80, "balanced_accuracy": 0.60},
}


def units(data: Path) -> dict[str, tuple]:
    return {
        "isic2017_melanoma": ("isic2017", data / "isic2017", "melanoma"),
        "isic2017_seborrheic_keratosis": ("isic2017", data / "isic2017", "seborrheic_keratosis"),
        "ham10000_7class": ("ham10000", data / "ham10000", "7class"),
    }


def unit_config(name: str, base: TrainConfig, seed: int) -> TrainConfig:
    """One unit's training configuration: HAM10000 takes the weighting, frozen stages and epochs chosen on
    validation."""
    if not name.startswith("ham"):
        return replace(base, seed=seed)
    if HAM_SELECTION.exists():
        chosen = json.loads(HAM_SELECTION.read_text())["chosen"]
        return replace(
            base,
            seed=seed,
            class_weights=chosen["class_weights"],
            epochs=chosen["epochs"],
            freeze_stages=chosen.get("freeze_stages", base.freeze_stages),
        )
    return replace(base, seed=seed, epochs=HAM_EPOCHS)


def ham_rule(preregistered: bool = False) -> tuple[int, float]:
    """HAM10000's test-time rule (views averaged, logit-adjustment tau), as `ham_tta.py` chose it on
    validation (`preregistered`: by the criterion fixed first); the plain prediction until it has."""
    if not HAM_TTA.exists():
        return 1, 0.0
    stored = json.loads(HAM_TTA.read_text())
    chosen = stored.get("preregistered", stored)["chosen"] if preregistered else stored["chosen"]
    return int(chosen["tta_views"]), float(chosen.get("tau", 0.0))


def rule_metrics(name: str, spec: tuple, row: dict, views: int, tau: float, cache_dir: Path) -> dict:
    """Test metrics of a finished unit under a decision rule, from its saved model (no retraining)."""
    if tau == 0.0:
        return row["metrics_by_views"][str(views)] if views > 1 else row["metrics"]
    rule = f"{views}@{tau}"
    if rule in row.get("metrics_by_rule", {}):
        return row["metrics_by_rule"][rule]
    source, root, task = spec
    ds = load_source(source, root, task)
    config = TrainConfig(**{**row["config"], "num_threads": None, "progress": False})
    checkpoint = cache_dir / "benchmarks" / f"{name}_seed{row['seed']}.pt"
    model = create_classifier("efficientnet_lite0", ds.num_classes, "none", seed=row["seed"])
    if not load_if_saved(model, checkpoint, config):
        raise SystemExit(
            f"{checkpoint} is missing or from another configuration: rerun {name} seed {row['seed']}"
        )
    train, test = ds.split("train"), ds.split("test")
    counts = np.bincount([r.label for r in train], minlength=ds.num_classes)
    probs = prior_adjusted(
        Trainer(model, config, cache_dir=cache_dir).predict(test, views=views), counts, tau
    )
    metrics = compute_metrics(np.array([r.label for r in test]), probs, ds.classes)
    row.setdefault("metrics_by_rule", {})[rule] = {k: v for k, v in metrics.items() if isinstance(v, float)}
    return row["metrics_by_rule"][rule]


def same_training(a: dict, b: dict) -> bool:
    """Equal configurations up to settings that change speed, not results (threads, device, progress).

    A field missing from a stored configuration was added later with a default that keeps the old
    behaviour (e.g. `synthetic: none`), so it counts as that default.
    """
    ignore = set(NOT_TRAINING)
    defaults = asdict(TrainConfig())
    a, b = {**defaults, **a}, {**defaults, **b}
    return {k: v for k, v in a.items() if k not in ignore} == {k: v for k, v in b.items() if k not in ignore}


def run_unit(name: str, spec: tuple, config: TrainConfig, cache_dir: Path) -> dict:
    source, root, task = spec
    seed = config.seed
    ds = load_source(source, root, task)
    train, val, test = ds.split("train"), ds.split("val"), ds.split("test")
    model = create_classifier("efficientnet_lite0", ds.num_classes, "imagenet", seed=seed)
    trainer = Trainer(model, config, cache_dir=cache_dir)
    t0 = time.perf_counter()
    fit = trainer.fit(train, val, ds.classes)
    # Kept so a later evaluation (another decision rule, more views) needs no retraining.
    save_checkpoint(
        model, cache_dir / "benchmarks" / f"{name}_seed{seed}.pt", {"config": training_fields(config)}
    )
    probs = trainer.predict(test, views=1)
    metrics = compute_metrics(np.array([r.label for r in test]), probs, ds.classes)
    # HAM10000 reports the view count ham_tta.py chose on validation; every candidate is measured here
    # so the seeds need not wait for that choice, which never looks at these numbers.
    by_views = tta_metrics(trainer, test, ds.classes) if name.startswith("ham") else None
    return {
        "seed": seed,
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, float)},
        "metrics_by_views": by_views,
        "per_class_recall": metrics.get("per_class_recall"),
        "best_epoch": fit.best_epoch,
        "train_images_per_second": fit.images_per_second,
        "cache_seconds": fit.cache_seconds,
        "train_seconds": fit.train_seconds,
        "wall_seconds": time.perf_counter() - t0,
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(test),
        "config": asdict(config),
    }


def _table(results: dict, names: list[str], keys: list[str]) -> list[str]:
    if not names:
        return []
    head = ["| dataset/task | " + " | ".join(keys) + " | train images/s | best epochs |"]
    head.append("|---" * (len(keys) + 3) + "|")
    rows = [
        f"| {n} | "
        + " | ".join(fmt(results[n][k]) for k in keys)
        + f" | {fmt(results[n]['train_images_per_second'])} | {results[n]['best_epoch']} |"
        for n in names
    ]
    return [*head, *rows, ""]


def _rules_table(results: dict) -> list[str]:
    """HAM10000 under every rule measured; the one `ham_tta.py` chose on validation in bold."""
    lines = []
    for name, entry in results.items():
        if "by_views_without_adjustment" not in entry:
            continue
        rule = entry["decision_rule"]
        reported = (str(rule["tta_views"]), float(rule["tau"]))
        lines += [
            f"{name} test metrics under each decision rule; **reported: {rule['tta_views']} view(s), "
            f"tau {rule['tau']}**, chosen on the validation split by `ham_tta.py`:",
            "",
            "| views averaged | tau | " + " | ".join(MULTI_KEYS) + " |",
            "|---|---|" + "---|" * len(MULTI_KEYS),
        ]
        rows = {(views, 0.0): stats for views, stats in entry["by_views_without_adjustment"].items()}
        rows[reported] = {k: entry[k] for k in MULTI_KEYS}
        first = entry.get("preregistered_rule")
        if first:
            rows[(str(first["tta_views"]), float(first["tau"]))] = first
        for (views, tau), stats in rows.items():
            cells = [views, f"{tau:g}", *(fmt(stats[k]) for k in MULTI_KEYS)]
            if (views, tau) == reported:
                cells = [f"**{c}**" for c in cells]
            lines.append("| " + " | ".join(cells) + " |")
        if first:
            lines += [
                "",
                f"The criterion fixed first (mean of validation accuracy and balanced accuracy) chose "
                f"{first['tta_views']} views, tau {first['tau']}; see `ham_tta.md` for why it was replaced.",
            ]
        lines.append("")
    return lines


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--only", nargs="+", default=None)
    parser.add_argument("--freeze-stages", type=int, default=DEFAULT_TRAIN.freeze_stages)
    parser.add_argument("--name", default="full_data")
    parser.add_argument("--threads", type=int, default=DEFAULT_TRAIN.num_threads)
    args = parser.parse_args()

    base = replace(DEFAULT_TRAIN, freeze_stages=args.freeze_stages, num_threads=args.threads)
    all_units = units(args.data)
    chosen = args.only or list(all_units)
    partial_path = RESULTS / f"{args.name}.partial.json"
    done = load_partial(partial_path)
    for name in chosen:
        for seed in args.seeds:
            key = f"{name}/seed{seed}"
            config = unit_config(name, base, seed)
            if (
                key in done
                and same_training(done[key]["config"], asdict(config))
                and (done[key].get("metrics_by_views") or not name.startswith("ham"))
            ):
                continue  # finished with this very configuration; a changed one runs again
            print(f"{key} ...", flush=True)
            done[key] = run_unit(name, all_units[name], config, args.cache_dir)
            print(f"{key}: {done[key]['metrics']} ({done[key]['wall_seconds']:.0f} s)", flush=True)
            done = save_partial(partial_path, key, done[key])

    done = load_partial(partial_path) or done  # everything on file, with units a run beside this one finished
    results = {}
    for name in chosen:
        rows = [done[f"{name}/seed{s}"] for s in args.seeds if f"{name}/seed{s}" in done]
        keys = MULTI_KEYS if name.startswith("ham") else BINARY_KEYS
        views, tau = ham_rule() if name.startswith("ham") else (1, 0.0)
        reported = [rule_metrics(name, all_units[name], r, views, tau, args.cache_dir) for r in rows]
        entry = summarize_values(reported, keys)
        entry["decision_rule"] = {"tta_views": views, "tau": tau}
        if all(r.get("metrics_by_views") for r in rows):
            # Every view count without adjustment, for the record; the reported rule is `decision_rule`.
            entry["by_views_without_adjustment"] = {
                v: summarize_values([r["metrics_by_views"][v] for r in rows], keys)
                for v in rows[0]["metrics_by_views"]
            }
        if name.startswith("ham") and ham_rule(preregistered=True) != (views, tau):
            first_views, first_tau = ham_rule(preregistered=True)
            first = [
                rule_metrics(name, all_units[name], r, first_views, first_tau, args.cache_dir) for r in rows
            ]
            entry["preregistered_rule"] = {
                "tta_views": first_views,
                "tau": first_tau,
                **summarize_values(first, keys),
            }
        if (views, tau) != (1, 0.0):
            entry["plain_prediction"] = summarize_values([r["metrics"] for r in rows], keys)
            for s in args.seeds:  # keep what was computed from the saved models for the next summary
                if f"{name}/seed{s}" in done:
                    save_partial(partial_path, f"{name}/seed{s}", done[f"{name}/seed{s}"])
        entry["train_images_per_second"] = summarize_values(rows, ["train_images_per_second"])[
            "train_images_per_second"
        ]
        entry["wall_seconds"] = float(sum(r["wall_seconds"] for r in rows))
        entry["best_epoch"] = [r["best_epoch"] for r in rows]
        entry["targets"] = TARGETS.get(name)
        entry["per_seed"] = rows
        results[name] = entry

    payload = {
        "results": results,
        "config": {
            **asdict(base),
            "backbone": "efficientnet_lite0",
            "weights": "imagenet (offline)",
            "ham10000": {
                k: v
                for k, v in asdict(unit_config("ham10000_7class", base, 0)).items()
                if k in ("class_weights", "epochs", "freeze_stages")
            },
        },
        "seeds": args.seeds,
        "versions": versions(),
        "machine": machine(),
        # The sum over units, so a resumed or re-summarised run still reports the compute it took.
        "wall_seconds": float(sum(r["wall_seconds"] for r in done.values())),
        "paper000": PAPER000,
    }
    write_json(RESULTS / f"{args.name}.json", payload)
    md = [
        f"# {args.name}: full-data fine-tuning (EfficientNet-Lite0, offline ImageNet weights, CPU fast path)",
        "",
        f"Seeds {args.seeds}; mean ± standard error. Reproduce: `python benchmarks/full_data.py`.",
        "",
        *_table(results, [n for n in chosen if not n.startswith("ham")], BINARY_KEYS),
        *_table(results, [n for n in chosen if n.startswith("ham")], MULTI_KEYS),
        *_rules_table(results),
        "Train images/s is the throughput of training steps from the activation cache (contended by other",
        "processes for the first seeds); wall seconds include caching the trunk activations once.",
        "",
        f"Targets: {TARGETS}. Paper 000 (ResNet-101, 224 px, 3582 images): {PAPER000}.",
    ]
    write_text(RESULTS / f"{args.name}.md", "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
