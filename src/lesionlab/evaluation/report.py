"""One self-contained HTML report of an active-learning experiment (`RUN_DIR/results.json`).

`write_report` joins the three parts: the numbers (`summary`), the figures (`figures`) and the page
(`page`). Every file it writes goes to a temporary file first and is then renamed, so a killed or failed
report never leaves a half-written page or PNG behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from lesionlab.evaluation import figures
from lesionlab.evaluation.page import render_page
from lesionlab.evaluation.summary import summarize

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
            write_bytes_atomic(out_dir / f"{stem}.png", pngs[stem])
    path = out_dir / "report.html"
    write_bytes_atomic(path, render_page(results, summary, pngs).encode("utf-8"))
    return path


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a unique temporary file beside `path`, then rename: the old file stays intact on
    failure, and no temporary file is left behind."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
