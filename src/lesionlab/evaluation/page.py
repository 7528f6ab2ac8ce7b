"""The report's HTML page: `summarize`'s numbers, figure PNGs and thumbnails through one Jinja2 template.

Every figure and thumbnail is embedded as a base64 data URI, so the single HTML file can be mailed or
attached to a ticket without its folder. All text is escaped by the template (autoescape).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from importlib.resources import files
from io import BytesIO
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined

from lesionlab.data.preprocess import open_rgb
from lesionlab.errors import DataError
from lesionlab.evaluation.headline import headline
from lesionlab.evaluation.summary import ALPHA, RANDOM, TARGET_FRACTION, number, saving_text

THUMB_PX = 96
GALLERY_MAX = 8
TEMPLATE = "report.html.j2"


# figure file stem -> (heading, alt text), in page order
FIGURES = {
    "learning_curve": ("Learning curve", "learning curve of {metric}"),
    "other_metrics": ("Other metrics", "learning curves of the other metrics"),
    "class_balance": ("Class balance of the labels bought", "class balance per round"),
}


def render_page(results: dict, summary: dict, pngs: Mapping[str, bytes]) -> str:
    """The whole page as one string; `pngs` maps the stems of `FIGURES` that were drawn to PNG bytes."""
    env = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
    template = env.from_string(
        files("lesionlab.evaluation").joinpath("templates", TEMPLATE).read_text("utf-8")
    )
    return template.render(
        title=f"Active learning report: {summary['name'] or 'experiment'}",
        headline=headline(summary),  # the sentence the page opens with
        facts=_facts(summary),
        notes=summary["notes"],
        summary_table=_summary_table(summary),
        figures=[
            {
                "heading": heading,
                "uri": _data_uri(pngs[stem], "image/png"),
                "alt": alt.format(metric=summary["metric"]),
                "caption": _balance_caption(summary) if stem == "class_balance" else "",
            }
            for stem, (heading, alt) in FIGURES.items()
            if stem in pngs
        ],
        rounds_table=_rounds_table(summary),
        gallery=_gallery(results, summary),
        details=[
            ("configuration", _json(results.get("config"))),
            ("versions", _json(results.get("versions"))),
        ],
    )


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def _pm(mean: float | None, se: float | None, spec: str = ".3f") -> str:
    """ "mean ± se", or just the mean when the spread is unknown (one seed)."""
    if mean is None:
        return "n/a"
    return format(mean, spec) if se is None else f"{format(mean, spec)} ± {format(se, spec)}"


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str) if value is not None else "not recorded"


def _facts(summary: dict) -> list[tuple[str, str]]:
    """The line under the title: what was measured, on how many images, against what."""
    classes = summary["classes"]
    full = summary["full_data"] or {}
    full_text = ", ".join(f"{k} {_fmt(number(v))}" for k, v in full.items() if number(v) is not None)
    n_eval, split = summary["n_eval"], summary.get("evaluated_on")
    facts = [("primary metric", summary["metric"]), ("classes", ", ".join(map(str, classes)))]
    if summary["positive_class"] is not None:
        facts.append(("positive class", str(summary["positive_class"])))
    elif len(classes) == 2:  # binary metrics score column 1 as positive
        facts.append(("positive class", f"{classes[1]} (the second class; not recorded in the results)"))
    facts += [
        ("metrics measured on", _eval_set(n_eval, split)),
        ("strategies", ", ".join(summary["strategies"])),
        ("full-data reference", full_text or "none given"),
    ]
    return facts


def _balance_caption(summary: dict) -> str:
    steps = [s["class_balance"] for s in summary["strategies"].values() if s["class_balance"]]
    if steps and all(st[0]["label"] == "initial" for st in steps):
        first = "The first bar is the initial labelled set; each later bar"
    else:
        first = "The initial set's classes were not recorded in these results; each bar"
    return first + " is a round's selection, under the round that first trains on it (mean over seeds)."


def _eval_set(n_eval: int | None, split: str | None) -> str:
    where = f" ({split} split)" if split else ""
    return f"an evaluation set of unrecorded size{where}" if n_eval is None else f"{n_eval} images{where}"


def _p_cell(test: dict | None) -> str:
    if test is None:
        return "n/a"
    return f"{_fmt(test.get('p_wilcoxon'), '.3g')} (n={test.get('n')})"


def _saving_cell(saving: dict | None) -> str:
    return saving_text(saving)  # worded in one place, for the page and any other reader


def _summary_table(summary: dict) -> dict[str, Any]:
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
            vs = s["vs_random"] or {}
            saving = _saving_cell(s["saving_vs_random"])
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
        + "Saving: 1 − labels(strategy) / labels(random) to reach random's best mean metric; "
        f"'not significant' when the paired test over seeds gives p ≥ {ALPHA:g} and 'untested' when it "
        "could not run (fewer than two seeds in common): such a saving may be chance; "
        "'no saving' when the strategy's ALC is below random's, whatever labels it takes to the target. "
        "p: Wilcoxon signed-rank vs random, pairing seeds (per-seed mean over rounds; honest) or every "
        "(seed, round) cell (more pairs, but rounds are correlated so p is optimistic)."
    )
    return {"head": head, "rows": rows, "caption": caption}


def _rounds_table(summary: dict) -> dict[str, Any]:
    metric = summary["metric"]
    # With re-labels the curves' x is what was paid, so the table says so instead of "fraction labelled".
    cost = summary.get("x_axis") == "annotation_cost"
    head = ["strategy", "round", "n labelled"]
    head += ["annotations", "annotations / pool"] if cost else ["fraction"]
    head += [f"{metric} (mean ± s.e.)", "selection s", "train s"]
    rows = []
    for name, s in summary["strategies"].items():
        curve = s["curves"][metric]
        for i, rnd in enumerate(s["rounds"]):
            paid = [_fmt(s["annotation_cost"][i], ".0f")] if cost else []
            rows.append(
                [
                    name,
                    rnd,
                    _fmt(s["n_labeled"][i], ".0f"),
                    *paid,
                    _fmt(s["fraction"][i], ".3f"),
                    _pm(curve[i]["mean"], curve[i]["sem"]),
                    _fmt(s["selection_seconds"][i], ".1f"),
                    _fmt(s["train_seconds"][i], ".1f"),
                ]
            )
    caption = "Seconds are means over seeds; s.e. is blank with a single seed."
    if cost:
        caption += " Annotations are labels plus re-labels paid (experiment.audit)."
    return {"head": head, "rows": rows, "caption": caption}


def _gallery(results: dict, summary: dict) -> list[dict[str, Any]]:
    """Seed 0 (else the lowest seed) of each strategy: the top-ranked selections of every round.

    Random selection's scores are random numbers, so they are not shown.
    """
    runs: dict[str, dict[Any, dict]] = {}
    for i, run in enumerate(results.get("runs") or []):
        runs.setdefault(str(run["strategy"]), {})[run.get("seed", i)] = run
    out = []
    for name in summary["strategies"]:
        seeds = runs.get(name, {})
        seed = 0 if 0 in seeds else min(seeds)
        rounds = []
        for rnd in sorted(seeds[seed].get("rounds") or [], key=lambda r: r["round"]):
            images = list(rnd.get("top_images") or [])[:GALLERY_MAX]
            if images:
                cells = [_gallery_cell(rnd, i, p, show_score=name != RANDOM) for i, p in enumerate(images)]
                rounds.append({"round": rnd["round"], "cells": cells})
        out.append({"strategy": name, "seed": seed, "rounds": rounds, "scores_hidden": name == RANDOM})
    return out


def _gallery_cell(rnd: dict, i: int, path: Any, show_score: bool) -> dict[str, Any]:
    """One thumbnail; top_images[i] is the i-th selected id (selections are stored in ranked order)."""
    ids = rnd.get("new_ids") or []
    parts = [str(ids[i])] if i < len(ids) else []
    if show_score:
        scores = rnd.get("top_scores") or rnd.get("new_scores") or []
        parts.append(f"score {_fmt(number(scores[i]) if i < len(scores) else None, '.3g')}")
    return {"uri": thumbnail(path), "path": str(path), "caption": " · ".join(parts)}


def thumbnail(path: Any) -> str | None:
    """A 96 px JPEG data URI, or None when the image is missing or unreadable (the report must not fail).

    Decoded by `open_rgb`, the decoder training uses (EXIF orientation, alpha on white), so the report
    and the audit show the pixels the model saw; JPEGs decode at a reduced size, much faster."""
    try:
        thumb = open_rgb(Path(str(path)), draft=(2 * THUMB_PX, 2 * THUMB_PX))
        thumb.thumbnail((THUMB_PX, THUMB_PX))
        buf = BytesIO()
        thumb.save(buf, format="JPEG", quality=85)
    except (DataError, OSError, ValueError):
        return None
    return _data_uri(buf.getvalue(), "image/jpeg")
