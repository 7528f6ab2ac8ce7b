"""reproduction.md's fast-path, active-learning-baseline and Shi et al. 2019 figures, read from their
results files (the table's columns: tests/doc_figures.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from doc_figures import Quote, check, get, ids, load, ms, values_at

REPRO = "docs/reproduction.md"
QUOTES: list[Quote] = []

# --------------------------------------------------------------------------- al_baselines and Shi et al.
AL = "al_baselines.json"
_MEL, _SK = "results/isic2017_melanoma", "results/isic2017_seborrheic_keratosis"


def _al_row(task: str) -> Callable[[dict], tuple]:
    def row(d: dict) -> tuple:
        t = get(d, task)
        return (
            *values_at(t, ms("random/alc")),
            *values_at(t, ms("least_confidence/alc")),
            get(t, "least_confidence/vs_random/points_test/p_wilcoxon"),
            *values_at(t, ms("bald/alc")),
            get(t, "bald/vs_random/points_test/p_wilcoxon"),
            get(t, "full_data/auc"),
        )

    return row


_WORDS = {0: "none", 1: "one", 2: "two", 3: "three"}
_AL_ROW = "{:.3f} ± {:.3f} | {:.3f} ± {:.3f} (p = {:.3f}) | {:.3f} ± {:.3f} (p = {:.%df}) | {:.3f} |"
QUOTES += [
    Quote(REPRO, "| melanoma | " + _AL_ROW % 2, AL, _al_row(_MEL)),
    Quote(REPRO, "| seborrheic keratosis | " + _AL_ROW % 3, AL, _al_row(_SK)),
    Quote(
        REPRO,
        "least confidence reaches random's best mean AUC with {:.0f} % (melanoma) and {:.0f} % (seborrheic"
        " keratosis) fewer labels, BALD with {:.0f} % fewer on seborrheic keratosis",
        AL,
        lambda d: tuple(
            100 * get(d, p)
            for p in (
                f"{_MEL}/least_confidence/saving_vs_random/value",
                f"{_SK}/least_confidence/saving_vs_random/value",
                f"{_SK}/bald/saving_vs_random/value",
            )
        ),
    ),
    Quote(
        REPRO,
        "full-data AUC in every seed of both tasks ({:.0f} and {:.0f} labels on average)",
        AL,
        (
            f"{_MEL}/least_confidence/labels_to_99pct_full/mean",
            f"{_SK}/least_confidence/labels_to_99pct_full/mean",
        ),
    ),
    Quote(
        REPRO,
        "random reaches it in {} of three melanoma seeds and in {} for seborrheic keratosis",
        AL,
        lambda d: tuple(_WORDS[get(d, f"{t}/random/labels_to_99pct_full/n_reached")] for t in (_MEL, _SK)),
    ),
]


P000 = "paper000.json"
_METRICS = ("accuracy", "auc", "ap", "sensitivity", "specificity")
_FIVE = " / ".join(["{:.3f}"] * 5)


def _table1(row: str, p_digits: tuple[int, int]) -> Quote:
    """A row of the Table 1 comparison: ours at the target fraction, the paper's, ALC and p, per task."""
    cells = []
    for digits in p_digits:
        cells.append(f"{_FIVE} | {_FIVE} | " + ("— | —" if row in ("full_data", "random") else ""))
        if row == "random":
            cells[-1] = f"{_FIVE} | {_FIVE} | {{:.3f}} | —"
        elif row != "full_data":
            cells[-1] += f"{{:.3f}} | {{:.{digits}f}}"

    def values(d: dict) -> tuple:
        out: list = []
        for task in ("melanoma", "seborrheic_keratosis"):
            r = d["results"][f"isic2017_{task}"][row]
            ours = [(r if row == "full_data" else r["at_target"])[m]["mean"] for m in _METRICS]
            out += [*ours, *d["paper_table1"][task][row]]
            if row != "full_data":
                out.append(r["alc"]["mean"])
            if row not in ("full_data", "random"):
                out.append(r["vs_random"]["points_test"]["p_wilcoxon"])
        return tuple(out)

    return Quote(REPRO, " | ".join(cells) + " |", P000, values)


def _curve(task: str, row: str) -> Callable[[dict], tuple]:
    return lambda d: tuple(c["auc"]["mean"] for c in d["results"][f"isic2017_{task}"][row]["curve"])


def _ablation(name: str) -> Callable[[dict], tuple]:
    def values(d: dict) -> tuple:
        r = d["ablations"]["melanoma"].get(name) or d["results"]["isic2017_melanoma"][name]
        return r["alc"]["mean"], r["alc"]["se"], r["curve"][-1]["auc"]["mean"]

    return values


