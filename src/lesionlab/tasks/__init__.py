"""Tasks: what a model's head outputs, which loss and metrics apply, and which model and runtime serve it.

A task is small and stateless; `get_task(name)` returns the registered instance. Built-ins are registered
here, at import of the package; a third party adds one with `register_task` or through the
`lesionlab.tasks` entry-point group, and names it from YAML (`task: my_task`). See docs/architecture.md,
"Adding a task".
"""

from __future__ import annotations

from lesionlab.errors import ConfigError
from lesionlab.registry import TASKS_GROUP, Registry
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
    "TASKS",
    "ClassificationTask",
    "SegmentationTask",
    "Task",
    "available_tasks",
    "get_task",
    "register_task",
]


def _checked(name: str, task: Task) -> Task:
    """A registered task is a `Task` instance whose own name is the one it is registered under."""
    if not isinstance(task, Task):
        raise TypeError(f"a task must be a Task instance, got {type(task).__name__} for {name!r}")
    if task.name != name:
        raise ConfigError(f"task {task.name!r} is registered under another name, {name!r}")
    return task


# Built-ins are registered below, at import; plugins come from the `lesionlab.tasks` entry-point group.
TASKS: Registry[Task] = Registry("task", group=TASKS_GROUP, prepare=_checked)


def register_task(task: Task) -> Task:
    """Make `task` available by its name (to `get_task` and to configs' `task:`); names are unique."""
    TASKS.register(task.name, task)
    return task


def get_task(name: str) -> Task:
    """The registered task called `name`; an unknown name lists the choices."""
    return TASKS.get(name)


def available_tasks() -> list[str]:
    return TASKS.names()


register_task(ClassificationTask())
register_task(SegmentationTask())
