"""One self-contained HTML report of an active-learning experiment (`RUN_DIR/results.json`).

`summarize` turns the raw per-round results into the numbers a paper would quote (learning curves with
standard errors, ALC, labels to 99 % of full-data performance, annotation saving and a paired test
against random sampling). `write_report` draws them and embeds every figure and thumbnail as a base64
data URI, so the single HTML file can be mailed or attached to a ticket without its folder.
"""

from __future__ import annotations

import base64
import html
import json
import math
import numbers
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from lesionlab.evaluation.curves import alc, annotation_saving, labels_to_target, learning_curve
from lesionlab.evaluation.metrics import mean_se
from lesionlab.evaluation.statistics import compare_curves

TARGET_FRACTION = 0.99  # "labels to reach 99 % of the full-data metric"
RANDOM = "random"
THUMB_PX = 96
GALLERY_MAX = 8
_GREY = "#7f7f7f"


# --- summary -------------------------------------------------------------------------------------------


def summarize(results: dict) -> dict:
    """Per-strategy curves, ALC, labels to target, saving and test vs random, as plain JSON-able dicts.

    Seeds of one strategy are aligned on the rounds every seed finished (a seed stopped early would
    otherwise bias the mean at later rounds); dropped rounds are listed in `notes`. NaN and infinite
    values become None so the result is strict JSON.
    """
    primary = str(results["metric"])
    full = results.get("full_data") or {}
    full_value = _number(full.get(primary))
    target = TARGET_FRACTION * full_value if full_value is not None else None
    notes: list[str] = []
    groups = _group_runs(results, notes)
    strategies = {name: _summarize_strategy(name, r, primary, target, notes) for name, r in groups.items()}
    if RANDOM in groups:
        for name, summary in strategies.items():
            if name != RANDOM:
                summary["saving_vs_random"] = _saving(summary, strategies[RANDOM], primary)
                summary["vs_random"] = _compare(name, groups[name], groups[RANDOM], primary, notes)
    return _clean(
        {
            "name": results.get("name"),
            "metric": primary,
            "classes": list(results.get("classes") or []),
            "full_data": full or None,
            "target": {"fraction_of_full": TARGET_FRACTION, "value": target},
            "strategies": strategies,
            "notes": notes,
        }
    )


def _group_runs(results: dict, notes: list[str]) -> dict[str, dict[int, list[dict]]]:
    """strategy -> seed -> rounds sorted by round number, strategies in order of first appearance."""
    groups: dict[str, dict[int, list[dict]]] = {}
    for i, run in enumerate(results.get("runs") or []):
        name, seed = str(run["strategy"]), run.get("seed", i)
        rounds = sorted(run.get("rounds") or [], key=lambda r: r["round"])
        if not rounds:
            notes.append(f"{name} seed {seed}: no finished round, left out")
            continue
        by_seed = groups.setdefault(name, {})
        if seed in by_seed:
            raise ValueError(f"strategy {name!r} has two runs with seed {seed}")
        by_seed[seed] = rounds
    if not groups:
        raise ValueError("results hold no run with a finished round: nothing to report")
    return {name: dict(sorted(by_seed.items())) for name, by_seed in groups.items()}


def _common_rounds(runs: Sequence[list[dict]]) -> list[int]:
    """Round numbers every run finished, in order."""
    return sorted(set.intersection(*({r["round"] for r in rounds} for rounds in runs)))


def _at_rounds(rounds: list[dict], keep: Sequence[int]) -> list[dict]:
    wanted = set(keep)
    return [r for r in rounds if r["round"] in wanted]


def _metric_names(runs: dict[int, list[dict]], primary: str) -> list[str]:
    """Metrics with at least one numeric value, primary first, then in order of appearance."""
    names: dict[str, None] = {primary: None}
    for rounds in runs.values():
        for r in rounds:
            for key, value in (r.get("metrics") or {}).items():
                if _is_number(value):
                    names.setdefault(str(key), None)
    return list(names)


def _values(rounds: list[dict], key: str, metric: bool = True) -> np.ndarray:
    """One float per round (NaN where missing or not a number)."""
    source = (r.get("metrics") or {} for r in rounds) if metric else rounds
    out = [_number(d.get(key)) for d in source]
    return np.array([np.nan if v is None else v for v in out], dtype=float)


