"""Reading a finished experiment and printing its summary table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lesionlab.errors import ConfigError
from lesionlab.evaluation.report import summarize


def load_results(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise ConfigError(f"{path} not found: is {run_dir} the output folder of a finished `lesionlab run`?")
    return json.loads(path.read_text())


def print_summary(results: dict[str, Any], console: Console) -> None:
    """Per strategy and round: the primary metric (mean +- s.e. over seeds), then ALC."""
    summary = summarize(results)
    metric = results["metric"]
    table = Table(title=f"{results['name']}: test {metric} by labelled fraction (mean ± s.e. over seeds)")
    table.add_column("strategy")
    strategies = summary["strategies"]
    first = next(iter(strategies.values()))
    xs = [point["x"] for point in first["curves"][metric]]
    for x in xs:
        table.add_column(f"{x:.0%}", justify="right")
    table.add_column("ALC", justify="right")
    for name, info in strategies.items():
        cells = []
        for point in info["curves"][metric]:
            se = point.get("sem")
            cells.append(f"{point['mean']:.3f}" + (f" ± {se:.3f}" if se is not None and se == se else ""))
        alc = info["alc"]
        table.add_row(name, *cells, f"{alc['mean']:.3f} ± {alc['se']:.3f}")
    console.print(table)
