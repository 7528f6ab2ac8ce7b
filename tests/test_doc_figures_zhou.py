"""reproduction.md's Zhou et al. 2021 figures, read from their results files (the table's columns:
tests/doc_figures.py)."""

from __future__ import annotations

import statistics
from collections.abc import Callable

import pytest

from doc_figures import Quote, check, get, ids, load, ms, values_at

REPRO = "docs/reproduction.md"

QUOTES: list[Quote] = []
# --------------------------------------------------------------------------- Zhou et al. 2021
P004 = "paper004.json"
_ROWS004 = "results/isic2017_melanoma"


def _acft(row: str, p_digits: int | None) -> Callable[[dict], tuple]:
    """A row of the main table: ALC, AUC at 100, gain, vs RFT (difference and p), CPU s, images."""

    def values(d: dict) -> tuple:
        r = get(d, f"{_ROWS004}/{row}")
        out = [r["alc"]["mean"], r["alc"]["se"], r["first_round"]["mean"], r["first_round"]["se"]]
        out += [r["gain_to_last_round"]["mean"], r["gain_to_last_round"]["se"]]
        if p_digits is not None:
            test = r["vs_rft"]["points_test"]
            p = test["p_wilcoxon"]
            out += [test["mean_difference"], "< 0.001" if p < 0.001 else f"{p:.{p_digits}f}"]
        spr = r["seconds_per_round"]
        return (*out, spr["train_cpu"]["mean"], spr["train_cpu"]["se"], spr["images_trained_on"]["mean"])

    return values


_MAIN = "{:.3f} ± {:.3f} | {:.3f} ± {:.3f} | {:+.3f} ± {:.3f} | {:+.3f} ({}) | {:.1f} ± {:.1f} | {:.0f} |"


def _ablation004(*rows: str) -> Callable[[dict], tuple]:
    def values(d: dict) -> tuple:
        out: list = []
        for row in rows:
            r = get(d, f"{_ROWS004}/{row}")
            out += [
                r["alc"]["mean"],
                r["alc"]["se"],
                r["first_round"]["mean"],
                r["gain_to_last_round"]["mean"],
            ]
        return tuple(out)

    return values


def _shares(*strategies: str) -> Callable[[dict], tuple]:
    """Range of the melanoma share of batches 2-3 over the rows of those selection strategies."""

    def values(d: dict) -> tuple:
        shares = [
            100 * x
            for r in get(d, _ROWS004).values()
            if r.get("strategy") in strategies
            for x in r["positive_share_selected"][1:3]
        ]
        return min(shares), max(shares)

    return values


