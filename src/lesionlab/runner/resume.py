"""What a resumed run is tied to: the configuration and the data its saved state was made with.

Rerunning `lesionlab run` continues from the saved states. If the task, the data, the budget or any other
setting that decides the results changed since, continuing would mix two experiments under one name and
report them as one. The fingerprint written at the start of a run (`state/run.json`) names those settings
and a digest of the data; a rerun compares, and a mismatch stops before any work, saying what changed.

It is built from the typed config: every setting as written, except the loss, the strategies and the
oracle, which are recorded as their checked options with every default filled in. A setting added later
changes the fingerprint of every run, so the layout carries a version (`FINGERPRINT_FORMAT`) instead of
hand-written exceptions; a run saved under another format is refused in one line.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic_core import to_jsonable_python

from lesionlab.config import ExperimentConfig
from lesionlab.data.fingerprint import content_key
from lesionlab.data.records import LabeledDataset
from lesionlab.errors import ConfigError
from lesionlab.io import write_json

RUN_FILE = "run.json"
# The layout of the fingerprint, written into every run.json: a run saved under another format is refused
# in one line, since its fingerprint cannot be compared field by field with today's.
FINGERPRINT_FORMAT = 2
FORMAT_CHANGES = {
    1: "settings as written, with fields added later left out while unused",
    2: "losses, strategies and oracles own their options: each one's checked options with every default, "
    "and every other setting as written",
}
# Settings that change speed, display or bookkeeping, never a selection or a number of a run.
NOT_RESULTS = {
    "train": {"num_threads", "device", "progress", "amp", "channels_last"},
    "experiment": {"strategies", "seeds", "gallery_size", "full_data"},
}
# Settings a component reads (the loss, the strategies, the oracle): recorded as that component's checked
# options (`_components`), so the old flat form and the new one, or a default left out and written out,
# give one fingerprint.
COMPONENT_FIELDS = {
    "train": {"loss", "loss_options"},
    "experiment": {"strategy_params", "oracle", "oracle_noise", "oracle_difficulty"},
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
    parts: dict[str, Any] = {
        "format": FINGERPRINT_FORMAT,
        "task": dumped["task"],
        "data": data_digest(dataset),
        "model": dumped["model"],
    }
    for section in ("train", "experiment"):
        leave_out = NOT_RESULTS[section] | COMPONENT_FIELDS[section]
        parts[section] = {k: v for k, v in dumped[section].items() if k not in leave_out}
    return {**parts, **_components(config)}


def _components(config: ExperimentConfig) -> dict[str, Any]:
    """The loss, the oracle and every strategy (the initial one too) by name with their checked options."""
    from lesionlab.runner.oracles import oracle_options
    from lesionlab.selection.base import strategy_options
    from lesionlab.tasks import get_task
    from lesionlab.training.losses import loss_options

    train, exp = config.train, config.experiment
    loss = get_task(config.task).default_loss if train.loss == "auto" else train.loss
    oracle = oracle_options(exp.oracle, exp.oracle_noise, exp.oracle_difficulty).model_dump(mode="json")
    if oracle.get("difficulty") is not None:  # the file's content decides which answers are wrong
        with contextlib.suppress(OSError):  # a missing file is reported, with the fix, by the oracle
            oracle["difficulty"] = {"path": oracle["difficulty"], "sha256": content_key(oracle["difficulty"])}
    initial = exp.initial.strategy if exp.initial.kind == "strategy" else None

    def options(name: str) -> dict[str, Any]:
        return to_jsonable_python(strategy_options(name, exp.strategy_params.get(name, {})))

    return {
        "loss": {"name": loss, "options": loss_options(loss, train.loss_options).model_dump(mode="json")},
        "oracle": {"name": exp.oracle, "options": oracle},
        # The initial set is every unit's: its strategy's options are compared whichever units started.
        "initial_strategy": {"name": initial, "options": options(initial)} if initial else None,
        "strategy_params": {name: options(name) for name in exp.strategies},
    }


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
        _check_format(state_dir, saved)
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
            saved = json.loads(path.read_text())
            if saved.get("format") == FINGERPRINT_FORMAT:
                kept = saved.get("strategy_params", {})
                current = {**current, "strategy_params": {**kept, **current.get("strategy_params", {})}}
        except (OSError, ValueError, AttributeError):
            pass
    write_json(path, current)


def _check_format(state_dir: Path, saved: dict[str, Any]) -> None:
    """One line refusing a run whose fingerprint has another layout (format 1 had no `format` field)."""
    old = saved.get("format", 1) if isinstance(saved, dict) else 1
    if old != FINGERPRINT_FORMAT:
        changed = FORMAT_CHANGES.get(FINGERPRINT_FORMAT, "")
        raise ConfigError(
            f"{state_dir.parent} was saved with run fingerprint format {old} and this lesionlab writes "
            f"format {FINGERPRINT_FORMAT} ({changed}), so it cannot be resumed: pass --force to start "
            "it again, or choose another output"
        )
