"""Data sources: each turns a dataset in its own layout into one `LabeledDataset`.

`load_source` is the single entry point for configs and the command line.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lesionlab.data.records import LabeledDataset
from lesionlab.data.sources import ham10000, isic2017
from lesionlab.data.sources.folder import load_folder
from lesionlab.data.sources.ham10000 import load_ham10000
from lesionlab.data.sources.isic2017 import load_isic2017
from lesionlab.errors import ConfigError

# Valid tasks per source, the first being the default. An empty tuple means the task is a free name
# (a folder of the user's own images defines its classes in its CSV).
SOURCES: dict[str, tuple[str, ...]] = {
    "isic2017": tuple(isic2017.TASKS),
    "ham10000": tuple(ham10000.TASKS),
    "folder": (),
}

_LOADERS: dict[str, Callable[..., LabeledDataset]] = {
    "isic2017": load_isic2017,
    "ham10000": load_ham10000,
    "folder": load_folder,
}


def check_source(name: str) -> None:
    """ConfigError for a source name that does not exist (before any other check mentions it)."""
    if name not in SOURCES:
        close = [s for s in SOURCES if s == str(name).strip().lower()]
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"unknown data source {name!r}{hint}: choose one of {', '.join(SOURCES)}")


def load_source(name: str, root: Path, task: str | None = None, **options: Any) -> LabeledDataset:
    """Load source `name` from `root` (for "folder": the images folder, with csv=, masks=, mask_pattern=,
    classes=, positive=)."""
    check_source(name)
    tasks = SOURCES[name]
    if task is None:
        task = tasks[0] if tasks else "folder"
    elif tasks and task not in tasks:
        raise ConfigError(f"unknown task {task!r} for data source {name}: choose one of {', '.join(tasks)}")
    loader = _LOADERS[name]
    valid = [p for p in inspect.signature(loader).parameters if p not in ("root", "images", "task")]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for data source {name}: "
            f"valid options are {', '.join(valid) or '(none)'}"
        )
    if name == "folder":
        if options.get("csv") is None:
            raise ConfigError(
                "data source folder needs its labels CSV (columns image_id,label): "
                "--csv on the command line, data.options.csv in a config"
            )
        for key in ("csv", "masks"):
            if options.get(key) is not None:
                options[key] = Path(options[key])
    return loader(Path(root), task=task, **options)


__all__ = ["SOURCES", "check_source", "load_folder", "load_ham10000", "load_isic2017", "load_source"]
