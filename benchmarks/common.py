"""Shared plumbing for benchmark scripts: data location, options, partial files, stored configurations and
summaries. What every results file records (commit, versions, machine) and its writer: `provenance.py`."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lesionlab.config import TrainConfig
from lesionlab.data.cache import default_cache_dir
from lesionlab.evaluation.metrics import mean_se
from lesionlab.io import write_json
from lesionlab.models.classifier import LesionClassifier
from lesionlab.models.registry import load_lesionlab_checkpoint

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DEFAULT_DATA = Path(os.environ.get("LESIONLAB_DATA", ROOT.parent.parent / "shared" / "data"))
# Metric names results written before lesionlab had one name per metric used (binary 'acc').
RENAMED_METRICS = {"acc": "accuracy"}


def base_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every benchmark takes: where the data is, which seeds, where the caches live."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with isic2017/ and ham10000/")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--threads", type=int, default=2, help="torch threads: 1 for each of two runs side by side on 2 cores"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=default_cache_dir(),
        help="default: $LESIONLAB_CACHE or ~/.cache/lesionlab (here: %(default)s)",
    )
    return parser


def load_partial(path: Path) -> dict[str, Any]:
    """Finished units of a benchmark that was interrupted: reruns skip them."""
    return json.loads(path.read_text()) if path.exists() else {}


def save_partial(path: Path, key: str, row: dict[str, Any]) -> dict[str, Any]:
    """Add one finished unit to the file, keeping units that a run beside this one has added since.

    Returns everything now on file, so two runs on different seeds can share one partial file.
    """
    done = {**load_partial(path), key: row}
    write_json(path, done)
    return done


def renamed(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    """Stored metrics under today's names (`acc` -> `accuracy`), so old results re-summarise."""
    if metrics is None:
        return None
    return {RENAMED_METRICS.get(k, k): v for k, v in metrics.items()}


def summarize_values(rows: list[dict[str, float]], keys: list[str]) -> dict[str, dict[str, float]]:
    """{metric: {"mean", "se", "n"}} over seeds, through lesionlab's own `mean_se`."""
    return {
        k: {kk: vv for kk, vv in mean_se([r[k] for r in rows]).items() if kk in ("mean", "se", "n")}
        for k in keys
    }


def saving_cell(block: dict[str, Any], baseline_alc: float, key: str = "saving_vs_random") -> str:
    """A saving vs the baseline as a table cell ('+12%'), never a saving when the row's mean ALC is below
    the baseline's (a curve can touch the baseline's best first and still lie below it), as reports say."""
    saving = block.get(key) or {}
    if saving.get("value") is None:
        return "—"
    if block["alc"]["mean"] < baseline_alc:
        return "no saving (ALC below)"
    return f"{saving['value']:+.0%}"


def fmt(stat: dict[str, float]) -> str:
    return f"{stat['mean']:.3f} ± {stat['se']:.3f}"


# Settings that change speed or how predictions are read, not the trained weights.
NOT_TRAINING = ("num_threads", "device", "progress", "tta_views")


def training_fields(config: TrainConfig | dict[str, Any]) -> dict[str, Any]:
    """The settings that decide the trained weights; a field missing from a stored configuration was
    added later with a default that keeps the old behaviour (e.g. `loss: auto`), so it takes that default."""
    stored = config.model_dump() if isinstance(config, TrainConfig) else config
    return {k: v for k, v in {**TrainConfig().model_dump(), **stored}.items() if k not in NOT_TRAINING}


def same_training(a: TrainConfig | dict[str, Any], b: TrainConfig | dict[str, Any]) -> bool:
    """Equal up to settings that change speed, not results (threads, device, progress bars, TTA)."""
    return training_fields(a) == training_fields(b)


def load_if_saved(model: LesionClassifier, checkpoint: Path, config: TrainConfig) -> bool:
    """Load the weights saved for this very configuration into `model`; False when there are none."""
    if not checkpoint.exists():
        return False
    meta = torch.load(checkpoint, map_location="cpu", weights_only=True)["lesionlab"]
    if not same_training(meta.get("config") or {}, config):
        return False
    load_lesionlab_checkpoint(model, checkpoint)
    return True


__all__ = [
    "DEFAULT_DATA",
    "NOT_TRAINING",
    "RESULTS",
    "base_parser",
    "fmt",
    "load_if_saved",
    "load_partial",
    "np",
    "renamed",
    "same_training",
    "save_partial",
    "summarize_values",
    "training_fields",
    "write_json",
]