_ROWS = {"random": "random", "sa": "SA", "sa_mixup": "SA + mix-up", "sa_as": "SA + AS"}
QUOTES += [
    _table1("full_data", (2, 3)),
    _table1("random", (2, 3)),
    _table1("sa", (2, 3)),
    _table1("sa_mixup", (2, 2)),
    _table1("sa_as", (2, 3)),
    *[
        Quote(REPRO, f"| {n} | {name} | " + " | ".join(["{:.3f}"] * 5) + " |", P000, _curve(task, row))
        for n, task in ((1, "melanoma"), (2, "seborrheic_keratosis"))
        for row, name in _ROWS.items()
    ],
    *[
        Quote(REPRO, f"{label}: {{:.3f}} ± {{:.3f}}, {{:.3f}}", P000, _ablation(name))
        for label, name in (
            ("gamma 0.3", "sa_gamma0.3"),
            ("gamma 0.5", "sa_gamma0.5"),
            ("gamma 0.7", "sa"),
            ("gamma 0.9", "sa_gamma0.9"),
            ("AS `different`", "sa_as"),
            ("AS `replicate`", "sa_as_replicate"),
        )
    ],
]


def _minutes(d: dict) -> float:
    rows = [
        *d["results"]["isic2017_melanoma"].values(),
        *d["results"]["isic2017_seborrheic_keratosis"].values(),
    ]
    return sum(r.get("compute_minutes", 0) for r in [*rows, *d["ablations"]["melanoma"].values()])


def _per_seed_minutes(*rows: str) -> Callable[[dict], tuple]:
    def spread_(d: dict) -> tuple:
        tasks = d["results"].values()
        values = [t[r]["compute_minutes"] / len(d["seeds"]) for t in tasks for r in rows]
        return min(values), max(values)

    return spread_


def _stops(d: dict) -> tuple:
    """Stopping fractions: the range over every row and seed but one, and that one's row."""
    stops = [
        (f, row)
        for t in d["results"].values()
        for row, r in t.items()
        if row != "full_data"
        for f in r["stopping_rule_fraction"].values()
    ]
    top = max(f for f, _ in stops)
    late = [row for f, row in stops if f == top]
    rest = [f for f, _ in stops if f < top]
    return (
        100 * min(rest),
        100 * max(rest),
        {"sa_as": "SA + AS"}[late[0]] if len(late) == 1 else late,
        100 * top,
    )


def _share_of_full(task: str, row: str, at: int) -> Callable[[dict], tuple]:
    def share(d: dict) -> tuple:
        t = d["results"][f"isic2017_{task}"]
        auc, full = t[row]["curve"][at]["auc"]["mean"], t["full_data"]["auc"]["mean"]
        return auc, 100 * auc / full

    return share


QUOTES += [
    Quote(REPRO, "about 8 core-hours in all ({:.0f} minutes of training and selection", P000, _minutes),
    Quote(REPRO, "an SA run {:.0f}-{:.0f} min per seed on 1 thread", P000, _per_seed_minutes("sa")),
    Quote(
        REPRO, "SA + mix-up or SA + AS run {:.0f}-{:.0f} min", P000, _per_seed_minutes("sa_mixup", "sa_as")
    ),
    Quote(
        REPRO, "would stop every row at {:.0f}-{:.0f} % of the labels (one {} seed at {:.0f} %)", P000, _stops
    ),
    Quote(REPRO, "50 % {:.3f} = {:.1f} % of 0.803", P000, _share_of_full("melanoma", "sa_as", 4)),
    Quote(
        REPRO,
        "mean AUC at 40 % is {:.3f} = {:.1f} %",
        P000,
        _share_of_full("seborrheic_keratosis", "sa_as", 3),
    ),
    Quote(
        REPRO,
        "SA + AS is at {:.3f} = {:.1f} %, the best row",
        P000,
        _share_of_full("seborrheic_keratosis", "sa_as", 4),
    ),
    Quote(
        REPRO,
        "(0.886 vs 0.873, p = 0.003; +{:.3f} AUC at 40 %",
        P000,
        lambda d: (
            get(d, "results/isic2017_seborrheic_keratosis/sa/curve/3/auc/mean")
            - get(d, "results/isic2017_seborrheic_keratosis/random/curve/3/auc/mean")
        ),
    ),
]


# --------------------------------------------------------------------------- the fast path
def _seed_curves(task: str, row: str) -> dict[int, list[float]]:
    """Per seed, test AUC per round, from the row's results.json."""
    runs = load(f"paper000/{task}/{row}/results.json")["runs"]
    return {r["seed"]: [x["metrics"]["auc"] for x in r["rounds"]] for r in runs}


