"""One self-contained HTML report of an active-learning experiment (`RUN_DIR/results.json`).

`write_report` joins the three parts: the numbers (`summary`), the figures (`figures`) and the page
(`page`). Every file it writes goes to a temporary file first and is then renamed, so a killed or failed
report never leaves a half-written page or PNG behind.
"""

from __future__ import annotations

from pathlib import Path

from lesionlab.evaluation import figures
from lesionlab.evaluation.page import render_page
from lesionlab.evaluation.summary import summarize
from lesionlab.io import atomic_file

__all__ = ["summarize", "write_report"]


def write_report(results: dict, out_dir: Path) -> Path:
    """Write `out_dir/report.html` (self-contained) and its figure PNGs beside it; return the HTML path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)
    colors = figures.strategy_colors(list(summary["strategies"]))
    drawn = {
        "learning_curve": figures.primary_curve(summary, colors),
        "other_metrics": figures.other_curves(summary, colors),
        "class_balance": figures.class_balance(summary),
    }
    pngs = {}
    for stem, fig in drawn.items():
        if fig is not None:
            pngs[stem] = figures.png_bytes(fig)
            _write(out_dir / f"{stem}.png", pngs[stem])
    path = out_dir / "report.html"
    _write(path, render_page(results, summary, pngs).encode("utf-8"))
    return path


def _write(path: Path, data: bytes) -> None:
    with atomic_file(path, expected_bytes=len(data)) as fh:
        fh.write(data)
