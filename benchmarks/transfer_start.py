"""Start a clinic's annotation project from a public-data model, or from ImageNet? (issue 33, section 1)

Two simulated clinics, melanoma vs rest:

- `ham10000_from_isic2017`: the clinic's images are HAM10000's (a fixed random 2,000 of the 5,984 of the
  development copy, the same for every seed), the public model is the `lesionlab train` run on ISIC 2017
  task 1 (`~/.cache/lesionlab/benchmarks/isic2017_melanoma_seed0`); test: the 1,512 ISIC 2018 test images.
- `isic2017_from_ham10000`: the clinic's images are ISIC 2017's 2,000 training images, the public model a
  `lesionlab train` run on HAM10000 melanoma vs rest (`ham10000_melanoma_seed0`, made with this script's
  `--train-ham-run`); test: the 600 ISIC 2017 test images.

Arms: `scratch` (today's project: `project init`, cold-start proposals, models from ImageNet) and
`from_run` (`project init --from-run`: the run's model is version 0; each `project train` chooses, by its
own cross-validated AUC, between version 0 as is, fine-tuned from it, and ImageNet: `start_choice`;
each proposal round gives half its images to k-center coverage in the newest model's embedding space,
`start.coverage_share` 0.5). The share was fixed at the default, before any test figure of it was read,
from `transfer_start_labels.py` (held-out pool images only): version 0's own entropy picks had trained
worse models than coverage picks in both clinics. The `from_run` rows measured before the share are kept
in `results/transfer_start_before_mix.{json,md}`.
Each unit (clinic, arm, seed) drives the real project code: init, `propose`, labels stored one at a time
in proposal order by an oracle with the ground truth, `project train` (2-fold cross-validation plus the
final model) at 10, 20, 40, 80, 120, 160 and 200 labels, and the newest version's test AUC at 0 and each.
Between two trainings the model does not change, so proposing the gap's images in one call picks what
proposing them one at a time would (entropy's top-k; greedy k-center with the labelled images as
centres): one proposal round per gap. A model that cannot be trained
yet (fewer than two labels of a class) leaves the newest version in place; a scratch project without any
scores AUC 0.5 (no model: a coin).

Compute, CPU fast path: `train.freeze_stages: 6` (stages 0-5 frozen, cached once per image and trunk),
`views: 1`, one thread; 2-fold cross-validation inside `project train` (the benchmark reads the test AUC,
not the project's own estimate). Each unit restarts from scratch when rerun; finished units are kept in
`results/transfer_start.partial.json`.

    nice -n 19 python benchmarks/transfer_start.py --threads 1     # every unit not yet finished
    nice -n 5 python benchmarks/transfer_start.py --threads 1 --clinic ham10000_from_isic2017  # one clinic
    python benchmarks/transfer_start.py --units isic2017_from_ham10000:from_run:0 --threads 1
    python benchmarks/transfer_start.py --summarize                # results from the finished units

Writes results/transfer_start.json and .md.
"""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import RESULTS, base_parser, load_partial, save_partial
from lesionlab.data.records import Record
from lesionlab.evaluation.metrics import mean_se
from provenance import git_state, write_outputs
from transfer_start_report import ARMS, CLINICS, COUNTS, markdown

OUT = RESULTS / "transfer_start.json"
PARTIAL = OUT.with_suffix(".partial.json")
CLASSES = ["other", "melanoma"]
POOL_SIZE = 2000
RUNS = {
    "ham10000_from_isic2017": "isic2017_melanoma_seed0",
    "isic2017_from_ham10000": "ham10000_melanoma_seed0",
}
SETTINGS = {"freeze_stages": 6, "views": 1, "num_threads": 1, "progress": False}
FOLDS = 2


