"""Tasks: what a model's head outputs, which loss and metrics apply, and which model and runtime serve it.

A task is small and stateless; `get_task(name)` returns the registered instance. Built-ins are registered
here, at import of the package; a third party adds one with `register_task` or through the
`lesionlab.tasks` entry-point group, and names it from YAML (`task: my_task`). See docs/architecture.md,
"Adding a task".
"""

from __future__ import annotations

from lesionlab.errors import ConfigError
from lesionlab.tasks.base import LOSS_MONITOR, Task
from lesionlab.tasks.classification import BINARY_METRICS, MULTICLASS_METRICS, ClassificationTask
from lesionlab.tasks.segmentation import (
    JACCARD_THRESHOLD,
    PIXEL_REDUCTIONS,
    SEGMENTATION_METRICS,
    SegmentationTask,
)

__all__ = [
    "BINARY_METRICS",
    "JACCARD_THRESHOLD",
    "LOSS_MONITOR",
    "MULTICLASS_METRICS",
    "PIXEL_REDUCTIONS",
    "SEGMENTATION_METRICS",
    "ClassificationTask",
    "SegmentationTask",
    "Task",
    "available_tasks",
    "get_task",
    "register_task",
]

_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Make `task` available by its name (to `get_task` and to configs' `task:`); names are unique."""
    if not isinstance(task, Task):
        raise TypeError(f"register_task needs a Task instance, got {type(task).__name__}")
    if task.name in _TASKS and _TASKS[task.name] != task:
        raise ConfigError(f"a task called {task.name!r} is already registered")
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The registered task called `name`; an unknown name lists the choices."""
    if name not in _TASKS:
        raise ConfigError(f"unknown task {name!r}; choose one of: {', '.join(_TASKS)}")
    return _TASKS[name]


def available_tasks() -> list[str]:
    return list(_TASKS)


register_task(ClassificationTask())
register_task(SegmentationTask())
