"""What a resumed run is tied to: the configuration and the data its saved state was made with.

Rerunning `lesionlab run` continues from the saved states. If the task, the data, the budget or any other
setting that decides the results changed since, continuing would mix two experiments under one name and
report them as one. The fingerprint written at the start of a run (`state/run.json`) names those settings
and a digest of the data; a rerun compares, and a mismatch stops before any work, saying what changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from lesionlab.config import ExperimentConfig
from lesionlab.data.fingerprint import content_key
from lesionlab.data.records import LabeledDataset
from lesionlab.errors import ConfigError
from lesionlab.io import write_json

RUN_FILE = "run.json"
# Settings that change speed, display or bookkeeping, never a selection or a number of a run.
NOT_RESULTS = {
    "train": {"num_threads", "device", "progress", "amp", "channels_last"},
    "experiment": {"strategies", "seeds", "strategy_params", "gallery_size", "full_data"},
}


def data_digest(dataset: LabeledDataset) -> dict[str, Any]:
    """Counts and a digest of every record's id, label, split, group and file name: cheap, and any
    relabelled, added, removed or re-split image changes it."""
    rows = sorted(
        (r.id, "" if r.label is None else str(r.label), r.split or "", r.group or "", Path(r.image_path).name)
        for r in dataset.records
    )
    digest = hashlib.sha256(json.dumps([dataset.classes, rows]).encode()).hexdigest()[:16]
    return {
        "source": dataset.name,
        "task": dataset.task,
        "classes": dataset.classes,
        "n": len(rows),
        "digest": digest,
    }


def fingerprint(config: ExperimentConfig, dataset: LabeledDataset) -> dict[str, Any]:
    """The settings and data that decide a run's results, as plain values (so a mismatch can be shown)."""
    dumped = config.model_dump(mode="json")
    parts: dict[str, Any] = {"task": dumped["task"], "data": data_digest(dataset), "model": dumped["model"]}
    for section in ("train", "experiment"):
        parts[section] = {k: v for k, v in dumped[section].items() if k not in NOT_RESULTS[section]}
    if dumped["experiment"]["learning"] == "retrain":
        # Only continual fine-tuning reads it; runs saved before the field existed then still resume.
        parts["experiment"].pop("continual_lr_scale", None)
    if not dumped["experiment"]["audit"]["every_round"]:
        # Fields added with the label audit (issue 16): runs saved before them, without an audit, resume.
        parts["experiment"].pop("audit", None)
    difficulty = dumped["experiment"]["oracle_difficulty"]
    if difficulty is None:
        parts["experiment"].pop("oracle_difficulty", None)
    else:  # the file's content decides which answers are wrong, not its name
        # A missing file is reported, with the fix, when the oracle is built.
        with contextlib.suppress(OSError):
            parts["experiment"]["oracle_difficulty"] = {"path": difficulty, "sha256": content_key(difficulty)}
    # Fields added with segmentation (paper 001): runs saved before them resume when they are unused.
    if dumped["experiment"].get("round_epochs") is None:
        parts["experiment"].pop("round_epochs", None)
    if dumped["task"] == "classification":
        parts["model"] = {k: v for k, v in parts["model"].items() if k != "width"}
    if dumped["experiment"].get("pool_scoring") == "trainer":  # added with issue 19
        parts["experiment"].pop("pool_scoring", None)
    if dumped["experiment"].get("ensemble_members") == "fresh":  # added with paper 001's curves
        parts["experiment"].pop("ensemble_members", None)
    parts["strategy_params"] = {
        name: config.experiment.strategy_params.get(name, {}) for name in config.experiment.strategies
    }
    return parts


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def check_resume(state_dir: Path, current: dict[str, Any], force: bool) -> None:
    """Refuse to continue saved states made under other settings; record the settings of a new run.

    Parameters of strategies that have no saved state yet may change (they start fresh); so may the lists
    of strategies and seeds.
    """
    path = state_dir / RUN_FILE
    has_states = state_dir.is_dir() and any(state_dir.glob("*_seed*.json"))
    if has_states and path.is_file() and not force:
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{path} is unreadable ({exc}): rerun with --force to start this run afresh"
            ) from None
        started = {p.name.split("_seed")[0] for p in state_dir.glob("*_seed*.json")}
        old_params, new_params = saved.get("strategy_params", {}), current.get("strategy_params", {})
        comparable_old = {**saved, "strategy_params": {k: v for k, v in old_params.items() if k in started}}
        comparable_new = {**current, "strategy_params": {k: v for k, v in new_params.items() if k in started}}
        changes = _differences(comparable_old, comparable_new)
        if changes:
            listed = "\n  ".join(changes[:12])
            raise ConfigError(
                f"{state_dir.parent} holds a run started with other settings or data, so it cannot be "
                f"resumed:\n  {listed}\nchoose another output, restore the settings, or pass --force to "
                "discard the saved rounds and start afresh"
            )
    if path.is_file() and not force:
        try:  # keep the parameters of strategies dropped from the list, for when they come back
            kept = json.loads(path.read_text()).get("strategy_params", {})
            current = {**current, "strategy_params": {**kept, **current.get("strategy_params", {})}}
        except (OSError, ValueError):
            pass
    write_json(path, current)