def _summarize_strategy(
    name: str, all_runs: dict[int, list[dict]], primary: str, target: float | None, notes: list[str]
) -> dict[str, Any]:
    keep = _common_rounds(list(all_runs.values()))
    if not keep:
        raise ValueError(f"strategy {name!r}: the seeds share no round, so they cannot be averaged")
    dropped = sorted({r["round"] for rounds in all_runs.values() for r in rounds} - set(keep))
    if dropped:
        notes.append(f"{name}: rounds {dropped} not finished by every seed are left out of its summary")
    runs = {seed: _at_rounds(rounds, keep) for seed, rounds in all_runs.items()}
    seeds = list(runs)
    fractions = {s: _values(rounds, "fraction", metric=False) for s, rounds in runs.items()}
    n_labeled = {s: _values(rounds, "n_labeled", metric=False) for s, rounds in runs.items()}
    for seed in seeds:
        if np.isnan(fractions[seed]).any() or np.isnan(n_labeled[seed]).any():
            raise ValueError(f"strategy {name!r}, seed {seed}: a round lacks a numeric fraction or n_labeled")

    curves = {}
    for metric in _metric_names(runs, primary):
        try:
            curves[metric] = learning_curve(
                [list(zip(fractions[s], _values(runs[s], metric), strict=True)) for s in seeds]
            )
        except ValueError as exc:
            raise ValueError(f"strategy {name!r}, metric {metric!r}: {exc}") from exc

    per_seed_alc = {s: alc(fractions[s], _values(runs[s], primary)) for s in seeds}
    out: dict[str, Any] = {
        "seeds": seeds,
        "rounds": keep,
        "fraction": [p["x"] for p in curves[primary]],
        "n_labeled": np.nanmean(np.stack(list(n_labeled.values())), axis=0).tolist(),
        "curves": curves,
        "alc": mean_se(list(per_seed_alc.values())) | {"per_seed": _by_seed(per_seed_alc)},
        "labels_to_target": None,
        "saving_vs_random": None,
        "vs_random": None,
        "new_class_counts": _mean_class_counts(runs),
        "selection_seconds": _mean_rows(runs, "selection_seconds"),
        "train_seconds": _mean_rows(runs, "train_seconds"),
    }
    if target is not None:
        reached = {s: labels_to_target(n_labeled[s], _values(runs[s], primary), target) for s in seeds}
        hits = [v for v in reached.values() if v is not None]
        stats = mean_se(hits)
        out["labels_to_target"] = {
            "target": target,
            "mean": stats["mean"],
            "se": stats["se"],
            "n_reached": len(hits),
            "n_seeds": len(seeds),
            "per_seed": _by_seed(reached),
        }
    return out


def _mean_class_counts(runs: dict[int, list[dict]]) -> list[dict[str, float]]:
    """Per round: mean over seeds of how many newly selected samples fell in each class."""
    rows = []
    for i in range(len(next(iter(runs.values())))):
        counts = [runs[s][i].get("new_class_counts") or {} for s in runs]
        classes = list(dict.fromkeys(c for cc in counts for c in cc))
        rows.append({c: float(np.mean([_number(cc.get(c)) or 0.0 for cc in counts])) for c in classes})
    return rows


def _mean_rows(runs: dict[int, list[dict]], key: str) -> list[float | None]:
    values = np.stack([_values(rounds, key, metric=False) for rounds in runs.values()])
    return [None if np.all(np.isnan(col)) else float(np.nanmean(col)) for col in values.T]


def _saving(strategy: dict, random: dict, primary: str) -> dict[str, Any] | None:
    """Labels saved vs random to reach random's best mean metric, on the seed-averaged curves.

    Mean curves, not per seed: the best point of one noisy random seed is biased upwards, which would
    make the target (and the saving) depend on luck more than on the strategy.
    """
    m_s = np.array([np.nan if p["mean"] is None else p["mean"] for p in strategy["curves"][primary]])
    m_r = np.array([np.nan if p["mean"] is None else p["mean"] for p in random["curves"][primary]])
    if np.all(np.isnan(m_r)):
        return None
    value = annotation_saving(
        strategy["n_labeled"], m_s, m_r, n_labeled_random=random["n_labeled"], target=float(np.nanmax(m_r))
    )
    return {"target": float(np.nanmax(m_r)), "value": value}