_CELL = "{:.3f} ± {:.3f} ({:.3f}; {:+.3f})"
QUOTES += [
    Quote(
        REPRO,
        "| RFT | {:.3f} ± {:.3f} | {:.3f} ± {:.3f} | {:+.3f} ± {:.3f} | — | {:.1f} ± {:.1f} | {:.0f} |",
        P004,
        _acft("rft", None),
    ),
    Quote(
        REPRO,
        "| AFT(LQ), entropy + maj + rand | " + _MAIN.replace("{:.3f} ± {:.3f} |", "**{:.3f} ± {:.3f}** |", 1),
        P004,
        _acft("aft_lq", 3),
    ),
    Quote(REPRO, "| ACFT(LQ), entropy + maj + rand | " + _MAIN, P004, _acft("acft_lq", 2)),
    Quote(REPRO, "| ACFT(HQ), entropy + maj + rand | " + _MAIN, P004, _acft("acft_hq", 2)),
    Quote(REPRO, "| ACFT(HQ), diversity + maj + rand | " + _MAIN, P004, _acft("acft_hq_diversity", 2)),
    Quote(REPRO, "| ACFT(Q), entropy + maj + rand | " + _MAIN, P004, _acft("acft_q", 2)),
    Quote(REPRO, "| ACFT(HQ) at AFT's rate (`acft_hq_lr1`) | " + _MAIN, P004, _acft("acft_hq_lr1", 3)),
    Quote(
        REPRO,
        "| entropy | **" + _CELL.replace(" (", "** (", 1) + " | " + " | ".join([_CELL] * 3) + " |",
        P004,
        _ablation004(
            "acft_hq_entropy_nomaj_norand",
            "acft_hq_entropy_maj_norand",
            "acft_hq_entropy_nomaj_rand",
            "acft_hq",
        ),
    ),
    Quote(
        REPRO,
        "| diversity | " + " | ".join([_CELL] * 4) + " |",
        P004,
        _ablation004(
            "acft_hq_diversity_nomaj_norand",
            "acft_hq_diversity_maj_norand",
            "acft_hq_diversity_nomaj_rand",
            "acft_hq_diversity",
        ),
    ),
    Quote(REPRO, "no randomness), ACFT(HQ): " + _CELL, P004, _ablation004("aift_hq")),
    Quote(
        REPRO,
        "every entropy row picks {:.0f}-{:.0f} % melanomas in batches 2-3 against RFT's {:.0f}-{:.0f} %",
        P004,
        lambda d: (*_shares("acft_entropy")(d), *_shares("random")(d)),
    ),
    Quote(REPRO, "the diversity and AIFT rows pick {:.0f}-{:.0f} %", P004, _shares("acft_diversity", "aift")),
    Quote(
        REPRO,
        "Full data under the same training: AUC {:.3f} ± {:.3f}, so 99 % of it is {:.3f}",
        P004,
        lambda d: (
            *values_at(d, ms(f"{_ROWS004}/full_data/auc")),
            get(d, f"{_ROWS004}/rft/labels_to_99pct_full/target"),
        ),
    ),
    Quote(
        REPRO,
        "(its mean AUC at 1000 labels is {:.3f}; no seed's curve passes",
        P004,
        f"{_ROWS004}/rft/curve/9/auc/mean",
    ),
    Quote(
        REPRO,
        "It reaches 99 % of full data in {} of 3 seeds (at {:.0f} and {:.0f} labels), and reaches RFT's mean"
        " final AUC ({:.3f}) with {:.0f} % fewer labels",
        P004,
        lambda d: (
            (r := get(d, f"{_ROWS004}/aft_lq"))["labels_to_99pct_full"]["n_reached"],
            r["labels_to_99pct_full"]["per_seed"]["0"],
            r["labels_to_99pct_full"]["per_seed"]["2"],
            r["saving_vs_rft"]["target"],
            100 * r["saving_vs_rft"]["value"],
        ),
    ),
    Quote(
        REPRO,
        "ACFT(HQ) trains {:.1f} times faster ({:.1f} vs {:.1f} CPU s per round; {:.0f} vs {:.0f} images)",
        P004,
        lambda d: (
            (a := get(d, f"{_ROWS004}/aft_lq/seconds_per_round"))["train_cpu"]["mean"]
            / (h := get(d, f"{_ROWS004}/acft_hq/seconds_per_round"))["train_cpu"]["mean"],
            h["train_cpu"]["mean"],
            a["train_cpu"]["mean"],
            h["images_trained_on"]["mean"],
            a["images_trained_on"]["mean"],
        ),
    ),
    Quote(
        REPRO,
        "but its ALC is {:.3f} lower, against standard errors of {:.3f} and {:.3f}",
        P004,
        lambda d: (
            get(d, f"{_ROWS004}/aft_lq/alc/mean") - get(d, f"{_ROWS004}/acft_hq/alc/mean"),
            get(d, f"{_ROWS004}/acft_hq/alc/se"),
            get(d, f"{_ROWS004}/aft_lq/alc/se"),
        ),
    ),
    Quote(
        REPRO,
        "reaches ALC {:.3f} ± {:.3f}, {:.3f} above the tenth; it stays {:.3f} below AFT(LQ) and {:.3f}"
        " below RFT in ALC",
        P004,
        lambda d: (
            (lr1 := get(d, f"{_ROWS004}/acft_hq_lr1/alc"))["mean"],
            lr1["se"],
            lr1["mean"] - get(d, f"{_ROWS004}/acft_hq/alc/mean"),
            get(d, f"{_ROWS004}/aft_lq/alc/mean") - lr1["mean"],
            get(d, f"{_ROWS004}/rft/alc/mean") - lr1["mean"],
        ),
    ),
]


def _cpu_per_round(row: str) -> float:
    """Training plus selection CPU seconds per round, over every round of the 3 seeds' runs."""
    per_round = [
        (r.get("train_cpu_seconds") or 0) + (r.get("selection_cpu_seconds") or 0)
        for seed in (0, 1, 2)
        for r in load(f"paper004/melanoma/{row}/seed{seed}/results.json")["runs"][0]["rounds"]
    ]
    return statistics.mean(per_round)


QUOTES += [
    Quote(
        REPRO,
        "{:.1f} times counting the selection both pay ({:.0f} vs {:.0f} CPU s per round",
        P004,
        lambda d: (
            _cpu_per_round("aft_lq") / _cpu_per_round("acft_hq"),
            _cpu_per_round("acft_hq"),
            _cpu_per_round("aft_lq"),
        ),
    ),
]


def _seed_auc(row: str) -> dict[int, list[float]]:
    """Per seed, test AUC per round, from the row's results.json."""
    return {
        seed: [
            r["metrics"]["auc"]
            for r in load(f"paper004/melanoma/{row}/seed{seed}/results.json")["runs"][0]["rounds"]
        ]
        for seed in (0, 1, 2)
    }


