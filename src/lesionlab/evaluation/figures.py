"""The report's figures, drawn from `summarize`'s numbers: learning curves and the class balance.

Each function returns a matplotlib `Figure` on the Agg canvas (no pyplot, no global backend, no display),
or None when there is nothing to draw; `png_bytes` renders one, so the caller decides where it goes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from io import BytesIO
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lesionlab.evaluation.summary import RANDOM, number

_GREY = "#7f7f7f"


def strategy_colors(names: Sequence[str]) -> dict[str, Any]:
    """One stable colour per strategy; random is always grey, the baseline every reader looks for."""
    palette = [c for i, c in enumerate(colormaps["tab10"].colors) if i != 7]  # 7 is tab10's grey
    out, i = {}, 0
    for name in names:
        if name == RANDOM:
            out[name] = _GREY
        else:
            out[name] = palette[i % len(palette)]
            i += 1
    return out


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes (written to disk atomically by the caller)."""
    buf = BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas, not through pyplot: no display needed, no global figures to leak."""
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _plot_curves(ax: Axes, summary: dict, metric: str, colors: dict[str, Any]) -> None:
    for name, s in summary["strategies"].items():
        curve = s["curves"].get(metric)
        if not curve:
            continue
        x = np.array([p["x"] for p in curve])
        mean = np.array([np.nan if p["mean"] is None else p["mean"] for p in curve])
        se = np.array([np.nan if p["sem"] is None else p["sem"] for p in curve])
        ax.plot(x, mean, marker="o", ms=3, color=colors[name], label=name)
        if np.any(np.isfinite(se)):
            ax.fill_between(x, mean - se, mean + se, color=colors[name], alpha=0.2, linewidth=0)
    full = number((summary["full_data"] or {}).get(metric))
    if full is not None:
        ax.axhline(full, color="black", linestyle="--", linewidth=1, label=f"full data ({full:.3f})")
    ax.grid(alpha=0.3)


def _pool_size(summary: dict) -> float | None:
    """Pool size implied by n_labeled / fraction, to label a second x axis with label counts."""
    sizes = [
        n / f
        for s in summary["strategies"].values()
        for n, f in zip(s.get("annotation_cost") or s["n_labeled"], s["fraction"], strict=True)
        if n is not None and f
    ]
    return float(np.median(sizes)) if sizes else None


def primary_curve(summary: dict, colors: dict[str, Any]) -> Figure:
    """The primary metric against the labelled fraction (labels bought on the top axis)."""
    metric = summary["metric"]
    fig = new_figure(7.0, 4.5)
    ax = fig.add_subplot()
    _plot_curves(ax, summary, metric, colors)
    cost = summary.get("x_axis") == "annotation_cost"
    ax.set_xlabel("annotations (labels + re-labels) / pool size" if cost else "fraction of the pool labelled")
    ax.set_ylabel(f"{metric} (mean ± s.e. over seeds)")
    ax.set_title(f"Learning curve: {metric}")
    size = _pool_size(summary)
    if size:
        top = ax.secondary_xaxis("top", functions=(lambda f: f * size, lambda n: n / size))
        top.set_xlabel("labels and re-labels paid" if cost else "labels bought")
    ax.legend(fontsize="small")
    return fig


def other_curves(summary: dict, colors: dict[str, Any]) -> Figure | None:
    """One small panel per other numeric metric; None when the primary is the only one."""
    metrics = (m for s in summary["strategies"].values() for m in s["curves"])
    names = list(dict.fromkeys(m for m in metrics if m != summary["metric"]))
    if not names:
        return None
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig = new_figure(3.4 * ncols, 2.8 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, metric in zip(axes, names, strict=False):
        _plot_curves(ax, summary, metric, colors)
        ax.set_title(metric, fontsize="medium")
        ax.set_xlabel("fraction labelled", fontsize="small")
        ax.tick_params(labelsize="small")
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize="x-small")
    return fig


def class_balance(summary: dict) -> Figure | None:
    """Per strategy, stacked bars of the classes bought at each step (`class_balance` of the summary):
    the initial set when recorded, then each round's selection under the round that first trains on it.
    """
    strategies = {name: s for name, s in summary["strategies"].items() if s["class_balance"]}
    classes = list(summary["classes"])
    for s in strategies.values():
        for step in s["class_balance"]:
            classes += [c for c in step["counts"] if c not in classes]
    if not strategies or not classes:
        return None
    class_colors = {c: colormaps["tab10"](i % 10) for i, c in enumerate(classes)}
    ncols = min(3, len(strategies))
    nrows = math.ceil(len(strategies) / ncols)
    fig = new_figure(3.6 * ncols, 3.0 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, s) in zip(axes, strategies.items(), strict=False):
        steps = s["class_balance"]
        x = np.arange(len(steps))
        bottom = np.zeros(len(x))
        for c in classes:
            heights = np.array([step["counts"].get(c, 0.0) for step in steps])
            ax.bar(x, heights, bottom=bottom, color=class_colors[c], label=c)
            bottom += heights
        ax.set_xticks(x, [step["label"] for step in steps])
        ax.set_title(name, fontsize="medium")
        ax.set_xlabel("labels bought for round", fontsize="small")
        ax.set_ylabel("labels (mean over seeds)", fontsize="small")
    for ax in axes[len(strategies) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize="small")
    return fig