def _compare(
    name: str, runs: dict[int, list[dict]], random: dict[int, list[dict]], primary: str, notes: list[str]
) -> dict[str, Any] | None:
    """Paired tests of the primary metric vs random on matched seeds and rounds both finished."""
    seeds = sorted(set(runs) & set(random))
    if not seeds:
        notes.append(f"{name}: no seed in common with random, no paired test")
        return None
    keep = _common_rounds([runs[s] for s in seeds] + [random[s] for s in seeds])
    if not keep:
        notes.append(f"{name}: no round in common with random, no paired test")
        return None
    a = np.stack([_values(_at_rounds(runs[s], keep), primary) for s in seeds])
    b = np.stack([_values(_at_rounds(random[s], keep), primary) for s in seeds])
    out: dict[str, Any] = {"seeds": seeds, "rounds": keep, "seeds_test": None, "points_test": None}
    # One pair gives a meaningless test (the paired t-test reports p = 0 for any non-zero difference).
    if len(seeds) >= 2:
        out["seeds_test"] = compare_curves(a, b, pair_over="seeds")
    else:
        notes.append(f"{name}: one seed in common with random, no test over seeds")
    if a.size >= 2:
        out["points_test"] = compare_curves(a, b)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _number(value: Any) -> float | None:
    """A finite-or-NaN float from a JSON number; None for anything else (bools, strings, null)."""
    if not _is_number(value):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _by_seed(values: dict[int, Any]) -> dict[str, Any]:
    return {str(s): v for s, v in values.items()}


def _clean(value: Any) -> Any:
    """Plain Python containers and numbers; NaN and infinities become None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- figures -------------------------------------------------------------------------------------------


def _colors(names: Sequence[str]) -> dict[str, Any]:
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


def _new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas directly: no pyplot, no global backend switch, no display needed."""
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
    full = _number((summary["full_data"] or {}).get(metric))
    if full is not None:
        ax.axhline(full, color="black", linestyle="--", linewidth=1, label=f"full data ({full:.3f})")
    ax.grid(alpha=0.3)


def _pool_size(summary: dict) -> float | None:
    """Pool size implied by n_labeled / fraction, to label a second x axis with label counts."""
    sizes = [
        n / f
        for s in summary["strategies"].values()
        for n, f in zip(s["n_labeled"], s["fraction"], strict=True)
        if n is not None and f
    ]
    return float(np.median(sizes)) if sizes else None


def _figure_primary(summary: dict, colors: dict[str, Any], path: Path) -> Path:
    metric = summary["metric"]
    fig = _new_figure(7.0, 4.5)
    ax = fig.add_subplot()
    _plot_curves(ax, summary, metric, colors)
    ax.set_xlabel("fraction of the pool labelled")
    ax.set_ylabel(f"{metric} (mean ± s.e. over seeds)")
    ax.set_title(f"Learning curve: {metric}")
    size = _pool_size(summary)
    if size:
        top = ax.secondary_xaxis("top", functions=(lambda f: f * size, lambda n: n / size))
        top.set_xlabel("labels bought")
    ax.legend(fontsize="small")
    fig.savefig(path, format="png")
    return path


def _figure_other_metrics(summary: dict, colors: dict[str, Any], path: Path) -> Path | None:
    metrics = (m for s in summary["strategies"].values() for m in s["curves"])
    names = list(dict.fromkeys(m for m in metrics if m != summary["metric"]))
    if not names:
        return None
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig = _new_figure(3.4 * ncols, 2.8 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, metric in zip(axes, names, strict=False):
        _plot_curves(ax, summary, metric, colors)
        ax.set_title(metric, fontsize="medium")
        ax.set_xlabel("fraction labelled", fontsize="small")
        ax.tick_params(labelsize="small")
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize="x-small")
    fig.savefig(path, format="png")
    return path


def _figure_class_balance(summary: dict, path: Path) -> Path | None:
    strategies = summary["strategies"]
    classes = list(summary["classes"])
    for s in strategies.values():
        for row in s["new_class_counts"]:
            classes += [c for c in row if c not in classes]
    if not classes:
        return None
    class_colors = {c: colormaps["tab10"](i % 10) for i, c in enumerate(classes)}
    ncols = min(3, len(strategies))
    nrows = math.ceil(len(strategies) / ncols)
    fig = _new_figure(3.6 * ncols, 3.0 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, s) in zip(axes, strategies.items(), strict=False):
        x = np.arange(len(s["rounds"]))
        bottom = np.zeros(len(x))
        for c in classes:
            heights = np.array([row.get(c, 0.0) for row in s["new_class_counts"]])
            ax.bar(x, heights, bottom=bottom, color=class_colors[c], label=c)
            bottom += heights
        ax.set_xticks(x, [str(r) for r in s["rounds"]])
        ax.set_title(name, fontsize="medium")
        ax.set_xlabel("round", fontsize="small")
        ax.set_ylabel("newly labelled (mean over seeds)", fontsize="small")
    for ax in axes[len(strategies) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize="small")
    fig.savefig(path, format="png")
    return path


