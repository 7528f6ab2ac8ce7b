"""reproduction.md's Kim et al. 2020 figures, read from their results files (the table's columns:
tests/doc_figures.py)."""

from __future__ import annotations

import statistics
from collections.abc import Callable

import pytest

from doc_figures import Quote, check, get, ids, load, ms, values_at

REPRO = "docs/reproduction.md"

QUOTES: list[Quote] = []
# --------------------------------------------------------------------------- Kim et al. 2020
P003 = "paper003.json"
_HAM003 = "results/ham10000_7class"


def _kim(row: str) -> Callable[[dict], tuple]:
    """A main-table row: accuracy at 10, 20, 30, 35 (± s.e.) and 40 %, ALC ± s.e., labels to 99 %."""

    def values(d: dict) -> tuple:
        r = get(d, f"{_HAM003}/{row}")
        acc = [c["accuracy"] for c in r["curve"]]
        reach = r["labels_to_99pct_full"]
        pool = r["curve"][0]["n_labeled"] / r["curve"][0]["fraction"]
        if reach["n_reached"]:
            to99 = f"{100 * reach['mean'] / pool:.0f} % ({reach['n_reached']}/{reach['n_seeds']} seeds)"
        else:
            to99 = "not reached by 40 %"
        return (
            acc[0]["mean"],
            acc[2]["mean"],
            acc[4]["mean"],
            acc[5]["mean"],
            acc[5]["se"],
            acc[6]["mean"],
            r["alc"]["mean"],
            r["alc"]["se"],
            to99,
        )

    return values


def _kim_ablation(row: str) -> Callable[[dict], tuple]:
    return lambda d: (
        *values_at(d, ms(f"{_HAM003}/{row}/alc")),
        *values_at(d, ms(f"{_HAM003}/{row}/at_35pct")),
    )


_KIM = "| {:.3f} | {:.3f} | {:.3f} | {:.3f} ± {:.3f} | {:.3f} | {:.3f} ± {:.3f} | {} |"
QUOTES += [
    *[
        Quote(REPRO, f"| {row} " + _KIM, P003, _kim(row))
        for row in ("random", "entropy", "coreset", "learning_loss", "vaal")
    ],
    Quote(
        REPRO,
        "| **confident_coreset** (alpha 0.25) | {:.3f} | {:.3f} | {:.3f} | **{:.3f} ± {:.3f}** | {:.3f} |"
        " **{:.3f} ± {:.3f}** | {} |",
        P003,
        _kim("confident_coreset"),
    ),
    Quote(
        REPRO,
        "| full data (5085 images) | | | | | | | accuracy {:.3f} ± {:.3f} |",
        P003,
        ms(f"{_HAM003}/full_data/accuracy"),
    ),
    Quote(
        REPRO,
        "their macro AUC ({:.3f}) and balanced accuracy ({:.3f}) are the best of the table (confident"
        " coreset at 40 %: {:.3f} and {:.3f})",
        P003,
        lambda d: (
            get(d, f"{_HAM003}/full_data/macro_auc/mean"),
            get(d, f"{_HAM003}/full_data/balanced_accuracy/mean"),
            get(d, f"{_HAM003}/confident_coreset/other_metrics/macro_auc/6/mean"),
            get(d, f"{_HAM003}/confident_coreset/other_metrics/balanced_accuracy/6/mean"),
        ),
    ),
    *[
        Quote(REPRO, f"| {label} | {{:.3f}} ± {{:.3f}} | {{:.3f}} ± {{:.3f}} |", P003, _kim_ablation(row))
        for label, row in (
            ("confident_coreset (Eq. 5, product)", "confident_coreset"),
            ("confident_coreset_sum (Eq. 6)", "confident_coreset_sum"),
            ("confident_coreset_rank (late rank fusion)", "confident_coreset_rank"),
            (
                "confident_coreset_sequential (half learning loss, then half k-center)",
                "confident_coreset_sequential",
            ),
            ("alpha 0 (= learning_loss)", "learning_loss"),
            ("alpha 0.25 (= confident_coreset)", "confident_coreset"),
            ("alpha 0.5", "alpha_0.5"),
            ("alpha 0.75", "alpha_0.75"),
            ("alpha 1 (= coreset)", "coreset"),
        )
    ],
]


