"""The one sentence a report opens with: which strategy saved how many labels against random, or none.

A newcomer reads this line before any table. It says only what the summary's own numbers and its own
significance rule (`summary.ALPHA`, the paired Wilcoxon test over seeds) back, so the sentence can never
claim more than the table under it.
"""

from __future__ import annotations

from lesionlab.evaluation.curves import labels_to_target
from lesionlab.evaluation.summary import ALPHA, RANDOM, number


def headline(summary: dict) -> str:
    """'bald reached random's best test auc (0.874, 250 labels) with 171 labels: 79 fewer (32 %), ...'.

    The strategy named is the significant one with the largest saving; when none is significant, the
    sentence says so and names the closest candidate with its p-value, so a null result reads as one.
    """
    strategies = summary["strategies"]
    others = [name for name in strategies if name != RANDOM]
    if RANDOM not in strategies or not others:
        return "No saving measured: the experiment has no random baseline and another strategy to compare."
    what = f"{summary.get('evaluated_on') or 'evaluation'} {summary['metric']}"
    rows = {name: _row(strategies[name], strategies[RANDOM], summary["metric"]) for name in others}
    significant = [
        n for n, r in rows.items() if r["saved"] is not None and r["saved"] > 0 and r["significant"]
    ]
    if significant:
        name = max(significant, key=lambda n: rows[n]["fraction"])
        r = rows[name]
        return (
            f"{name} reached random's best {what} ({r['target']:.3f}, reached by random with "
            f"{r['labels_random']:.0f} labels) with {r['labels']:.0f} labels: {r['saved']:.0f} fewer "
            f"({r['fraction']:.0%}); paired Wilcoxon test over {_seeds(r['n_seeds'])}, p = {r['p']:.3g}."
        )
    name = max(others, key=lambda n: rows[n]["alc_gain"] if rows[n]["alc_gain"] is not None else -1.0)
    r = rows[name]
    p = "no paired test (fewer than two seeds)" if r["p"] is None else f"p = {r['p']:.3g}"
    gain = "n/a" if r["alc_gain"] is None else f"{r['alc_gain']:+.3f}"
    return (
        f"No strategy saved labels against random with a significant paired test (p < {ALPHA:g} over "
        f"seeds): the closest, {name}, moved the {what} averaged over the learning curve (ALC) by "
        f"{gain} against random ({p}, {_seeds(r['n_seeds'])})."
    )


def _row(strategy: dict, random: dict, metric: str) -> dict:
    """Labels each curve needs to reach random's best mean, the saving, and the test over seeds."""
    saving = strategy.get("saving_vs_random") or {}
    target = number(saving.get("target"))
    test = (strategy.get("vs_random") or {}).get("seeds_test") or {}
    mean_s = [_nan(p["mean"]) for p in strategy["curves"][metric]]
    mean_r = [_nan(p["mean"]) for p in random["curves"][metric]]
    labels = labels_random = None
    if target is not None:
        labels = labels_to_target(strategy["n_labeled"], mean_s, target)
        labels_random = labels_to_target(random["n_labeled"], mean_r, target)
    saved = None if labels is None or labels_random is None else labels_random - labels
    alc_s, alc_r = number(strategy["alc"]["mean"]), number(random["alc"]["mean"])
    return {
        "target": target,
        "labels": labels,
        "labels_random": labels_random,
        "saved": None if saving.get("alc_below_random") else saved,
        "fraction": number(saving.get("value")) or 0.0,
        "significant": bool(saving.get("significant")),
        "p": number(test.get("p_wilcoxon")),
        "n_seeds": int(test.get("n") or len(strategy["seeds"])),
        "alc_gain": None if alc_s is None or alc_r is None else alc_s - alc_r,
    }


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _seeds(n: int) -> str:
    return "1 seed" if n == 1 else f"{n} seeds"