# --- HTML ----------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def _pm(mean: float | None, se: float | None, spec: str = ".3f") -> str:
    """ "mean ± se", or just the mean when the spread is unknown (one seed)."""
    if mean is None:
        return "n/a"
    return format(mean, spec) if se is None else f"{format(mean, spec)} ± {format(se, spec)}"


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _img(path: Path, alt: str) -> str:
    return f'<img class="figure" src="{_data_uri(path.read_bytes(), "image/png")}" alt="{_e(alt)}">'


def _thumbnail(path: Any) -> str | None:
    """A 96 px JPEG data URI, or None when the image is missing or unreadable (the report must not fail)."""
    try:
        with Image.open(Path(str(path))) as im:
            im.draft("RGB", (2 * THUMB_PX, 2 * THUMB_PX))  # JPEG: decode at reduced size, much faster
            thumb = im.convert("RGB")
        thumb.thumbnail((THUMB_PX, THUMB_PX))
        buf = BytesIO()
        thumb.save(buf, format="JPEG", quality=85)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return _data_uri(buf.getvalue(), "image/jpeg")


def _p_cell(test: dict | None) -> str:
    if test is None:
        return "n/a"
    return f"{_fmt(test.get('p_wilcoxon'), '.3g')} (n={test.get('n')})"


def _summary_table(summary: dict) -> str:
    target = summary["target"]["value"]
    head = [
        "strategy",
        "seeds",
        f"ALC ({summary['metric']})",
        f"labels to {TARGET_FRACTION:.0%} full",
        "seeds reaching it",
        "saving vs random",
        "p vs random (seeds)",
        "p vs random (seed×round)",
    ]
    rows = []
    for name, s in summary["strategies"].items():
        ltt = s["labels_to_target"]
        if ltt is None:
            labels, reached = "n/a", "n/a"
        else:
            ltt_se = ltt["se"] if ltt["n_reached"] > 1 else None
            labels = _pm(ltt["mean"], ltt_se, ".0f") if ltt["n_reached"] else "not reached"
            reached = f"{ltt['n_reached']}/{ltt['n_seeds']}"
        if name == RANDOM:
            saving = p_seeds = p_points = "(reference)"
        else:
            saving_d, vs = s["saving_vs_random"], s["vs_random"] or {}
            saving = "n/a" if saving_d is None else _fmt(saving_d["value"], ".1%")
            p_seeds, p_points = _p_cell(vs.get("seeds_test")), _p_cell(vs.get("points_test"))
        alc_se = s["alc"]["se"] if s["alc"]["n"] > 1 else None  # one seed: spread unknown, not zero
        cells = [name, len(s["seeds"]), _pm(s["alc"]["mean"], alc_se), labels, reached]
        rows.append([*cells, saving, p_seeds, p_points])
    caption = (
        f"ALC: mean height of the {summary['metric']} curve over the labelled fraction (mean ± s.e. over "
        "seeds). "
        + (
            f"Labels to target: first interpolated label count reaching {_fmt(target)} "
            f"({TARGET_FRACTION:.0%} of full data), mean ± s.e. over the seeds that reach it. "
            if target is not None
            else "No full-data reference, so no labels-to-target. "
        )
        + "Saving: 1 − labels(strategy) / labels(random) to reach random's best mean metric. "
        "p: Wilcoxon signed-rank vs random, pairing seeds (per-seed mean over rounds; honest) or every "
        "(seed, round) cell (more pairs, but rounds are correlated so p is optimistic)."
    )
    return _table(head, rows, caption)


def _rounds_table(summary: dict) -> str:
    metric = summary["metric"]
    head = ["strategy", "round", "n labelled", "fraction", f"{metric} (mean ± s.e.)"]
    head += ["selection s", "train s"]
    rows = []
    for name, s in summary["strategies"].items():
        curve = s["curves"][metric]
        for i, rnd in enumerate(s["rounds"]):
            rows.append(
                [
                    name,
                    rnd,
                    _fmt(s["n_labeled"][i], ".0f"),
                    _fmt(s["fraction"][i], ".3f"),
                    _pm(curve[i]["mean"], curve[i]["sem"]),
                    _fmt(s["selection_seconds"][i], ".1f"),
                    _fmt(s["train_seconds"][i], ".1f"),
                ]
            )
    return _table(head, rows, "Seconds are means over seeds; s.e. is blank with a single seed.")


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], caption: str) -> str:
    thead = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (
        f"<table><caption>{_e(caption)}</caption><thead><tr>{thead}</tr></thead><tbody>{body}</tbody></table>"
    )


