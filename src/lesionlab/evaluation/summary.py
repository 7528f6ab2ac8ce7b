"""The numbers of an active-learning experiment (`RUN_DIR/results.json`), as a paper would quote them.

Learning curves with standard errors, ALC, labels to 99 % of full-data performance, annotation saving and
paired tests against random sampling, plus the class balance of the labels bought. Plain JSON-able dicts
and no plotting imports: the terminal summary (`lesionlab.runner.summary_table`) reads only this module.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from lesionlab.evaluation.curves import alc, annotation_saving, labels_to_target, learning_curve
from lesionlab.evaluation.metrics import mean_se
from lesionlab.evaluation.statistics import compare_curves

TARGET_FRACTION = 0.99  # "labels to reach 99 % of the full-data metric"
RANDOM = "random"
ALPHA = 0.05  # a saving beside a paired test with p >= ALPHA is flagged as possibly chance


def summarize(results: dict) -> dict:
    """Per-strategy curves, ALC, labels to target, saving and test vs random, as plain JSON-able dicts.

    Seeds of one strategy are aligned on the rounds every seed finished (a seed stopped early would
    otherwise bias the mean at later rounds); dropped rounds are listed in `notes`. NaN and infinite
    values become None so the result is strict JSON.
    """
    primary = str(results["metric"])
    full = results.get("full_data") or {}
    full_value = number(full.get(primary))
    target = TARGET_FRACTION * full_value if full_value is not None else None
    notes: list[str] = []
    groups = _group_runs(results, notes)
    strategies = {name: _summarize_strategy(name, r, primary, target, notes) for name, r in groups.items()}
    if RANDOM in groups:
        for name, summary in strategies.items():
            if name != RANDOM:
                summary["vs_random"] = _compare(name, groups[name], groups[RANDOM], primary, notes)
                summary["saving_vs_random"] = _saving(summary, strategies[RANDOM], primary)
    n_eval = results.get("n_eval")
    return _clean(
        {
            "name": results.get("name"),
            "metric": primary,
            "classes": list(results.get("classes") or []),
            "positive_class": results.get("positive_class"),
            "n_eval": int(n_eval) if _is_number(n_eval) else None,
            "evaluated_on": results.get("evaluated_on"),  # the split the metrics come from, e.g. "test"
            "full_data": full or None,
            "target": {"fraction_of_full": TARGET_FRACTION, "value": target},
            "strategies": strategies,
            # "annotation_cost" when some run re-labelled (experiment.audit): x is then labels + re-labels
            "x_axis": "annotation_cost" if _relabelled(strategies) else "labelled",
            "notes": notes,
        }
    )


def _relabelled(strategies: dict[str, dict]) -> bool:
    return any(s["annotation_cost"] != s["n_labeled"] for s in strategies.values())


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
    out = [number(d.get(key)) for d in source]
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
    paid = {s: _paid(rounds, n_labeled[s]) for s, rounds in runs.items()}
    # x = what was paid: with re-labels (experiment.audit) the cost, as a share of the pool's size.
    fractions = {s: fractions[s] * paid[s] / np.where(n_labeled[s] > 0, n_labeled[s], 1) for s in seeds}
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
        "annotation_cost": np.nanmean(np.stack(list(paid.values())), axis=0).tolist(),
        "curves": curves,
        "alc": mean_se(list(per_seed_alc.values())) | {"per_seed": _by_seed(per_seed_alc)},
        "labels_to_target": None,
        "saving_vs_random": None,
        "vs_random": None,
        "new_class_counts": _mean_class_counts(runs),
        "class_balance": _class_balance(runs),
        "selection_seconds": _mean_rows(runs, "selection_seconds"),
        "train_seconds": _mean_rows(runs, "train_seconds"),
    }
    if target is not None:
        reached = {s: labels_to_target(paid[s], _values(runs[s], primary), target) for s in seeds}
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


def _paid(rounds: list[dict], n_labeled: np.ndarray) -> np.ndarray:
    """Annotations paid before each round: labels plus re-labels (`annotation_cost`), else the labels."""
    cost = _values(rounds, "annotation_cost", metric=False)
    return n_labeled if np.isnan(cost).any() else cost


def _mean_class_counts(runs: dict[int, list[dict]]) -> list[dict[str, float]]:
    """Per round: mean over the seeds that selected of how many new samples fell in each class.

    A round without a selection (the last one, or a seed that stopped) gives an empty row.
    """
    rows = []
    for i in range(len(next(iter(runs.values())))):
        counts = [runs[s][i]["new_class_counts"] for s in runs if runs[s][i].get("new_class_counts")]
        rows.append(_mean_counts(counts))
    return rows


def _mean_counts(counts: list[dict]) -> dict[str, float]:
    classes = list(dict.fromkeys(c for cc in counts for c in cc))
    return {c: float(np.mean([number(cc.get(c)) or 0.0 for cc in counts])) for c in classes}


def _class_balance(runs: dict[int, list[dict]]) -> list[dict[str, Any]]:
    """Classes of the labels bought at each step, mean over seeds: the set the first round trained on
    (`labeled_class_counts` of that round; left out when the run did not record it), then each round's
    selection, labelled by the round that first trains on it. Rounds that selected nothing are left out.
    """
    first = next(iter(runs.values()))
    steps = []
    initial = [rr[0]["labeled_class_counts"] for rr in runs.values() if rr[0].get("labeled_class_counts")]
    if len(initial) == len(runs):
        steps.append({"label": "initial", "counts": _mean_counts(initial)})
    for rnd, row in zip(first, _mean_class_counts(runs), strict=True):
        if row:  # the selection after round r is first trained on in round r + 1
            steps.append({"label": str(rnd["round"] + 1), "counts": row})
    return steps


def _mean_rows(runs: dict[int, list[dict]], key: str) -> list[float | None]:
    values = np.stack([_values(rounds, key, metric=False) for rounds in runs.values()])
    return [None if np.all(np.isnan(col)) else float(np.nanmean(col)) for col in values.T]


def _saving(strategy: dict, random: dict, primary: str) -> dict[str, Any] | None:
    """Labels saved vs random to reach random's best mean metric, on the seed-averaged curves, whether
    the paired test over seeds backs it (`significant`; None when there is no such test), and whether
    the strategy's mean ALC is below random's (`alc_below_random`: then it is worded as no saving).

    Mean curves, not per seed: the best point of one noisy random seed is biased upwards, which would
    make the target (and the saving) depend on luck more than on the strategy. A curve can touch that
    one target first and still lie below random's over the budget: `saving_text` does not call that a
    saving.
    """
    m_s = np.array([np.nan if p["mean"] is None else p["mean"] for p in strategy["curves"][primary]])
    m_r = np.array([np.nan if p["mean"] is None else p["mean"] for p in random["curves"][primary]])
    if np.all(np.isnan(m_r)):
        return None
    value = annotation_saving(
        strategy["n_labeled"], m_s, m_r, n_labeled_random=random["n_labeled"], target=float(np.nanmax(m_r))
    )
    alc_s, alc_r = number(strategy["alc"]["mean"]), number(random["alc"]["mean"])
    below = alc_s is not None and alc_r is not None and alc_s < alc_r
    return {
        "target": float(np.nanmax(m_r)),
        "value": value,
        "significant": _significant(strategy),
        "alc_below_random": below,
    }


NO_SAVING = "no saving: ALC below random's"


def saving_text(saving: dict | None) -> str:
    """A saving vs random as a report says it: '12.5%', with '(not significant)' or '(untested)' when
    no paired test backs it; never a saving when the strategy's ALC is below random's, nor when it
    needs more labels than random ('no saving: 8.0% more labels than random')."""
    if saving is None:
        return "n/a"
    if saving.get("alc_below_random"):
        return NO_SAVING
    value = number(saving.get("value"))
    if value is None:
        return "n/a"
    text = f"{value:.1%}" if value >= 0 else f"no saving: {-value:.1%} more labels than random"
    if saving.get("significant"):
        return text
    return text + (" (untested)" if saving.get("significant") is None else " (not significant)")


def _significant(strategy: dict) -> bool | None:
    """Whether the paired test over seeds shows a difference from random (p < ALPHA); None: no such test.

    Over seeds, not over (seed, round) cells: those p-values are optimistic (rounds are correlated).
    """
    test = (strategy.get("vs_random") or {}).get("seeds_test")
    p = number((test or {}).get("p_wilcoxon"))
    return None if p is None else p < ALPHA


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


def number(value: Any) -> float | None:
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
