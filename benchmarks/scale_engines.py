"""The `ray` part of `scale.py`: one experiment run serially and with `--engine ray` (2 tasks of one
thread), wall times and whether both give identical results and pool states. Run in a fresh process by
`scale.py` (its own module, so the spawned process imports it by name).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any


def real_config(data: Path, out: Path, cache: Path, resolution: int):
    """ISIC 2017 melanoma, 2,000-image pool, +200 x 2 rounds, random and least confidence, one seed."""
    from lesionlab.config import ExperimentConfig, load_config

    return load_config(
        ExperimentConfig,
        {
            "name": "scale: ISIC 2017 melanoma, serial vs ray",
            "data": {"source": "isic2017", "root": str(data / "isic2017"), "task": "melanoma"},
            "train": {"resolution": resolution, "epochs": 5, "views": 2, "num_threads": 1, "progress": False},
            "experiment": {
                "strategies": ["random", "least_confidence"],
                "seeds": [0],
                "initial": {"kind": "random", "size": 200},
                "budget": 200,
                "rounds": 2,
            },
            "output": str(out),
            "cache_dir": str(cache),
        },
    )


def _fill_activations(config) -> None:
    """Compute every image's trunk activations once, so neither timed run pays for them."""
    from lesionlab.data.loading import load_dataset
    from lesionlab.models.registry import create_classifier
    from lesionlab.training.trainer import Trainer

    dataset = load_dataset(config)
    model = create_classifier(config.model.backbone, dataset.num_classes, config.model.weights, seed=0)
    trainer = Trainer(model, config.train.updated(progress=False), cache_dir=config.cache_dir)
    trainer.runtime.activations.get([r.image_path for r in dataset.records], config.train.views)


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):
        skip = ("output", "cache_dir", "name")
        return {k: _comparable(v) for k, v in value.items() if not k.endswith("_seconds") and k not in skip}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def measure_engines(config_json: dict, label: str) -> dict:
    from lesionlab.config import ExperimentConfig
    from lesionlab.runner.engines import Engine
    from lesionlab.runner.experiment import run_experiment

    base = ExperimentConfig.model_validate(config_json)
    out = Path(base.output)
    shutil.rmtree(out, ignore_errors=True)
    _fill_activations(base)
    import ray

    walls, results = {}, {}
    config = base.model_copy(update={"output": out / "serial"})
    t0 = time.perf_counter()
    results["serial"] = run_experiment(config, engine=Engine("serial"))
    walls["serial"] = time.perf_counter() - t0
    # Ray's start-up (~10 s here) is timed on its own: a cluster is started once for many experiments.
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=True)
    ray_start = time.perf_counter() - t0
    try:
        config = base.model_copy(update={"output": out / "ray"})
        t0 = time.perf_counter()
        results["ray"] = run_experiment(config, engine=Engine("ray", workers=2, threads=1))
        walls["ray"] = time.perf_counter() - t0
    finally:
        ray.shutdown()
    states_same = all(
        _comparable(json.loads(p.read_text()))
        == _comparable(json.loads((out / "ray" / "state" / p.name).read_text()))
        for p in (out / "serial" / "state").glob("*_seed*.json")
    )
    identical = _comparable(results["serial"]) == _comparable(results["ray"]) and states_same
    return {
        "experiment": label,
        "wall_seconds": walls,
        "ray_start_seconds": ray_start,
        "wall_ratio_serial_over_ray": walls["serial"] / walls["ray"],
        "identical": identical,
    }
