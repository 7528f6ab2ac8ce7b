"""Full-data fine-tuning: the reference rows every active-learning curve is measured against.

ISIC 2017 task 1 (melanoma) and task 2 (seborrheic keratosis): train on the 2000 training images, pick
the epoch on the 150 validation images, report on the 600 test images. HAM10000: train on all 5984
images (so no validation split is left to pick an epoch on) with the class weighting and the number of
epochs that `ham_selection.py` chose on a lesion-grouped validation split, report on the 1512 ISIC 2018
test images under the test-time rule (views averaged, logit adjustment) that `ham_tta.py` chose on the
same split; every view count is measured as well, for the record. Several seeds; mean and s.e.

    python benchmarks/full_data.py                 # all three, 3 seeds
    # (ISIC 2017 about 60 min on 2 cores; HAM10000 at freeze 3 about 75 min per seed on 1 core)
    python benchmarks/full_data.py --only isic2017_melanoma --seeds 0    # one unit, about 10 min

Each unit is one `lesionlab.supervised.train_run`, kept in CACHE/benchmarks/<unit>_seed<S>/ (model and
metrics) so that another decision rule is evaluated without retraining. Interrupted runs resume:
finished (task, seed) units are kept in results/<name>.partial.json (committed) and trained again only
when their training configuration changed. Runs side by side on different seeds (`--seeds 1 --threads 1`
beside `--seeds 2 --threads 1`) share that file; a last plain run then trains nothing and writes the
summary of all seeds. Each run rewrites results/<name>.json and .md for the units and seeds it was given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common import (
    RESULTS,
    base_parser,
    fmt,
    load_partial,
    renamed,
    same_training,
    save_partial,
    summarize_values,
)
from ham_tta import tta_metrics
from lesionlab.config import TrainConfig, TrainRunConfig, load_config
from lesionlab.supervised import evaluate_run, load_trained_run, train_run
from provenance import write_outputs

BINARY_KEYS = ["accuracy", "auc", "ap", "sensitivity", "specificity"]
MULTI_KEYS = ["accuracy", "balanced_accuracy", "macro_auc"]
# The CPU default configuration (see docs/reproduction.md for why).
DEFAULT_TRAIN = TrainConfig(num_threads=2, progress=False)
HAM_EPOCHS = 6  # used only until benchmarks/ham_selection.py has chosen epochs on a validation split
HAM_SELECTION = RESULTS / "ham_selection.json"
HAM_TTA = RESULTS / "ham_tta.json"
PAPER000 = {
    "isic2017_melanoma": {"auc": 0.821, "accuracy": 0.863},
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
        return base.updated(seed=seed)
    if HAM_SELECTION.exists():
        chosen = json.loads(HAM_SELECTION.read_text())["chosen"]
        return base.updated(
            seed=seed,
            class_weights=chosen["class_weights"],
            epochs=chosen["epochs"],
            freeze_stages=chosen.get("freeze_stages", base.freeze_stages),
        )
    return base.updated(seed=seed, epochs=HAM_EPOCHS)


def ham_rule(preregistered: bool = False) -> tuple[int, float]:
    """HAM10000's test-time rule (views averaged, logit-adjustment tau), as `ham_tta.py` chose it on
    validation (`preregistered`: by the criterion fixed first); the plain prediction until it has."""
    if not HAM_TTA.exists():
        return 1, 0.0
    stored = json.loads(HAM_TTA.read_text())
    chosen = stored.get("preregistered", stored)["chosen"] if preregistered else stored["chosen"]
    return int(chosen["tta_views"]), float(chosen.get("tau", 0.0))


def unit_dir(cache_dir: Path, name: str, seed: int) -> Path:
    """A unit's `lesionlab train` run (model.pt, metrics.json), kept so that a later evaluation under
    another decision rule or more views needs no retraining."""
    return cache_dir / "benchmarks" / f"{name}_seed{seed}"


def rule_metrics(name: str, row: dict, views: int, tau: float, cache_dir: Path) -> dict:
    """Test metrics of a finished unit under a decision rule, from its saved model (no retraining)."""
    if tau == 0.0:
        return row["metrics_by_views"][str(views)] if views > 1 else row["metrics"]
    rule = f"{views}@{tau}"
    if rule in row.get("metrics_by_rule", {}):
        return row["metrics_by_rule"][rule]
    run_dir = unit_dir(cache_dir, name, row["seed"])
    metrics_file = run_dir / "metrics.json"
    saved = json.loads(metrics_file.read_text())["config"]["train"] if metrics_file.exists() else None
    if saved is None or not same_training(saved, row["config"]):
        raise SystemExit(
            f"{run_dir} is missing or from another configuration: rerun {name} seed {row['seed']}"
        )
    # One bootstrap resample: the intervals are not reported here, only the point metrics.
    metrics = evaluate_run(run_dir, "test", n_boot=1, tta_views=views, logit_adjustment=tau)["metrics"]
    row.setdefault("metrics_by_rule", {})[rule] = floats(metrics)
    return row["metrics_by_rule"][rule]


def floats(metrics: dict) -> dict[str, float]:
    """The scalar metrics (not per-class lists or confusion matrices)."""
    return {k: v for k, v in metrics.items() if isinstance(v, float)}


def run_unit(name: str, spec: tuple, config: TrainConfig, cache_dir: Path) -> dict:
    """Train one (task, seed) with `lesionlab.supervised.train_run`: epoch picked on val, test metrics."""
    source, root, task = spec
    out = unit_dir(cache_dir, name, config.seed)
    run = {
        "data": {"source": source, "root": str(root), "task": task},
        "train": config.model_dump(),
        "output": str(out),
        "cache_dir": str(cache_dir),
        "check_files": False,  # checked once with `lesionlab datasets describe` (README.md)
    }
    result = train_run(load_config(TrainRunConfig, run), force=True)
    # HAM10000 reports the view count ham_tta.py chose on validation; every candidate is measured here
    # so the seeds need not wait for that choice, which never looks at these numbers.
    by_views = None
    if name.startswith("ham"):
        _, ds, trainer = load_trained_run(out)
        by_views = tta_metrics(trainer, ds.split("test"), ds.classes)
    kept = ("best_epoch", "train_images_per_second", "cache_seconds", "train_seconds", "wall_seconds")
    return {
        "seed": config.seed,
        "metrics": floats(result["test"]),
        "metrics_by_views": by_views,
        "per_class_recall": result["test"].get("per_class_recall"),
        **{k: result[k] for k in kept},
        "n_train": result["n_train"],
        "n_val": result["n_val"],
        "n_test": result["n_test"],
        "config": config.model_dump(),
    }


def stored_rows(path: Path) -> dict[str, dict]:
    """Finished units from the partial file, with today's metric names (`acc` -> `accuracy`)."""
    rows = {}
    for key, row in load_partial(path).items():
        row["metrics"] = renamed(row["metrics"])
        for field in ("metrics_by_views", "metrics_by_rule"):
            if row.get(field):
                row[field] = {k: renamed(v) for k, v in row[field].items()}
        rows[key] = row
    return rows


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


