"""Shared plumbing for benchmark scripts: data location, result files, mean and standard error."""

from __future__ import annotations

import argparse
import json
import os
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lesionlab.evaluation.metrics import mean_se
from lesionlab.io import write_json, write_text
from lesionlab.models.classifier import LesionClassifier
from lesionlab.models.registry import load_lesionlab_checkpoint
from lesionlab.training.trainer import TrainConfig
from lesionlab.versions import versions

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DEFAULT_DATA = Path(os.environ.get("LESIONLAB_DATA", ROOT.parent.parent / "shared" / "data"))


def base_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every benchmark takes: where the data is, which seeds, where the caches live."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with isic2017/ and ham10000/")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "lesionlab")
    return parser


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "platform": platform.platform(),
    }


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


def summarize_values(rows: list[dict[str, float]], keys: list[str]) -> dict[str, dict[str, float]]:
    """{metric: {"mean", "se", "n"}} over seeds, through lesionlab's own `mean_se`."""
    return {
        k: {kk: vv for kk, vv in mean_se([r[k] for r in rows]).items() if kk in ("mean", "se", "n")}
        for k in keys
    }


def fmt(stat: dict[str, float]) -> str:
    return f"{stat['mean']:.3f} ± {stat['se']:.3f}"


# Settings that change speed or how predictions are read, not the trained weights.
NOT_TRAINING = ("num_threads", "device", "progress", "tta_views")


def training_fields(config: TrainConfig | dict) -> dict:
    """The settings that decide the trained weights (not threads, device, progress bars or TTA)."""
    fields = asdict(config) if isinstance(config, TrainConfig) else config
    return {k: v for k, v in fields.items() if k not in NOT_TRAINING}


def load_if_saved(model: LesionClassifier, checkpoint: Path, config: TrainConfig) -> bool:
    """Load the weights saved for this very configuration into `model`; False when there are none."""
    if not checkpoint.exists():
        return False
    meta = torch.load(checkpoint, map_location="cpu", weights_only=True)["lesionlab"]
    if training_fields(meta.get("config") or {}) != training_fields(config):
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
    "machine",
    "np",
    "save_partial",
    "summarize_values",
    "training_fields",
    "versions",
    "write_json",
    "write_text",
]
