"""`lesionlab evaluate`: a trained run's metrics on one of its splits or on another data source, with
bootstrap intervals; and the metrics table that `train` prints too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)


# The options of `evaluate` whose help is long, named once.
TtaViewsOption = Annotated[
    int | None,
    typer.Option(help="average predictions over this many fixed augmented views (default: the run's)"),
]
LogitAdjustmentOption = Annotated[
    float | None,
    typer.Option(
        help="divide the training class prior out of the probabilities to this power "
        "(0 = plain argmax, 1 = aim at balanced error; choose it on val with `choose-rule`)"
    ),
]
DataOption = Annotated[
    str | None,
    typer.Option(help="evaluate on another data source (isic2017, ham10000 or folder) instead"),
]
CsvOption = Annotated[
    Path | None, typer.Option(help="with --data folder: CSV with image_id,label[,split,group]")
]
MasksOption = Annotated[
    Path | None, typer.Option(help="with --data folder: the folder of masks (segmentation runs)")
]
MaskPatternOption = Annotated[
    str | None,
    typer.Option(help="with --masks: mask file name, e.g. {id}_mask.png (default {id}_segmentation.png)"),
]
PositiveOption = Annotated[
    str | None,
    typer.Option(help="two classes: the class binary metrics describe (default: the model's second)"),
]
ResizeOption = Annotated[
    str | None,
    typer.Option(help="how non-square images become square: squash, center_crop or pad (default: the run's)"),
]


def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="output folder of `lesionlab train`")],
    split: Annotated[str, typer.Option(help="train, val, test or all")] = "test",
    bootstrap: Annotated[int, typer.Option(help="bootstrap resamples for the 95% intervals")] = 1000,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the metrics here")] = None,
    tta_views: TtaViewsOption = None,
    logit_adjustment: LogitAdjustmentOption = None,
    data: DataOption = None,
    root: Annotated[Path | None, typer.Option(help="with --data: the data folder")] = None,
    csv: CsvOption = None,
    task: Annotated[str | None, typer.Option(help="with --data: the task, e.g. melanoma")] = None,
    masks: MasksOption = None,
    mask_pattern: MaskPatternOption = None,
    positive: PositiveOption = None,
    resize: ResizeOption = None,
) -> None:
    """Evaluate a trained run on a split, with bootstrap confidence intervals.

    Applies the rule `lesionlab choose-rule` stored in the run, unless --tta-views or
    --logit-adjustment is given. With --data, the model is evaluated on another source (e.g. your own
    folder: --data folder --root my_images/ --csv labels.csv --split all); its class names must be the
    model's. A segmentation run reads that folder's masks: add --masks my_masks/ --mask-pattern
    '{id}_mask.png'.
    """
    from lesionlab.errors import ConfigError
    from lesionlab.io import write_json
    from lesionlab.supervised import evaluate_run

    other = None
    if data is not None:
        other = _other_source(data, root, task, csv, masks, mask_pattern)
    elif (root, csv, task, masks, mask_pattern) != (None,) * 5:
        raise ConfigError(
            "--root, --csv, --task, --masks and --mask-pattern describe another data source: give --data too"
        )
    result = evaluate_run(run_dir, split, bootstrap, tta_views, logit_adjustment, other, positive, resize)
    _say_evaluation(result, split, resize)
    if json_out:
        write_json(json_out, result)


def _other_source(
    data: str,
    root: Path | None,
    task: str | None,
    csv: Path | None,
    masks: Path | None,
    mask_pattern: str | None,
):
    """The DataConfig `evaluate --data` describes; options a source does not take are refused by it."""
    from lesionlab.config import DataConfig
    from lesionlab.errors import ConfigError

    if root is None:
        raise ConfigError("--data needs --root, the folder of that data source")
    if mask_pattern is not None and masks is None:
        raise ConfigError("--mask-pattern names files in the masks folder: give --masks FOLDER too")
    given = {"csv": csv, "masks": masks, "mask_pattern": mask_pattern}
    return DataConfig(source=data, root=root, task=task, options={k: v for k, v in given.items() if v})


def _say_evaluation(result: dict, split: str, resize: str | None) -> None:
    """The metrics table, what was left out, and (class labels only) the test-time rule applied."""
    from lesionlab.tasks import get_task

    class_labels = get_task(result["task"]).class_labels
    title = f"{escape(result['data'])}, {split} metrics ({result['n']} images"
    if result["positive_class"] is not None:
        title += f"; positive class: {escape(result['positive_class'])}"
    if resize is not None:
        title += f"; resize: {escape(resize)}"
    print_metrics(result["metrics"], title + ")", result["ci95"])
    if result["n_unlabelled"]:
        what = f"a {get_task(result['task']).target}"
        err_console.print(f"{result['n_unlabelled']} image(s) without {what} left out", style="yellow")
    if class_labels:  # e.g. a segmentation run has no test-time rule to report
        console.print(
            f"decision rule: {result['tta_views']} view(s) averaged, logit adjustment "
            f"{result['logit_adjustment']:g} (from {escape(result['rule_source'])})",
            highlight=False,
        )


def print_metrics(metrics: dict, title: str, ci: dict | None = None) -> None:
    """Metrics as a table (with 95 % intervals when given), then any per-class dicts as JSON lines."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    if ci:
        table.add_column("95% CI", justify="right")
    for name, value in metrics.items():
        if isinstance(value, float):
            row = [name, f"{value:.3f}"]
            if ci:
                low, high = ci.get(name, (float("nan"), float("nan")))
                row.append(f"{low:.3f} - {high:.3f}")
            table.add_row(*row)
    console.print(table)
    for name, value in metrics.items():
        if isinstance(value, dict):
            console.print(f"{name}: " + json.dumps({k: round(v, 3) for k, v in value.items()}))