def _paired_vs_cc(row: str) -> Callable[[dict], tuple]:
    """Confident coreset minus `row`: mean accuracy difference and paired Wilcoxon p over the (seed, round)
    points after the shared start, from the rows' results.json."""

    def values(d: dict) -> tuple:
        from scipy.stats import wilcoxon

        def curves(name: str) -> dict:
            runs = load(f"paper003/ham10000_7class/{name}/results.json")["runs"]
            return {r["seed"]: [x["metrics"]["accuracy"] for x in r["rounds"][1:]] for r in runs}

        ours, theirs = curves("confident_coreset"), curves(row)
        a = [v for s in sorted(ours) for v in ours[s]]
        b = [v for s in sorted(ours) for v in theirs[s]]
        return statistics.mean(x - y for x, y in zip(a, b, strict=True)), float(wilcoxon(a, b).pvalue)

    return values


QUOTES += [
    Quote(
        REPRO,
        f"| {label} | {{:.3f}} ± {{:.3f}} | {{:.3f}} ± {{:.3f}} | {{:+.3f}} ({{:.{digits}f}}) |",
        P003,
        lambda d, row=row: (*_kim_ablation(row)(d), *_paired_vs_cc(row)(d)),
    )
    for label, row, digits in (
        ("confident_coreset_sum (Eq. 6)", "confident_coreset_sum", 2),
        ("confident_coreset_rank (late rank fusion)", "confident_coreset_rank", 2),
        (
            "confident_coreset_sequential (half learning loss, then half k-center)",
            "confident_coreset_sequential",
            3,
        ),
        ("alpha 0 (= learning_loss)", "learning_loss", 3),
        ("alpha 0.5", "alpha_0.5", 2),
        ("alpha 0.75", "alpha_0.75", 2),
        ("alpha 1 (= coreset)", "coreset", 2),
    )
]


def _alc003(row: str) -> Callable[[dict], float]:
    return lambda d: get(d, f"{_HAM003}/{row}/alc/mean")


def _full003(d: dict) -> tuple:
    runs = load("paper003/ham10000_7class/full_data/results.json")["runs"]
    acc = [r["rounds"][0]["metrics"]["accuracy"] for r in runs]
    epochs = sorted(r["rounds"][0]["best_epoch"] for r in runs)
    return (min(acc), max(acc), *epochs)