def _spread_task1(d: dict) -> tuple:
    curves = [
        c for row in ("random", "sa", "sa_mixup", "sa_as") for c in _seed_curves("melanoma", row).values()
    ]
    random = _seed_curves("melanoma", "random").values()
    first, last = [c[0] for c in curves], [c[-1] for c in curves]
    return min(first), max(first), min(c[0] for c in random), max(c[0] for c in random), min(last), max(last)


QUOTES += [
    Quote(
        REPRO,
        "ranges from {:.2f} to {:.2f} ({:.2f}-{:.2f} for the random row), and the 50 % AUC from {:.2f} to"
        " {:.2f}",
        P000,
        _spread_task1,
    ),
    Quote(
        REPRO,
        "gave the same round-0 AUC for seed 0 (SA {:.3f}, random {:.3f})",
        P000,
        lambda d: (_seed_curves("melanoma", "sa")[0][0], _seed_curves("melanoma", "random")[0][0]),
    ),
    Quote(
        REPRO,
        "one seed of three reaches {:.3f}, at 30 %",
        P000,
        lambda d: max(c[2] for c in _seed_curves("melanoma", "sa_as").values()),
    ),
    Quote(
        REPRO,
        "every seed first crosses {:.3f} by {:.0f} % of the labels on average",
        P000,
        lambda d: (
            (r := d["results"]["isic2017_seborrheic_keratosis"]["sa_as"]["labels_to_99pct_full"])["target"],
            100 * r["mean"] / 2000,
        ),
    ),
    Quote(
        REPRO,
        "seed 0 dips from {:.3f} at 30 % to {:.3f} at 40 %",
        P000,
        lambda d: tuple(_seed_curves("seborrheic_keratosis", "sa_as")[0][2:4]),
    ),
]


def _at(task: str, row: str, fraction_index: int) -> Callable[[dict], float]:
    return lambda d: d["results"][f"isic2017_{task}"][row]["curve"][fraction_index]["auc"]["mean"]


def _alc(task: str, row: str) -> Callable[[dict], float]:
    return lambda d: d["results"][f"isic2017_{task}"][row]["alc"]["mean"]


def _p(task: str, row: str) -> Callable[[dict], float]:
    return lambda d: d["results"][f"isic2017_{task}"][row]["vs_random"]["points_test"]["p_wilcoxon"]


_T2, _T1 = "seborrheic_keratosis", "melanoma"
QUOTES += [
    Quote(
        REPRO,
        "**met on task 2** ({:.3f} vs {:.3f}, p = {:.3f};",
        P000,
        lambda d: (_alc(_T2, "sa")(d), _alc(_T2, "random")(d), _p(_T2, "sa")(d)),
    ),
    Quote(
        REPRO,
        "**On task 1 only in the mean** ({:.3f} vs {:.3f}, p = {:.2f}), and SA is below random at 50 %"
        " ({:.3f} vs {:.3f})",
        P000,
        lambda d: (
            _alc(_T1, "sa")(d),
            _alc(_T1, "random")(d),
            _p(_T1, "sa")(d),
            _at(_T1, "sa", 4)(d),
            _at(_T1, "random", 4)(d),
        ),
    ),
    Quote(
        REPRO,
        "SA + AS equals SA at 50 % on task 1 ({:.3f} vs {:.3f}) and at 40 % on task 2 ({:.3f} vs {:.3f})",
        P000,
        lambda d: (
            _at(_T1, "sa_as", 4)(d),
            _at(_T1, "sa", 4)(d),
            _at(_T2, "sa_as", 3)(d),
            _at(_T2, "sa", 3)(d),
        ),
    ),
    Quote(
        REPRO,
        "Our full-data line is itself lower ({:.3f} vs {:.3f} on task 1; {:.3f} vs {:.3f} on task 2",
        P000,
        lambda d: (
            d["results"]["isic2017_melanoma"]["full_data"]["auc"]["mean"],
            d["paper_table1"]["melanoma"]["full_data"][1],
            d["results"]["isic2017_seborrheic_keratosis"]["full_data"]["auc"]["mean"],
            d["paper_table1"]["seborrheic_keratosis"]["full_data"][1],
        ),
    ),
    Quote(
        REPRO,
        "(task 2: ACC {:.3f}, SP {:.3f} against SA's {:.3f} / {:.3f})",
        P000,
        lambda d: tuple(
            d["results"]["isic2017_seborrheic_keratosis"][row]["at_target"][m]["mean"]
            for row in ("sa_mixup", "sa")
            for m in ("accuracy", "specificity")
        ),
    ),
]


@pytest.mark.parametrize("quote", QUOTES, ids=ids(QUOTES))
def test_quoted_figure_is_the_results_file_value(quote: Quote) -> None:
    check(quote)
