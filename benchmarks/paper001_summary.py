"""paper001.json / .md: Table I, Table II, full data and the Fig. 2 curves of Zhao et al. 2022
("Self-supervised Assisted Active Learning for Skin Lesion Segmentation") from the finished rows of
`paper001.py`, next to the papers' numbers. Reading and tabulating only: nothing here trains.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from common import fmt
from lesionlab.evaluation.curves import alc, labels_to_target
from lesionlab.evaluation.metrics import mean_se
from lesionlab.evaluation.report import write_report
from lesionlab.evaluation.statistics import compare_curves
from paper001 import BASE, BASE_ROWS, CURVE_STRATEGIES, OUT, POOL, STEP, TABLE1_ROWS

KEYS = ["dice", "jaccard"]
# Zhao et al. 2022, Table I: Dice per label count for each row.
PAPER_TABLE1 = {
    "random": {300: 0.580, 370: 0.657, 440: 0.717, 510: 0.687, 580: 0.774},
    "random_ssl_weights": {300: 0.682, 370: 0.576, 440: 0.696, 510: 0.725, 580: 0.785},
    "ssl_kmeans": {300: 0.744, 370: 0.683, 440: 0.743, 510: 0.765, 580: 0.797},
    "ssl_kmeans_ssl_weights": {300: 0.732, 370: 0.682, 440: 0.763, 510: 0.777, 580: 0.803},
}
# Kim et al. 2020 ("Confident Coreset for Active Learning in Medical Image Analysis"): confident coreset
# reached 67.04 % Jaccard at 20 % of the labels, random at 30-35 %;
# full data 69.2 %.
PAPER003_REACH_SHARE = 0.6704 / 0.692
# Zhao et al. 2022, Table I (Dice at 300 labels, then 580) and Kim et al. 2020's segmentation (Jaccard,
# ISIC 2017).
PAPER = {
    "dice_random_300": 0.580,
    "dice_random_ssl_weights_300": 0.682,
    "dice_ssl_kmeans_300": 0.744,
    "dice_ssl_kmeans_ssl_weights_300": 0.732,
    "dice_ssl_kmeans_ssl_weights_580": 0.803,
    "paper003_jaccard_confident_coreset_30pct": 0.683,
    "paper003_jaccard_full": 0.692,
}


def load_row(row: str) -> dict[str, Any] | None:
    """Every finished seed of `row` as one results dict (runs of all seeds), or None."""
    files = sorted((OUT / row).glob("seed*/results.json"))
    if not files:
        return None
    raws = [json.loads(f.read_text()) for f in files]
    runs = [run for raw in raws for run in raw["runs"]]
    keys = [(run["strategy"], run["seed"]) for run in runs]
    if repeated := sorted({k for k in keys if keys.count(k) > 1}):
        raise SystemExit(
            f"{OUT / row}: (strategy, seed) {repeated} finished in more than one seed folder; "
            "keep one (a whole seed<k> or its split seed<k>_<strategies> folders) and summarize again"
        )
    return {**raws[0], "runs": runs}


def _stats(values: list[float]) -> dict[str, float]:
    return {k: v for k, v in mean_se(values).items() if k in ("mean", "se", "n")}


def round_metrics(raw: dict[str, Any], strategy: str, round_: int) -> dict[str, dict[str, float]]:
    runs = [r for r in raw["runs"] if r["strategy"] == strategy]
    return {
        k: _stats([r["rounds"][round_]["metrics"][k] for r in runs if len(r["rounds"]) > round_])
        for k in KEYS
    }


def seed_curves(raw: dict[str, Any], strategy: str) -> tuple[list[float], dict[str, np.ndarray]]:
    """A strategy's label counts and its (seeds, rounds) arrays of Dice and Jaccard, seeds in order,
    cut to the rounds every seed finished (so two strategies' arrays pair seed by seed)."""
    runs = sorted((r for r in raw["runs"] if r["strategy"] == strategy), key=lambda r: r["seed"])
    n_rounds = min(len(r["rounds"]) for r in runs)
    x = [runs[0]["rounds"][t]["n_labeled"] for t in range(n_rounds)]
    values = {
        k: np.array([[r["rounds"][t]["metrics"][k] for t in range(n_rounds)] for r in runs], dtype=float)
        for k in KEYS
    }
    return x, values


def curve_block(raw: dict[str, Any], strategy: str) -> dict[str, Any]:
    """Mean ± s.e. per round and the area under the Dice and Jaccard curves (lesionlab's `alc`: the
    curve's mean height over its label range), per seed then over seeds."""
    x, values = seed_curves(raw, strategy)
    curve = [{"n_labeled": n, **{k: _stats(list(values[k][:, t])) for k in KEYS}} for t, n in enumerate(x)]
    return {
        "alc": _stats([alc(x, y) for y in values["dice"]]),
        "alc_jaccard": _stats([alc(x, y) for y in values["jaccard"]]),
        "curve": curve,
    }


def paper003_reach(raw: dict[str, Any], strategy: str, full_jaccard: float) -> dict[str, Any]:
    """Kim et al. 2020's other segmentation reading: labels until the Jaccard curve first reaches 67.04 %, the
    value confident coreset reached at 20 % of the labels, here as the same share of our full-data
    Jaccard (67.04 / 69.2 = 96.9 %). Per seed; a seed that never reaches it counts in `n_missed`."""
    x, values = seed_curves(raw, strategy)
    target = PAPER003_REACH_SHARE * full_jaccard
    per_seed = [labels_to_target(x, y, target) for y in values["jaccard"]]
    reached = [v for v in per_seed if v is not None]
    return {
        "target_jaccard": target,
        "labels_per_seed": per_seed,
        "n_missed": len(per_seed) - len(reached),
        **(_stats(reached) if reached else {}),
    }


def versus_random(raw: dict[str, Any], strategy: str) -> dict[str, Any]:
    """Paired test of a curve against random's over the seeds both finished, from round 1 on (round 0 is
    the shared base fit, equal by construction): over (seed, round) points (more power, optimistic p)
    and over seeds (each seed's mean, honest independence)."""
    a = {r["seed"]: r["rounds"] for r in raw["runs"] if r["strategy"] == strategy}
    b = {r["seed"]: r["rounds"] for r in raw["runs"] if r["strategy"] == "random"}
    seeds = sorted(a.keys() & b.keys())
    rounds = min(len(runs[s]) for runs in (a, b) for s in seeds) if seeds else 0
    if rounds < 2:
        return {"n_seeds": len(seeds)}
    a_dice, b_dice = (
        np.array([[runs[s][t]["metrics"]["dice"] for t in range(1, rounds)] for s in seeds])
        for runs in (a, b)
    )
    tests = {over: compare_curves(a_dice, b_dice, pair_over=over) for over in ("points", "seeds")}
    return {"n_seeds": len(seeds), **tests}


def versus_random_text(vs: dict[str, Any]) -> str:
    """The table cell: the mean paired difference, with p values only when 3 or more seeds pair up."""
    if "seeds" not in vs:
        return "n/a"
    diff = f"{vs['seeds']['mean_difference']:+.3f}"
    if vs["n_seeds"] < 3:
        return f"{diff} ({vs['n_seeds']} seed(s): no test)"
    return f"{diff} (p {vs['seeds']['p_ttest']:.2f}, {vs['points']['p_wilcoxon']:.3f})"


def table1_lines(table1: dict[str, Any]) -> list[str]:
    """Table I's layout: Dice per label count, the four rows across, with the paper's values."""
    md = ["", "## Table I: Dice over the rounds (mean ± s.e.; paper in brackets)", ""]
    md += ["| labels | " + " | ".join(table1) + " |", "|---|" + "---|" * len(table1)]
    counts = sorted({e["n_labeled"] for block in table1.values() for e in block["curve"]})
    for n in counts:
        cells = []
        for row, block in table1.items():
            entry = next((e for e in block["curve"] if e["n_labeled"] == n), None)
            paper = PAPER_TABLE1.get(row, {}).get(int(n))
            cells.append(
                ("" if entry is None else fmt(entry["dice"])) + ("" if paper is None else f" ({paper:.3f})")
            )
        md.append(f"| {int(n)} | " + " | ".join(cells) + " |")
    return md


def target_lines(results: dict[str, Any]) -> list[str]:
    """The issue's targets that the finished rows decide; the others are named as not yet measured."""
    md = ["", "## Targets", ""]
    base = results["base_set_300"]
    if "random" in base and "ssl_kmeans" in base:
        gap = base["ssl_kmeans"]["dice"]["mean"] - base["random"]["dice"]["mean"]
        verdict = "met" if gap >= 0.05 else "missed"
        md.append(
            f"- ssl_kmeans base set beats random by at least 0.05 Dice at 300 labels: **{verdict}** "
            f"({fmt(base['ssl_kmeans']['dice'])} vs {fmt(base['random']['dice'])}, {gap:+.3f}; "
            f"{base['ssl_kmeans']['n_seeds']} and {base['random']['n_seeds']} seeds)."
        )
    table1 = results.get("table1_curves", {})
    for cold, warm in (("random", "random_ssl_weights"), ("ssl_kmeans", "ssl_kmeans_ssl_weights")):
        if cold not in table1 or warm not in table1:
            continue
        worse = []
        for c, w in zip(table1[cold]["curve"], table1[warm]["curve"], strict=False):
            t = round((c["n_labeled"] - BASE) / STEP)
            se = max(c["dice"]["se"] or 0.0, w["dice"]["se"] or 0.0)
            if t > 3 and w["dice"]["mean"] < c["dice"]["mean"] - se:
                worse.append(f"round {t}: {w['dice']['mean']:.3f} vs {c['dice']['mean']:.3f} ± {se:.3f}")
        verdict = "met" if not worse else "missed"
        md.append(
            f"- warm start ({warm}) never worse than random initialisation ({cold}) by more than one s.e. "
            f"after round 3: **{verdict}**" + (f" ({'; '.join(worse)})." if worse else ".")
        )
    cc = results.get("confident_coreset_jaccard_at_30pct")
    full = results.get("full_data")
    if cc and full:
        gap = cc["mean"] - full["jaccard"]["mean"]
        verdict = "met" if gap >= -0.01 else "missed"
        md.append(
            f"- confident coreset within 1 Jaccard point of full data at 30 % of the labels: **{verdict}** "
            f"({cc['mean']:.3f} at {cc['n_labeled']:.0f} labels vs {full['jaccard']['mean']:.3f}, "
            f"{gap:+.3f})."
        )
    else:
        md.append(
            "- confident coreset at 30 % against full data: not measured yet (rows `curves`, `full_data`)."
        )
    return md


def table1_report(raws: dict[str, dict[str, Any]]) -> None:
    """Table I's four rows as one report (Dice and Jaccard curves, mean ± s.e. over seeds): each row's
    runs renamed to the row, since random and random_ssl_weights share a per-round strategy."""
    runs = [{**run, "strategy": row} for row, raw in raws.items() for run in raw["runs"]]
    write_report({**next(iter(raws.values())), "runs": runs}, OUT / "table1")


def curve_lines(raw: dict[str, Any], results: dict[str, Any]) -> list[str]:
    """Fig. 2's comparison: each strategy's curve, its areas, its paired difference to random and Kim et al.
    2020's readings (Jaccard at 30 % of the pool; labels to 96.9 % of the full-data Jaccard)."""
    write_report(raw, OUT / "curves")
    full = results.get("full_data")
    at30 = round(0.3 * POOL)
    md = ["", "## Curves (Fig. 2; all from the ssl_kmeans base set with SSL weights)", ""]
    md += ["Curves with mean ± s.e.: results/paper001/curves/report.html.", ""]
    md += [
        f"| strategy | Dice at last round | ALC Dice | ALC Jaccard | Jaccard at ~{at30} labels (30 %) "
        "| Dice - random, mean over rounds 1-9 (p: seeds, points) "
        "| labels to 96.9 % of full Jaccard (seeds missing) |",
        "|---|---|---|---|---|---|---|",
    ]
    finished = {run["strategy"] for run in raw["runs"]}
    for s in [s for s in CURVE_STRATEGIES if s in finished]:
        block = curve_block(raw, s)
        point = min(block["curve"], key=lambda e: abs(e["n_labeled"] - at30))
        block["jaccard_at_30pct"] = {"n_labeled": point["n_labeled"], **point["jaccard"]}
        cells = [fmt(block["curve"][-1]["dice"]), fmt(block["alc"]), fmt(block["alc_jaccard"])]
        cells.append(f"{fmt(point['jaccard'])} ({point['n_labeled']:.0f})")
        if s != "random":
            block["vs_random"] = versus_random(raw, s)
            cells.append(versus_random_text(block["vs_random"]))
        else:
            cells.append("")
        if full:
            block["paper003_reach"] = reach = paper003_reach(raw, s, full["jaccard"]["mean"])
            cells.append(
                (
                    f"{reach['mean']:.0f}" + (f" ± {reach['se']:.0f}" if reach["n"] > 1 else "")
                    if "mean" in reach
                    else "never"
                )
                + f" ({reach['n_missed']})"
            )
        else:
            cells.append("needs full data")
        results["curves"][s] = block
        md.append(f"| {s} | " + " | ".join(cells) + " |")
    if "confident_coreset" in results["curves"]:
        cc = results["curves"]["confident_coreset"]
        results["confident_coreset_jaccard_at_30pct"] = cc["jaccard_at_30pct"]
    md += [
        "",
        "p over seeds: paired t-test of the per-seed mean Dice over rounds 1-9 (round 0 is the shared base "
        "fit); over points: Wilcoxon over "
        "(seed, round) pairs (optimistic: rounds of one seed are correlated). Labels to 96.9 % of the "
        f"full-data Jaccard (Kim et al. 2020's 67.04 / 69.2): {BASE} means the base set already reaches it.",
    ]
    return md


def summarize() -> tuple[dict[str, Any], list[str]]:
    results: dict[str, Any] = {"base_set_300": {}, "curves": {}}
    md = [
        "## Base set of 300 (Table I) and the clustering ablation (Table II)",
        "",
        "| row | Dice | Jaccard | seconds per seed (1 thread) |",
        "|---|---|---|---|",
    ]
    table1: dict[str, Any] = {}
    table1_raws: dict[str, dict[str, Any]] = {}
    for row in BASE_ROWS:
        if (raw := load_row(row)) is not None:
            strategy = raw["runs"][0]["strategy"]  # one per row: random or ssl_kmeans
            block = round_metrics(raw, strategy, 0)
            block["seconds"] = _stats([r["rounds"][0]["train_seconds"] for r in raw["runs"]])
            block["n_seeds"] = len(raw["runs"])
            results["base_set_300"][row] = block
            md.append(
                f"| {row} | {fmt(block['dice'])} | {fmt(block['jaccard'])} | {block['seconds']['mean']:.0f} |"
            )
            if row in TABLE1_ROWS and len(raw["runs"][0]["rounds"]) > 1:
                table1[row] = curve_block(raw, strategy)
                table1_raws[row] = raw
    if table1:
        results["table1_curves"] = table1
        md += table1_lines(table1)
        table1_report(table1_raws)
        md += ["", "Curves with mean ± s.e.: results/paper001/table1/report.html."]
    if (raw := load_row("full_data")) is not None:
        results["full_data"] = round_metrics(raw, "random", 0)
        f = results["full_data"]
        md += ["", f"Full data (1600 masks): Dice {fmt(f['dice'])}, Jaccard {fmt(f['jaccard'])}."]
    if (raw := load_row("curves")) is not None:
        md += curve_lines(raw, results)
    md += target_lines(results)
    return results, md
