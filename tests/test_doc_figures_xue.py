"""reproduction.md's Xue et al. 2019 and label-audit figures, read from their results files (the table's
columns: tests/doc_figures.py)."""

from __future__ import annotations

import statistics
from collections.abc import Callable

import pytest

from doc_figures import Quote, check, get, ids

REPRO = "docs/reproduction.md"

P002 = "paper002.json"
_NOISE = ("0.0", "0.05", "0.1", "0.2", "0.4")
_LOSSES = ("ce", "forward", "ousm", "ousm_loop")


def _noise_row(rate: str) -> Callable[[dict], tuple]:
    def row(d: dict) -> tuple:
        r = d["results"]["isic2017_melanoma"][rate]
        out = [
            v
            for metric in ("acc", "auc")
            for loss in _LOSSES
            for v in (r[loss][metric]["mean"], r[loss][metric]["se"])
        ]
        i = _NOISE.index(rate)
        paper = [
            100 * d["paper_table1"][m][i]
            for m in _LOSSES
            if m in d["paper_table1"] and d["paper_table1"][m][i]
        ]
        return (*out, *paper)

    return row


def _units(rate: str, loss: str) -> Callable[[dict], list[dict]]:
    """paper002.partial.json's per-seed units of one (noise rate, loss)."""
    return lambda d: [d[f"{rate}/{loss}/{seed}"] for seed in (0, 1, 2)]


_CELLS = " | ".join(["{:.3f} ± {:.3f}"] * 8)
QUOTES: list[Quote] = [
    Quote(REPRO, f"| 0 % | {_CELLS} | {{:.1f}} / – / – |", P002, _noise_row("0.0")),
    *[
        Quote(REPRO, f"| {label} | {_CELLS} | {{:.1f}} / {{:.1f}} / {{:.1f}} |", P002, _noise_row(rate))
        for label, rate in (("5 %", "0.05"), ("10 %", "0.1"), ("20 %", "0.2"), ("40 %", "0.4"))
    ],
    Quote(
        REPRO,
        "OUSM's AUC is {:.2f}-{:.2f} at every noise rate ({:.3f} at 40 %), {:.2f} below CE at 0 %",
        P002,
        lambda d: (
            min(aucs := [d["results"]["isic2017_melanoma"][r]["ousm"]["auc"]["mean"] for r in _NOISE]),
            max(aucs),
            aucs[-1],
            d["results"]["isic2017_melanoma"]["0.0"]["ce"]["auc"]["mean"] - aucs[0],
        ),
    ),
    Quote(
        REPRO,
        "(0.800-0.807 in all six fits)",
        "paper002.partial.json",
        lambda d: (
            min(a := [u["accuracy"] for r in ("0.0", "0.05") for u in _units(r, "ousm")(d)]),
            max(a),
        ),
        "({:.3f}-{:.3f}",
    ),
    Quote(
        REPRO,
        "an early one (1 to 6 in 13 of 15 fits)",
        "paper002.partial.json",
        lambda d: (
            sum(1 <= u["best_epoch"] <= 6 for r in _NOISE for u in _units(r, "ousm")(d)),
            sum(1 for r in _NOISE for _ in _units(r, "ousm")(d)),
        ),
        "in {} of {} fits",
    ),
    Quote(
        REPRO,
        "At 40 % the seeds scatter ({:.3f} at epoch {}, {:.3f}, {:.3f}), hence ± {:.3f}",
        "paper002.partial.json",
        lambda d: (
            (u := _units("0.4", "ousm")(d))[0]["accuracy"],
            u[0]["best_epoch"],
            u[1]["accuracy"],
            u[2]["accuracy"],
            statistics.stdev(x["accuracy"] for x in u) / 3**0.5,
        ),
    ),
    Quote(
        REPRO,
        "10 %; {:.3f} against {:.3f} at 0 %, {:.3f} against {:.3f} at 40 %)",
        P002,
        lambda d: tuple(
            d["results"]["isic2017_melanoma"][r][m]["auc"]["mean"]
            for r in ("0.0", "0.4")
            for m in ("ousm_loop", "ousm")
        ),
    ),
    Quote(
        REPRO,
        "Validation AUC: {:.4f}, {:.4f}, {:.4f}, {:.4f};",
        P002,
        lambda d: tuple(d["ousm_fraction"]["val_score_by_k"].values()),
    ),
    Quote(REPRO, "the 60 units took {:.0f} minutes of training in all", P002, "unit_minutes_total"),
]


# --------------------------------------------------------------------------- the label audit
AUDIT = "label_audit.json"


def _pk(name: str) -> Callable[[dict], tuple]:
    return lambda d: tuple(
        get(d, f"results/{name}/{m}/precision_at_k/mean") for m in ("lesionlab", "cleanlab")
    )


def _wrong(run: str) -> Callable[[dict], list[int]]:
    """Wrong labels held after the last purchase, per seed (the last round buys nothing)."""
    return lambda d: [
        next(x for x in reversed(w) if x is not None) for w in d["noisy_oracle"][run]["wrong_labels_per_seed"]
    ]