def pool_and_test(clinic: str, data: Path, work: Path) -> tuple[Path, dict[str, int], list[Record]]:
    """(the clinic's images folder, its true labels by image id, the labelled test records)."""
    if clinic == "ham10000_from_isic2017":
        ham = data / "ham10000"
        with open(ham / "HAM10000_metadata.csv", newline="") as fh:
            truth_all = {r["image_id"]: int(r["dx"] == "mel") for r in csv.DictReader(fh)}
        ids = sorted(truth_all)
        keep = sorted(np.random.default_rng(0).choice(len(ids), POOL_SIZE, replace=False))
        truth = {ids[i]: truth_all[ids[i]] for i in keep}
        pool = work / "pools" / "ham10000"
        pool.mkdir(parents=True, exist_ok=True)
        for image_id in truth:  # links: the clinic's folder holds only its 2,000 images
            link = pool / f"{image_id}.jpg"
            if not link.exists():
                link.symlink_to(ham / "HAM10000_images" / f"{image_id}.jpg")
        with open(ham / "ISIC2018_Task3_Test_GroundTruth.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        folder = ham / "ISIC2018_Task3_Test_Images"
        test = [Record(r["image"], folder / f"{r['image']}.jpg", int(float(r["MEL"]) == 1.0)) for r in rows]
        return pool, truth, test
    isic = data / "isic2017"

    def labels(stem: str) -> dict[str, int]:
        with open(isic / f"ISIC-2017_{stem}_Part3_GroundTruth.csv", newline="") as fh:
            return {r["image_id"]: int(float(r["melanoma"]) == 1.0) for r in csv.DictReader(fh)}

    folder = isic / "ISIC-2017_Test_v2_Data"
    test = [Record(i, folder / f"{i}.jpg", y) for i, y in sorted(labels("Test_v2").items())]
    return isic / "ISIC-2017_Training_Data", labels("Training"), test


def _link_cache(project_dir: Path, cache: Path) -> None:
    """The project's image and activation caches are the shared ones (keyed by content and trunk
    weights, so no unit reads another trunk's entries); its own evidence files stay in the project."""
    (project_dir / "cache").mkdir(parents=True)
    for name in ("activations", "v4_224_gray_world"):
        (cache / name).mkdir(parents=True, exist_ok=True)
        (project_dir / "cache" / name).symlink_to(cache / name)


def test_auc(project, test: list[Record]) -> dict[str, Any]:
    """The newest model version's melanoma AUC on the test images (0.5 with no model at all)."""
    from sklearn.metrics import roc_auc_score

    from lesionlab.project.modelling import latest_version, load_version

    version = latest_version(project)
    if version is None:
        return {"auc": 0.5, "model_version": None}
    probs = load_version(project, version, progress=False).predict(test)
    y = np.array([r.label for r in test])
    choice = version.metrics.get("start_choice") or {}
    return {
        "auc": float(roc_auc_score(y, probs[:, CLASSES.index("melanoma")])),
        "model_version": version.id,
        "start": choice.get("chosen"),  # the start `project train` chose (a project started from a run)
        "start_candidates": {n: c.get("auc") for n, c in (choice.get("candidates") or {}).items()},
    }


def open_unit(clinic: str, arm: str, seed: int, pool: Path, project_dir: Path, cache: Path, runs: Path):
    """A fresh project of one unit: `project init` (scratch) or `project init --from-run` (from_run)."""
    from lesionlab.config import TrainConfig
    from lesionlab.project import init_project
    from lesionlab.project.transfer import init_from_run

    shutil.rmtree(project_dir, ignore_errors=True)  # a unit always starts over
    _link_cache(project_dir, cache)
    settings = {"train": TrainConfig(**SETTINGS, seed=seed), "folds": FOLDS, "seed": seed}
    if arm == "from_run":
        return init_from_run(project_dir, pool, runs / RUNS[clinic], CLASSES, show_progress=False, **settings)
    return init_project(project_dir, pool, CLASSES, show_progress=False, **settings)


def run_unit(clinic: str, arm: str, seed: int, args) -> dict[str, Any]:
    """Labels 0 to 200 revealed proposal by proposal; the test AUC at each count of `COUNTS`."""
    from lesionlab.errors import DataError
    from lesionlab.project.propose import propose
    from lesionlab.project.training import train_project

    work = args.cache_dir / "benchmarks" / "transfer_start"
    pool, truth, test = pool_and_test(clinic, args.data, work)
    start = time.perf_counter()
    project_dir = work / "projects" / f"{clinic}_{arm}_s{seed}"
    project = open_unit(clinic, arm, seed, pool, project_dir, args.cache_dir, args.cache_dir / "benchmarks")
    row: dict[str, Any] = {"counts": {}, "init_seconds": round(time.perf_counter() - start, 1)}
    with project:
        if arm == "from_run":
            row["domain_check"] = project.store.model_versions()[0].metrics["domain_check"]
        labelled = 0
        for count in COUNTS:
            note = None
            if count > labelled:
                proposed = propose(project, count - labelled, show_progress=False)
                for image_id in proposed.ids:  # revealed one at a time, in proposal order
                    project.store.save_label(image_id, truth[image_id], "oracle")
                labelled += len(proposed.ids)
                try:
                    train_project(project, folds=FOLDS, show_progress=False)
                except DataError as exc:  # e.g. one melanoma so far: the newest version stays
                    note = str(exc).splitlines()[0]
            labels = project.store.labels()
            row["counts"][str(count)] = {
                **test_auc(project, test),
                "labels": len(labels),
                "melanomas": int(sum(labels.values())),
                "not_trained": note,
                "seconds": round(time.perf_counter() - start, 1),
            }
            print(f"{clinic} {arm} seed {seed}: {count} labels {row['counts'][str(count)]}", flush=True)
    row["seconds"] = round(time.perf_counter() - start, 1)
    row["commit"] = git_state()["commit"]
    shutil.rmtree(project_dir / "models", ignore_errors=True)  # checkpoints: 13 MB each, not needed after
    return row


def train_ham_run(args) -> Path:
    """The public model of `isic2017_from_ham10000`: `lesionlab train` on HAM10000 melanoma vs rest, a
    class-stratified 15 % of the images as validation (one image per lesion in this copy), CPU fast path."""
    from lesionlab.config import TrainRunConfig, load_config
    from lesionlab.supervised import train_run

    ham = args.data / "ham10000"
    work = args.cache_dir / "benchmarks" / "transfer_start"
    work.mkdir(parents=True, exist_ok=True)
    with open(ham / "HAM10000_metadata.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    label = ["melanoma" if r["dx"] == "mel" else "other" for r in rows]
    rng, val = np.random.default_rng(0), set()
    for name in ("melanoma", "other"):
        members = [i for i, lab in enumerate(label) if lab == name]
        rng.shuffle(members)
        val |= set(members[: round(0.15 * len(members))])
    table = work / "ham10000_melanoma.csv"
    with open(table, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["image_id", "label", "split", "group"])
        for i, r in enumerate(rows):
            out.writerow([r["image_id"], label[i], "val" if i in val else "train", r["lesion_id"]])
    config = {
        "data": {
            "source": "folder",
            "root": str(ham / "HAM10000_images"),
            "task": "melanoma",
            "options": {"csv": str(table), "positive": "melanoma"},
        },
        "model": {"backbone": "efficientnet_lite0", "weights": "imagenet"},
        "train": {**SETTINGS, "resolution": 224, "epochs": 20, "patience": 5, "lr": 0.0001},
        "output": str(args.cache_dir / "benchmarks" / RUNS["isic2017_from_ham10000"]),
    }
    train_run(load_config(TrainRunConfig, config))
    return Path(config["output"])


def _paired(rows: dict, clinic: str, count: str, other_count: str | None = None) -> dict[str, Any]:
    """from_run minus scratch over the seeds both finished (scratch at `other_count` if given)."""
    arms = rows.get(clinic, {})
    seeds = sorted(set(arms.get("from_run", {})) & set(arms.get("scratch", {})))
    diffs = [
        arms["from_run"][s]["counts"][count]["auc"]
        - arms["scratch"][s]["counts"][other_count or count]["auc"]
        for s in seeds
    ]
    return {
        **mean_se(diffs),
        "seeds": [int(s) for s in seeds],
        "all_at_least_zero": all(d >= 0 for d in diffs),
    }


def _starts(rows: list[dict]) -> dict[str, int]:
    """How many seeds' newest model came from each start `project train` chose (from_run only)."""
    starts = [r.get("start") for r in rows if r.get("start")]
    return {name: starts.count(name) for name in sorted(set(starts))}


def summarize(done: dict[str, Any], seeds: list[int]) -> dict[str, Any]:
    """The issue's layout: results[clinic][arm][labels]["auc"] = mean and se over the finished seeds."""
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for key, row in done.items():
        clinic, arm, seed = key.split(":")
        rows.setdefault(clinic, {}).setdefault(arm, {})[seed] = row
    results: dict[str, Any] = {}
    for clinic, arms in rows.items():
        out: dict[str, Any] = {}
        for arm, by_seed in arms.items():
            out[arm] = {
                str(c): {
                    "auc": mean_se([r["counts"][str(c)]["auc"] for r in by_seed.values()]),
                    "melanomas": mean_se([r["counts"][str(c)]["melanomas"] for r in by_seed.values()]),
                    "no_new_model": sum(
                        r["counts"][str(c)]["not_trained"] is not None for r in by_seed.values()
                    ),
                    "starts": _starts([r["counts"][str(c)] for r in by_seed.values()]),
                }
                for c in COUNTS
            }
            # beside the arms, not among the label counts of the layout
            out.setdefault("units", {})[arm] = {
                "seeds": sorted(int(s) for s in by_seed),
                "minutes_per_unit": mean_se([r["seconds"] / 60 for r in by_seed.values()]),
                "commits": sorted({r["commit"] for r in by_seed.values() if r.get("commit")}),
            }
        checks = [r["domain_check"] for r in arms.get("from_run", {}).values()]
        if checks:
            out["domain_check"] = {
                "two_sample_auc": mean_se([c["two_sample_auc"] for c in checks]),
                "outlier_share": mean_se([c["outlier_share"] for c in checks]),
                "verdicts": sorted({c["verdict"] for c in checks}),
                "n_reference": checks[0]["n_reference"],
                "n_new": checks[0]["n_new"],
            }
        out["from_run_minus_scratch"] = {str(c): _paired(rows, clinic, str(c)) for c in COUNTS}
        out["from_run_40_minus_scratch_200"] = _paired(rows, clinic, "40", "200")
        results[clinic] = out
    return results


def write(done: dict[str, Any], args) -> None:
    results = summarize(done, args.seeds)
    config = {
        "clinics": list(CLINICS),
        "arms": list(ARMS),
        "counts": list(COUNTS),
        "pool_size": POOL_SIZE,
        "runs": RUNS,
        "train": SETTINGS,
        "folds": FOLDS,
        "units_done": sorted(done),
    }
    payload = {
        "results": results,
        "units": done,  # every finished (clinic, arm, seed): AUC, labels and melanomas at each count
        "config": config,
        "seeds": args.seeds,
        "commit": git_state()["commit"],
    }
    write_outputs(OUT, payload, markdown(results))


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--units", nargs="*", help="clinic:arm:seed units to run (default: all not done)")
    parser.add_argument("--summarize", action="store_true", help="only write results from finished units")
    parser.add_argument("--train-ham-run", action="store_true", help="train the HAM10000 run first")
    parser.add_argument("--clinic", choices=CLINICS, help="only this clinic's units (one process per clinic)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.train_ham_run:
        train_ham_run(args)
    done = load_partial(PARTIAL)
    if not args.summarize:
        clinics = [args.clinic] if args.clinic else CLINICS
        units = args.units or [f"{c}:{a}:{s}" for s in args.seeds for c in clinics for a in ARMS[::-1]]
        for unit in units:
            if unit in done:
                continue
            clinic, arm, seed = unit.split(":")
            if clinic not in CLINICS or arm not in ARMS:
                raise SystemExit(f"unknown unit {unit!r}: clinic one of {CLINICS}, arm one of {ARMS}")
            run = args.cache_dir / "benchmarks" / RUNS[clinic]
            if arm == "from_run" and not (run / "metrics.json").is_file():
                print(f"skipped {unit}: no finished run in {run} (--train-ham-run makes the HAM one)")
                continue
            done = save_partial(PARTIAL, unit, run_unit(clinic, arm, int(seed), args))
            write(done, args)
    write(done, args)


if __name__ == "__main__":
    main()
