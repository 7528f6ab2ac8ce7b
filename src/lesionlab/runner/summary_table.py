"""Reading a finished experiment and printing its summary table.

Imports only the numbers (`lesionlab.evaluation.summary`), never the figures: printing a summary must not
pay for matplotlib.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lesionlab.errors import ConfigError
from lesionlab.evaluation.headline import headline
from lesionlab.evaluation.summary import summarize


def load_results(run_dir: Path) -> dict[str, Any]:
    """`RUN_DIR/results.json`; a missing or damaged file is one error naming it and the fix."""
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise ConfigError(f"{path} not found: is {run_dir} the output folder of a finished `lesionlab run`?")
    fix = "run the experiment's `lesionlab run CONFIG` again: it rewrites the file from its saved rounds"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is unreadable ({exc}): {fix}") from None
    if not isinstance(results, dict) or not isinstance(results.get("runs"), list) or "metric" not in results:
        raise ConfigError(f"{path} is not the results of `lesionlab run` (no `metric` or `runs`): {fix}")
    return results


def _pm(mean: float | None, se: float | None, n: int | None = None) -> str:
    """ "mean ± se"; the mean alone when the spread is unknown (one seed), "n/a" when there is no mean."""
    if mean is None:
        return "n/a"
    if se is None or (n is not None and n < 2):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {se:.3f}"


def _widths(names: list[str], columns: list[str], cells: dict[str, list[str]]) -> list[int]:
    """Text width of each column (strategy first), so that nothing needs to be cut."""
    widths = [max(len("strategy"), *map(len, names))]
    for i, column in enumerate(columns):
        widths.append(max(len(column), *(len(cells[name][i]) for name in names)))
    return widths


def _table(title: str, names: list[str], columns: list[str], cells: dict[str, list[str]]) -> Table:
    table = Table(title=title)
    widths = _widths(names, columns, cells)
    table.add_column("strategy", no_wrap=True, min_width=widths[0])
    for column, width in zip(columns, widths[1:], strict=True):
        table.add_column(column, justify="right", no_wrap=True, min_width=width)
    for name in names:
        table.add_row(name, *cells[name])
    return table


def print_summary(results: dict[str, Any], console: Console) -> None:
    """The headline sentence, then per strategy and labelled fraction: the primary metric (mean ± s.e. over
    seeds), then ALC.

    Strategies may stop at different rounds, so columns are the union of their labelled fractions. When
    the table is wider than the console it is printed in parts rather than with cut names or numbers.
    """
    summary = summarize(results)
    console.print(headline(summary), highlight=False)  # the one sentence to read first
    metric = summary["metric"]
    strategies = summary["strategies"]
    fractions = sorted({p["x"] for s in strategies.values() for p in s["curves"][metric]})
    cells: dict[str, list[str]] = {}
    for name, info in strategies.items():
        by_x = {p["x"]: _pm(p["mean"], p.get("sem")) for p in info["curves"][metric]}
        alc = info["alc"]
        cells[name] = [by_x.get(x, "") for x in fractions] + [_pm(alc["mean"], alc["se"], alc["n"])]
    columns = [f"{x:.0%}" for x in fractions] + ["ALC"]
    n_eval = f" on {summary['n_eval']} images" if summary["n_eval"] is not None else ""
    title = f"{summary['name']}: test {metric}{n_eval} by labelled fraction (mean ± s.e. over seeds)"
    names = list(strategies)
    # Each column takes its text plus 2 of padding and 1 of border, plus the closing border: split the
    # table into parts that fit the console (the strategy column repeats) rather than cut names or numbers.
    widths = _widths(names, columns, cells)
    room = console.width - (widths[0] + 3) - 1
    parts, start = [], 0
    while start < len(columns):
        stop, used = start, 0
        while stop < len(columns) and (stop == start or used + widths[stop + 1] + 3 <= room):
            used += widths[stop + 1] + 3
            stop += 1
        parts.append((start, stop))
        start = stop
    for i, (start, stop) in enumerate(parts):
        part = {name: row[start:stop] for name, row in cells.items()}
        part_title = title if i == 0 else f"{title}, continued"
        needed = widths[0] + 3 + sum(w + 3 for w in widths[start + 1 : stop + 1]) + 1
        # Wider than the console only when a name and one column cannot fit side by side: never cropped.
        console.print(
            _table(part_title, names, columns[start:stop], part), width=max(needed, console.width), crop=False
        )