_TRIO = ("confident_coreset", "coreset", "learning_loss")
QUOTES += [
    Quote(
        REPRO,
        "confident coreset's ALC beats coreset's ({:+.3f}) and learning loss's ({:+.3f}), and all three beat"
        " random ({:+.3f} to {:+.3f};",
        P003,
        lambda d: (
            _alc003("confident_coreset")(d) - _alc003("coreset")(d),
            _alc003("confident_coreset")(d) - _alc003("learning_loss")(d),
            min(g := [_alc003(r)(d) - _alc003("random")(d) for r in _TRIO]),
            max(g),
        ),
    ),
    Quote(
        REPRO,
        "the paired t-test gives p = {:.3f}-{:.3f})",
        P003,
        lambda d: (
            min(t := [get(d, f"{_HAM003}/{r}/vs_random/seeds_test/p_ttest") for r in _TRIO]),
            max(t),
        ),
    ),
    Quote(
        REPRO,
        "paired Wilcoxon over (seed, round) points p < {:.3f} for each",
        P003,
        lambda d: (
            0.001
            if max(get(d, f"{_HAM003}/{r}/vs_random/points_test/p_wilcoxon") for r in _TRIO) < 0.001
            else 1
        ),
    ),
    Quote(
        REPRO,
        "reads here {:.3f} ± {:.3f} at 35 % against {:.3f} ± {:.3f} ({:.1f} %)",
        P003,
        lambda d: (
            *values_at(d, ms(f"{_HAM003}/confident_coreset/at_35pct")),
            *values_at(d, ms(f"{_HAM003}/full_data/accuracy")),
            100
            * get(d, f"{_HAM003}/confident_coreset/at_35pct/mean")
            / get(d, f"{_HAM003}/full_data/accuracy/mean"),
        ),
    ),
    Quote(
        REPRO,
        "the seeds' full-data accuracies spread from {:.3f} to {:.3f} (best epochs {}, {} and {})",
        P003,
        _full003,
    ),
    Quote(
        REPRO,
        "their ALCs are within {:.3f} (coreset is ahead early, {:.3f} against {:.3f} at 20 %",
        P003,
        lambda d: (
            abs(
                round(_alc003("coreset")(d), 3) - round(_alc003("entropy")(d), 3)
            ),  # as the table prints them
            get(d, f"{_HAM003}/coreset/curve/2/accuracy/mean"),
            get(d, f"{_HAM003}/entropy/curve/2/accuracy/mean"),
        ),
    ),
    Quote(
        REPRO,
        "**VAAL barely beats random** ({:+.3f} ALC)",
        P003,
        lambda d: _alc003("vaal")(d) - _alc003("random")(d),
    ),
    Quote(
        REPRO,
        "confident coreset is ahead of learning loss by {:.3f} accuracy (Wilcoxon p = {:.3f}) and of coreset"
        " by"
        " {:.3f} (p = {:.2f}, not significant with 3 seeds)",
        P003,
        lambda d: (*_paired_vs_cc("learning_loss")(d), *_paired_vs_cc("coreset")(d)),
    ),
]


def _unit_minutes(row: str) -> list[float]:
    """Training plus selection minutes of each seed's run of a row."""
    runs = load(f"paper003/ham10000_7class/{row}/results.json")["runs"]
    return [
        sum((r.get("train_seconds") or 0) + (r.get("selection_seconds") or 0) for r in run["rounds"]) / 60
        for run in runs
    ]


_MAIN003 = ("random", "entropy", "coreset", "learning_loss", "vaal", "confident_coreset", "full_data")
_ABL003 = (
    "confident_coreset_sum",
    "confident_coreset_rank",
    "confident_coreset_sequential",
    "alpha_0.5",
    "alpha_0.75",
)


def _main_cost(d: dict) -> tuple:
    units = [m for r in _MAIN003 if r not in ("random", "full_data") for m in _unit_minutes(r)]
    random = _unit_minutes("random")
    total = sum(m for r in _MAIN003 for m in _unit_minutes(r)) / 60
    return min(units), max(units), min(random), max(random), total


def _ablation_cost(d: dict) -> tuple:
    units = [m for r in _ABL003 for m in _unit_minutes(r)]
    return min(units), max(units), sum(units) / 60


QUOTES += [
    Quote(
        REPRO,
        "one (row, seed) unit took {:.0f}-{:.0f} minutes of training and selection, random's seeds"
        " {:.0f}-{:.0f} on a busier machine, the main part {:.1f} hours in all",
        P003,
        _main_cost,
    ),
    Quote(
        REPRO,
        "(one (row, seed) unit took {:.0f}-{:.0f} minutes of training and selection; the ablations and"
        " the two interior alphas, 5 rows x 3 seeds, {:.1f} hours in all)",
        P003,
        _ablation_cost,
    ),
    Quote(
        "benchmarks/README.md",
        "per (row, seed) {:.0f}-{:.0f} min of training and selection (7 fits on 508-2034 images; random's"
        " seeds {:.0f}-{:.0f} min); {:.1f} hours for the three parts",
        P003,
        lambda d: (
            *_main_cost(d)[:4],
            sum(m for r in (*_MAIN003, *_ABL003) for m in _unit_minutes(r)) / 60,
        ),
    ),
]


@pytest.mark.parametrize("quote", QUOTES, ids=ids(QUOTES))
def test_quoted_figure_is_the_results_file_value(quote: Quote) -> None:
    check(quote)
