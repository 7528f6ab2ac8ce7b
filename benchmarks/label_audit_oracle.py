"""Part 4 of `label_audit.py`: the noisy oracle in the active-learning loop, with and without the label
audit (ISIC 2017 melanoma, random selection, 10 % uniform wrong answers); its own module so the measuring
script stays readable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common import RESULTS

NOISY_ORACLE = {"rate": 0.1, "relabel_fraction": 0.1, "epochs": 10, "patience": 3, "rounds": 4}


def noisy_oracle_config(data: Path, out: Path, seeds: list[int], cache: Path, threads: int):
    """ISIC 2017 melanoma, random selection, 10 % start and +10 % per round (the al_baselines protocol with
    fewer epochs to fit the CPU budget), a noisy oracle, and every run twice: with and without the audit."""
    from lesionlab.config import ExperimentConfig, load_config

    return load_config(
        ExperimentConfig,
        {
            "name": "ISIC 2017 melanoma: noisy oracle (10 % wrong answers), with and without the label audit",
            "data": {"source": "isic2017", "root": str(data / "isic2017"), "task": "melanoma"},
            "train": {
                "freeze_stages": 6,
                "num_threads": threads,
                "epochs": NOISY_ORACLE["epochs"],
                "patience": NOISY_ORACLE["patience"],
                "progress": False,
            },
            "experiment": {
                "strategies": ["random"],
                "seeds": seeds,
                "initial": {"kind": "random", "size": 0.1},
                "budget": 0.1,
                "rounds": NOISY_ORACLE["rounds"],
                "oracle": "noisy",
                "oracle_noise": NOISY_ORACLE["rate"],
                "audit": {
                    "every_round": True,
                    "relabel_fraction": NOISY_ORACLE["relabel_fraction"],
                    "compare": True,
                },
            },
            "output": str(out),
            "cache_dir": str(cache),
        },
    )


def noisy_oracle(data: Path, seeds: list[int], cache: Path, threads: int) -> dict[str, Any]:
    from lesionlab.evaluation.report import write_report
    from lesionlab.evaluation.summary import summarize
    from lesionlab.runner.experiment import run_experiment

    out = RESULTS / "label_audit" / "noisy_oracle"
    config = noisy_oracle_config(data, out, seeds, cache, threads)
    results = (
        run_experiment(config, force=False, progress=True) if not (out / "results.json").exists() else None
    )
    results = results or json.loads((out / "results.json").read_text())
    write_report(results, out)
    summary = summarize(results)
    rows = {}
    for name, key in (("random", "without_audit"), ("random+audit", "with_audit")):
        s = summary["strategies"][name]
        runs = [r for r in results["runs"] if r["strategy"] == name]
        wrong = [[rnd.get("wrong_labels") for rnd in r["rounds"]] for r in runs]
        relabeled = [sum(len(rnd.get("relabeled_ids") or []) for rnd in r["rounds"]) for r in runs]
        changed = [sum(len(rnd.get("relabel_changed") or []) for rnd in r["rounds"]) for r in runs]
        rows[key] = {
            "alc": {k: s["alc"][k] for k in ("mean", "se", "n")},
            "alc_per_seed": s["alc"]["per_seed"],
            "annotation_cost": s["annotation_cost"],
            "n_labeled": s["n_labeled"],
            "auc": [{"mean": p["mean"], "se": p["sem"]} for p in s["curves"]["auc"]],
            "wrong_labels_per_seed": wrong,
            "relabeled_per_seed": relabeled,
            "relabel_changed_per_seed": changed,
        }
    return {"settings": NOISY_ORACLE, "seeds": seeds, **rows, "wall_seconds": results.get("wall_seconds")}