def _gallery(results: dict, summary: dict) -> str:
    """Seed 0 (else the lowest seed) of each strategy: the top-ranked selections of every round."""
    runs: dict[str, dict[Any, dict]] = {}
    for i, run in enumerate(results.get("runs") or []):
        runs.setdefault(str(run["strategy"]), {})[run.get("seed", i)] = run
    parts = []
    for name in summary["strategies"]:
        seeds = runs.get(name, {})
        seed = 0 if 0 in seeds else min(seeds)
        parts.append(f"<h3>{_e(name)} <small>(seed {_e(seed)})</small></h3>")
        shown = 0
        for rnd in sorted(seeds[seed].get("rounds") or [], key=lambda r: r["round"]):
            images = list(rnd.get("top_images") or [])[:GALLERY_MAX]
            if not images:
                continue
            shown += 1
            cells = "".join(_gallery_cell(rnd, i, p) for i, p in enumerate(images))
            parts.append(
                f'<div class="round"><div class="round-label">round {_e(rnd["round"])}</div>{cells}</div>'
            )
        if not shown:
            parts.append("<p>No top-ranked images recorded.</p>")
    return "".join(parts)


def _gallery_cell(rnd: dict, i: int, path: Any) -> str:
    """One thumbnail; top_images[i] is the i-th selected id (selections are stored in ranked order)."""
    scores = rnd.get("top_scores") or rnd.get("new_scores") or []
    ids = rnd.get("new_ids") or []
    score = _number(scores[i]) if i < len(scores) else None
    label = (f"{ids[i]} · " if i < len(ids) else "") + f"score {_fmt(score, '.3g')}"
    uri = _thumbnail(path)
    if uri is None:
        picture = f'<div class="missing" title="{_e(path)}">image not found<br><code>{_e(path)}</code></div>'
    else:
        picture = f'<img src="{uri}" alt="{_e(path)}" title="{_e(path)}">'
    return f'<figure class="thumb">{picture}<figcaption>{_e(label)}</figcaption></figure>'


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
caption{caption-side:bottom;text-align:left;font-size:0.85em;color:#555;padding-top:4px}
img.figure{max-width:100%}
.round{display:flex;flex-wrap:wrap;align-items:flex-start;gap:6px;margin:6px 0}
.round-label{width:70px;font-size:0.85em;color:#555}
figure.thumb{margin:0;width:96px;font-size:0.7em;text-align:center;word-break:break-all}
figure.thumb img{width:96px;height:96px;object-fit:contain;background:#eee}
.missing{width:96px;height:96px;background:#ccc;color:#333;overflow:hidden;font-size:0.75em}
pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:0.8em}
.notes{color:#8a5300}
"""


def write_report(results: dict, out_dir: Path) -> Path:
    """Write `out_dir/report.html` (self-contained) and its figure PNGs beside it; return the HTML path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)
    colors = _colors(list(summary["strategies"]))
    primary_png = _figure_primary(summary, colors, out_dir / "learning_curve.png")
    others_png = _figure_other_metrics(summary, colors, out_dir / "other_metrics.png")
    balance_png = _figure_class_balance(summary, out_dir / "class_balance.png")

    title = f"Active learning report: {summary['name'] or 'experiment'}"
    full = summary["full_data"] or {}
    full_text = (
        ", ".join(f"{k} {_fmt(_number(v))}" for k, v in full.items() if _number(v) is not None)
        or "none given"
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in summary["notes"])
    classes = ", ".join(map(str, summary["classes"]))
    sections = [
        f"<h1>{_e(title)}</h1>",
        "<p>"
        f"Primary metric: <b>{_e(summary['metric'])}</b> · classes: {_e(classes)} · "
        f"strategies: {_e(', '.join(summary['strategies']))} · full-data reference: {_e(full_text)}</p>",
        f'<ul class="notes">{notes}</ul>' if notes else "",
        "<h2>Summary</h2>",
        _summary_table(summary),
        "<h2>Learning curve</h2>",
        _img(primary_png, f"learning curve of {summary['metric']}"),
    ]
    if others_png is not None:
        sections += ["<h2>Other metrics</h2>", _img(others_png, "learning curves of the other metrics")]
    if balance_png is not None:
        sections += [
            "<h2>Class balance of the newly selected samples</h2>",
            _img(balance_png, "class balance per round"),
        ]
    sections += [
        "<h2>Per round</h2>",
        _rounds_table(summary),
        "<h2>Top-ranked selections</h2>",
        _gallery(results, summary),
        "<h2>Configuration and versions</h2>",
        _details("configuration", results.get("config")),
        _details("versions", results.get("versions")),
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(s for s in sections if s)
        + "\n</body></html>\n"
    )
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def _details(label: str, value: Any) -> str:
    text = json.dumps(value, indent=2, default=str) if value is not None else "not recorded"
    return f"<details><summary>{_e(label)}</summary><pre>{_e(text)}</pre></details>"