def _above_rft(d: dict) -> tuple:
    aft, rft = _seed_auc("aft_lq"), _seed_auc("rft")
    above = sum(a > b for s in aft for a, b in zip(aft[s], rft[s], strict=True))
    test = get(d, f"{_ROWS004}/aft_lq/vs_rft")
    return (
        above,
        test["points_test"]["mean_difference"],
        test["points_test"]["p_wilcoxon"],
        test["seeds_test"]["p_wilcoxon"],
    )


def _table4(*rows: str) -> Callable[[dict], tuple]:
    return lambda d: tuple(get(d, f"{_ROWS004}/{r}/first_round/mean") for r in rows)


QUOTES += [
    Quote(
        REPRO,
        "is above RFT at {} of the 30 paired points ({:+.3f} AUC on average; optimistic p {:.3f}, over"
        " seeds p {})",
        P004,
        _above_rft,
    ),
    Quote(
        REPRO,
        "no seed's curve passes {:.3f})",
        P004,
        lambda d: max(max(c) for c in _seed_auc("rft").values()),
    ),
    Quote(
        REPRO,
        "without randomness the untrained head's top-100 picks reach {:.3f} and {:.3f} after the first"
        " fit, with it"
        " {:.3f} and {:.3f}",
        P004,
        _table4(
            "acft_hq_entropy_nomaj_norand",
            "acft_hq_entropy_maj_norand",
            "acft_hq_entropy_nomaj_rand",
            "acft_hq",
        ),
    ),
    Quote(
        REPRO,
        "the gains from there are alike ({:+.3f} to {:+.3f})",
        P004,
        lambda d: (
            min(
                g := [
                    get(d, f"{_ROWS004}/{r}/gain_to_last_round/mean")
                    for r in (
                        "acft_hq_entropy_nomaj_norand",
                        "acft_hq_entropy_maj_norand",
                        "acft_hq_entropy_nomaj_rand",
                        "acft_hq",
                    )
                ]
            ),
            max(g),
        ),
    ),
    Quote(
        REPRO,
        "the +maj +rand cell starts lowest ({:.3f}) but gains most ({:+.3f})",
        P004,
        lambda d: (
            get(d, f"{_ROWS004}/acft_hq_diversity/first_round/mean"),
            get(d, f"{_ROWS004}/acft_hq_diversity/gain_to_last_round/mean"),
        ),
    ),
]


def _gain(row: str) -> Callable[[dict], float]:
    return lambda d: get(d, f"{_ROWS004}/{row}/gain_to_last_round/mean")


def _paper_t4(d: dict) -> tuple:
    t = d["paper_table4_entropy_majority_randomness"]
    order = ("acft_q", "acft_lq", "aft_lq", "acft_hq", "rft")
    return tuple(t[app][row] for app in ("colonoscopy", "polyp", "pulmonary_embolism") for row in order)


QUOTES += [
    Quote(
        REPRO,
        "The entropy + majority + randomness rows all start from AUC {:.3f} at 100 labels; from there"
        " ACFT(HQ) adds {:+.3f} over the next 900 labels where AFT(LQ) adds {:+.3f} and RFT {:+.3f}",
        P004,
        lambda d: (
            get(d, f"{_ROWS004}/acft_hq/first_round/mean"),
            *(_gain(r)(d) for r in ("acft_hq", "aft_lq", "rft")),
        ),
    ),
    Quote(
        REPRO,
        "ACFT(LQ) (continued model, all labels) adds {:+.3f}, ACFT(Q) (new batch only) {:+.3f}",
        P004,
        lambda d: (_gain("acft_lq")(d), _gain("acft_q")(d)),
    ),
    Quote(REPRO, "ACFT(HQ) adds {:+.3f} and reaches ALC", P004, lambda d: _gain("acft_hq_lr1")(d)),
    Quote(
        REPRO,
        "its curve swings (seed 0: {:.3f}, {:.3f}, {:.3f}, {:.3f}, {:.3f} at 500-900 labels)",
        P004,
        lambda d: tuple(_seed_auc("acft_hq_lr1")[0][4:9]),
    ),
    Quote(
        REPRO,
        "colonoscopy ACFT(Q) {:.3f}, ACFT(LQ) {:.3f}, AFT(LQ) {:.3f}, ACFT(HQ) {:.3f}, RFT {:.3f}; polyp"
        " {:.3f}, {:.3f}, {:.3f}, {:.3f}, {:.3f}; pulmonary embolism {:.3f}, {:.3f}, {:.3f}, {:.3f}, {:.3f}.",
        P004,
        _paper_t4,
    ),
]


@pytest.mark.parametrize("quote", QUOTES, ids=ids(QUOTES))
def test_quoted_figure_is_the_results_file_value(quote: Quote) -> None:
    check(quote)
