"""The model and trainer a task needs: one place the runner, `lesionlab train` and the annotation project
ask, so none of them branches on the task (the task builds its model; `Trainer` asks the task's runtime)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lesionlab.config import ModelConfig, TrainConfig
from lesionlab.tasks import Task


def build_model(task: Task, model: ModelConfig, num_classes: int, seed: int = 0) -> Any:
    """A fresh model for `task` as configured, its new layers initialised from `seed`.

    The model is tagged with the task's name: a plugin task may reuse a built-in model class, whose own
    `task` names the built-in, and what asks `get_task(model.task)` (the loss predictor, a `Trainer`
    given no task) must reach the plugin's hooks."""
    built = task.build_model(model, num_classes, seed)
    built.task = task.name
    return built


def build_trainer(
    task: Task,
    model: Any,
    config: TrainConfig,
    cache_dir: Path | None = None,
    aux_heads: Sequence[Any] = (),
    callbacks: Sequence[Any] = (),
) -> Any:
    """The one `Trainer` for `model`, with `task`'s runtime."""
    from lesionlab.training.trainer import Trainer

    return Trainer(model, config, cache_dir, task, aux_heads, callbacks)


def save_model(model: Any, path: Path, meta: dict | None = None) -> None:
    """Write `model` with `meta` as the checkpoint its own loader reads (atomic either way)."""
    model.save_checkpoint(path, meta)
