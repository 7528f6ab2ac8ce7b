"""The configured data source as one call: the embedded demo subset by default, files checked up front."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lesionlab.data.demo_subset import demo_root
from lesionlab.data.records import LabeledDataset
from lesionlab.data.sources import check_source, load_source
from lesionlab.data.validate import inspect_files
from lesionlab.errors import ConfigError, DataError
from lesionlab.tasks import get_task


def load_dataset(config: Any, verify_files: bool | None = None, labels: bool = True) -> LabeledDataset:
    """The source of `config.data` (a run or experiment config); unusable files, train images without a
    label and, for segmentation, masks that are mostly empty or full (`check_masks`) stop here, before
    training.

    `verify_files` overrides the config's `check_files` (evaluation of a finished run skips the check);
    `labels=False` accepts unlabelled train images (self-supervised pre-training reads images only).
    """
    data = config.data
    check_source(data.source)
    root = data.root if data.root is not None else demo_root()
    if data.root is None and data.source != "isic2017":
        raise ConfigError(
            f"data.root is required for source {data.source!r} (only isic2017 has embedded data)"
        )
    dataset = load_source(data.source, Path(root), data.task, **data.options)
    if labels:
        dataset.require_labels("train")  # training and the simulated oracle need every train label
    if config.check_files if verify_files is None else verify_files:
        report = inspect_files(dataset, progress=True)  # decodes every file: minutes for a large set
        problems = report.problems
        if problems:
            listed = "\n  ".join(str(p) for p in problems[:20])
            raise DataError(
                f"{len(problems)} unusable file(s); fix or remove them before using this data:\n  {listed}"
            )
        task = getattr(config, "task", None)  # None: a pre-training config, which reads images only
        if task is not None:
            get_task(task).check_files(report)  # e.g. masks all background or all lesion
    return dataset