def train_missing(
    args: Any, base: TrainConfig, chosen: list[str], all_units: dict, partial_path: Path
) -> dict:
    """Train every (unit, seed) not finished with this very configuration; returns the units on file."""
    done = stored_rows(partial_path)
    for name in chosen:
        for seed in args.seeds:
            key = f"{name}/seed{seed}"
            config = unit_config(name, base, seed)
            if (
                key in done
                and same_training(done[key]["config"], config)
                and (done[key].get("metrics_by_views") or not name.startswith("ham"))
            ):
                continue  # finished with this very configuration; a changed one runs again
            print(f"{key} ...", flush=True)
            done[key] = run_unit(name, all_units[name], config, args.cache_dir)
            print(f"{key}: {done[key]['metrics']} ({done[key]['wall_seconds']:.0f} s)", flush=True)
            done = save_partial(partial_path, key, done[key])
    return done


def unit_entry(name: str, rows: list[dict], args: Any, done: dict, partial_path: Path) -> dict[str, Any]:
    """One unit's summary over its seeds under its decision rule (HAM10000: the chosen test-time rule),
    with the preregistered rule and the plain prediction beside it when they differ."""
    keys = MULTI_KEYS if name.startswith("ham") else BINARY_KEYS
    views, tau = ham_rule() if name.startswith("ham") else (1, 0.0)
    reported = [rule_metrics(name, r, views, tau, args.cache_dir) for r in rows]
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
        first = [rule_metrics(name, r, first_views, first_tau, args.cache_dir) for r in rows]
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
    return entry


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--only", nargs="+", default=None)
    parser.add_argument("--freeze-stages", type=int, default=DEFAULT_TRAIN.freeze_stages)
    parser.add_argument("--name", default="full_data")
    args = parser.parse_args()

    base = DEFAULT_TRAIN.updated(freeze_stages=args.freeze_stages, num_threads=args.threads)
    all_units = units(args.data)
    chosen = args.only or list(all_units)
    partial_path = RESULTS / f"{args.name}.partial.json"
    done = train_missing(args, base, chosen, all_units, partial_path)
    done = stored_rows(partial_path) or done  # everything on file, with units a run beside this one finished
    results = {}
    for name in chosen:
        rows = [done[f"{name}/seed{s}"] for s in args.seeds if f"{name}/seed{s}" in done]
        results[name] = unit_entry(name, rows, args, done, partial_path)

    payload = {
        "results": results,
        "config": {
            **base.model_dump(),
            "backbone": "efficientnet_lite0",
            "weights": "imagenet (offline)",
            "ham10000": {
                k: v
                for k, v in unit_config("ham10000_7class", base, 0).model_dump().items()
                if k in ("class_weights", "epochs", "freeze_stages")
            },
        },
        "seeds": args.seeds,
        # The sum over units, so a resumed or re-summarised run still reports the compute it took.
        "wall_seconds": float(sum(r["wall_seconds"] for r in done.values())),
        "paper000": PAPER000,
    }
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
        f"Targets: {TARGETS}. Shi et al. 2019 (ResNet-101, 224 px, 3582 images): {PAPER000}.",
    ]
    write_outputs(RESULTS / f"{args.name}.json", payload, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