QUOTES += [
    Quote(REPRO, "on ranked_0.2 ({:.3f} vs {:.3f})", AUDIT, _pk("ranked_0.2")),
    Quote(REPRO, "uniform ({:.3f} vs {:.3f})", AUDIT, _pk("uniform_0.2")),
    Quote(REPRO, "loses on ranked_0.4 ({:.3f} vs {:.3f})", AUDIT, _pk("ranked_0.4")),
    Quote(
        REPRO,
        "on both network-ranked sets ({:.3f} vs {:.3f}, {:.3f} vs {:.3f})",
        AUDIT,
        lambda d: (*_pk("ranked_net_0.2")(d), *_pk("ranked_net_0.4")(d)),
    ),
    Quote(
        REPRO,
        "halves the wrong labels held ({:.1f} -> {:.1f} on average at 1,000 labels paid;"
        " per seed {}, {}, {} -> {}, {}, {})",
        AUDIT,
        lambda d: (
            statistics.mean(_wrong("without_audit")(d)),
            statistics.mean(_wrong("with_audit")(d)),
            *_wrong("without_audit")(d),
            *_wrong("with_audit")(d),
        ),
    ),
    Quote(
        REPRO,
        "ALC {:.3f} ± {:.3f} with, {:.3f} ± {:.3f} without",
        AUDIT,
        lambda d: tuple(
            d["noisy_oracle"][r]["alc"][k] for r in ("with_audit", "without_audit") for k in ("mean", "se")
        ),
    ),
    Quote(
        REPRO,
        "(CPU budget: 6 runs took {:.0f} min on one busy thread)",
        AUDIT,
        lambda d: d["noisy_oracle"]["wall_seconds"] / 60,
    ),
]


def _loop(dim: str, n: str) -> Callable[[dict], tuple]:
    def cell(d: dict) -> tuple:
        c = d["loop_speed_by_dim"][dim][n]
        return c["speedup_vs_pynomaly"], c["lesionlab_seconds"], c["pynomaly_seconds"]

    return cell


def _oracle_p(d: dict) -> float:
    """Paired Wilcoxon of test AUC with and without the audit over the (seed, round) points."""
    from scipy.stats import wilcoxon

    auc = {(r["strategy"], r["seed"]): [x["metrics"]["auc"] for x in r["rounds"]] for r in d["runs"]}
    seeds = sorted({seed for _, seed in auc})
    with_audit = [v for s in seeds for v in auc[("random+audit", s)]]
    without = [v for s in seeds for v in auc[("random", s)]]
    return float(wilcoxon(without, with_audit).pvalue)


QUOTES += [
    Quote(REPRO, "d = 64: {:.1f}x PyNomaly at N = 1,000 ({:.3f} s vs {:.2f} s)", AUDIT, _loop("64", "1000")),
    Quote(REPRO, "{:.1f}x at 5,000 ({:.2f} s vs {:.1f} s)", AUDIT, _loop("64", "5000")),
    Quote(REPRO, "{:.1f}x at 20,000 ({:.1f} s vs {:.0f} s)", AUDIT, _loop("64", "20000")),
    Quote(REPRO, "d = 1,280: {:.1f}x at 1,000 ({:.2f} s vs {:.2f} s)", AUDIT, _loop("1280", "1000")),
    Quote(REPRO, "{:.1f}x at 5,000 ({:.1f} s vs {:.0f} s)", AUDIT, _loop("1280", "5000")),
    Quote(
        REPRO,
        "at 20,000 lesionlab takes {:.1f} s and PyNomaly was not run ({};",
        AUDIT,
        lambda d: (
            (c := d["loop_speed_by_dim"]["1280"]["20000"])["lesionlab_seconds"],
            c["pynomaly_skipped"].split(" > ")[0],
        ),
    ),
    Quote(
        REPRO, "label_audit.py's earlier run measured {:,.0f} s", AUDIT, "loop_speed/20000/pynomaly_seconds"
    ),
    Quote(
        REPRO,
        "Scores equal to {:.1e} everywhere",
        AUDIT,
        lambda d: max(
            c["max_abs_diff"]
            for cells in d["loop_speed_by_dim"].values()
            for c in cells.values()
            if c.get("max_abs_diff")
        ),
    ),
    Quote(
        REPRO,
        "(paired Wilcoxon over 15 points p = {:.2f})",
        "label_audit/noisy_oracle/results.json",
        _oracle_p,
    ),
]


def _acc002(rate: str, loss: str) -> Callable[[dict], float]:
    return lambda d: d["results"]["isic2017_melanoma"][rate][loss]["acc"]["mean"]


QUOTES += [
    Quote(
        REPRO,
        "At 20 % OUSM + LoOP trails plain CE by {:.3f} and OUSM by {:.3f} in accuracy; at 40 % by"
        " {:.3f} and {:.3f},"
        " and it recovers none of the {:.3f} that plain CE loses against 0 %",
        P002,
        lambda d: (
            _acc002("0.2", "ce")(d) - _acc002("0.2", "ousm_loop")(d),
            _acc002("0.2", "ousm")(d) - _acc002("0.2", "ousm_loop")(d),
            _acc002("0.4", "ce")(d) - _acc002("0.4", "ousm_loop")(d),
            _acc002("0.4", "ousm")(d) - _acc002("0.4", "ousm_loop")(d),
            _acc002("0.0", "ce")(d) - _acc002("0.4", "ce")(d),
        ),
    ),
]


def _loop_vs_ce(d: dict) -> tuple:
    r = d["results"]["isic2017_melanoma"]
    gaps = {rate: r[rate]["ce"]["auc"]["mean"] - r[rate]["ousm_loop"]["auc"]["mean"] for rate in _NOISE}
    below = [g for g in gaps.values() if g > 0]
    return max(below), min(below), max(below), -gaps["0.1"]


QUOTES += [
    Quote(
        REPRO,
        "It brings OUSM's AUC back to within {:.3f} of CE at every rate ({:.3f}-{:.3f} below it, {:.3f}"
        " above at 10 %;",
        P002,
        _loop_vs_ce,
    ),
]


@pytest.mark.parametrize("quote", QUOTES, ids=ids(QUOTES))
def test_quoted_figure_is_the_results_file_value(quote: Quote) -> None:
    check(quote)
