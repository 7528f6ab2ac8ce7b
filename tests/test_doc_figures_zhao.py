"""reproduction.md's Zhao et al. 2022 figures, read from their results files (the table's columns:
tests/doc_figures.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from doc_figures import Quote, check, ids, ms, values_at

REPRO = "docs/reproduction.md"

QUOTES: list[Quote] = []
# --------------------------------------------------------------------------- Zhao et al. 2022
P001 = "paper001.json"
_T1 = ("random", "ssl_kmeans", "random_ssl_weights", "ssl_kmeans_ssl_weights")


def _dice_at(curve: list[dict], labels: int, metric: str = "dice") -> dict:
    return next(c[metric] for c in curve if c["n_labeled"] == labels)


def _table1(labels: int) -> Callable[[dict], tuple]:
    def values(d: dict) -> tuple:
        cells = [_dice_at(d["results"]["table1_curves"][row]["curve"], labels) for row in _T1]
        return tuple(v for c in cells for v in (c["mean"], c["se"]))

    return values


def _fig2(name: str) -> Callable[[dict], tuple]:
    def values(d: dict) -> tuple:
        c = d["results"]["curves"][name]
        out = [*values_at(_dice_at(c["curve"], 615), ("mean", "se")), c["alc"]["mean"], c["alc"]["se"]]
        out += [
            c["alc_jaccard"]["mean"],
            c["alc_jaccard"]["se"],
            c["jaccard_at_30pct"]["mean"],
            c["jaccard_at_30pct"]["se"],
        ]
        if name != "random":
            diff = c["vs_random"]["seeds"]
            out += [diff["mean_difference"], diff["p_ttest"]]
        return tuple(out)

    return values


_FIG2 = "| {:.3f} ± {:.3f} | {:.3f} ± {:.3f} | {:.3f} ± {:.3f} | {:.3f} ± {:.3f} |"
QUOTES += [
    *[
        Quote(
            REPRO,
            f"| {n} | " + " | ".join(f"{{:.3f}} ± {{:.3f}} ({paper})" for paper in papers) + " |",
            P001,
            _table1(n),
        )
        for n, papers in (
            (300, ("0.580", "0.744", "0.682", "0.732")),
            (370, ("0.657", "0.683", "0.576", "0.682")),
            (440, ("0.717", "0.743", "0.696", "0.763")),
            (510, ("0.687", "0.765", "0.725", "0.777")),
            (580, ("0.774", "0.797", "0.785", "0.803")),
        )
    ],
    Quote(
        REPRO,
        "Jaccard at 300 labels: {:.3f} ± {:.3f}, {:.3f} ± {:.3f}, {:.3f} ± {:.3f}, {:.3f} ± {:.3f}.",
        P001,
        lambda d: tuple(
            v for row in _T1 for v in values_at(d["results"]["base_set_300"][row]["jaccard"], ("mean", "se"))
        ),
    ),
    Quote(
        REPRO,
        "| {:.3f} ± {:.3f} (0.580) | {:.3f} ± {:.3f} (0.714) | {:.3f} ± {:.3f} (0.734) |"
        " {:.3f} ± {:.3f} (0.739) |"
        " {:.3f} ± {:.3f} (0.744) |",
        P001,
        lambda d: tuple(
            v
            for row in ("random", "k5_pool1", "k5_pool2", "k10_pool1", "ssl_kmeans")
            for v in values_at(d["results"]["base_set_300"][row]["dice"], ("mean", "se"))
        ),
    ),
    Quote(
        REPRO,
        "Test Dice **{:.3f} ± {:.3f}**, Jaccard **{:.3f} ± {:.3f}**",
        P001,
        lambda d: (
            *values_at(d, ms("results/full_data/dice")),
            *values_at(d, ms("results/full_data/jaccard")),
        ),
    ),
    Quote(REPRO, "| random " + _FIG2 + " |", P001, _fig2("random")),
    *[
        Quote(
            REPRO,
            f"| {label} " + _FIG2 + " {:+.3f} ({:.2f}) |".replace("{:+.3f}", "{:+.3f}"),
            P001,
            _fig2(name),
        )
        for label, name in (
            ("pixel entropy", "pixel_entropy"),
            ("MC dropout", "pixel_mc_dropout"),
            ("ens-JS", "pixel_ens_js"),
            ("CEAL", "ceal"),
            ("confident coreset (alpha 0.5)", "confident_coreset"),
            ("ssl_kmeans per round", "ssl_kmeans"),
        )
    ],
    Quote(
        REPRO,
        "{:.3f} ± {:.3f} at 475 labels (29.7 % of our 1600-image pool; Kim et al.'s 30 % is 600 of 2000)"
        " against"
        " {:.3f} ± {:.3f} with all 1600, {:.1f} points below",
        P001,
        lambda d: (
            (c := d["results"]["confident_coreset_jaccard_at_30pct"])["mean"],
            c["se"],
            *values_at(d, ms("results/full_data/jaccard")),
            100 * (d["results"]["full_data"]["jaccard"]["mean"] - c["mean"]),
        ),
    ),
    *[
        Quote(
            REPRO,
            f"| {label} " + _FIG2 + " −{:.3f} ({:.2f}) |",  # the doc's minus sign; a gain would not match
            P001,
            lambda d, name=name: (*_fig2(name)(d)[:-2], -_fig2(name)(d)[-2], _fig2(name)(d)[-1]),
        )
        for label, name in (("ens-S", "pixel_ens_s"), ("coreset", "coreset"))
    ],
    Quote(
        REPRO,
        "ssl_kmeans used per round has the largest area ({:.4f}), pixel entropy the second ({:.4f})",
        P001,
        lambda d: tuple(d["results"]["curves"][n]["alc"]["mean"] for n in ("ssl_kmeans", "pixel_entropy")),
    ),
]


QUOTES += [
    Quote(
        REPRO,
        "`paper001.json` at commit efd77eb) the order at the top was the reverse (pixel entropy {:.4f},"
        " ssl_kmeans {:.4f})",
        f"{P001}@efd77eb",
        lambda d: tuple(d["results"]["curves"][n]["alc"]["mean"] for n in ("pixel_entropy", "ssl_kmeans")),
    ),
]


def _warm_gap(cold: str, warm: str) -> Callable[[dict], dict[int, tuple[float, float, float, float]]]:
    """Per label count: cold minus warm Dice, the larger s.e., the warm and the cold means."""

    def gaps(d: dict) -> dict:
        t = d["results"]["table1_curves"]
        c = {x["n_labeled"]: x["dice"] for x in t[cold]["curve"]}
        w = {x["n_labeled"]: x["dice"] for x in t[warm]["curve"]}
        return {
            n: (c[n]["mean"] - w[n]["mean"], max(c[n]["se"], w[n]["se"]), w[n]["mean"], c[n]["mean"])
            for n in c
        }

    return gaps


def _warm_random(d: dict) -> tuple:
    g = _warm_gap("random", "random_ssl_weights")(d)
    return (
        min(g[n][0] for n in (440, 475, 510)),
        max(g[n][0] for n in (440, 475, 510)),
        g[475][0],
        g[475][1],
        g[545][2],
        g[580][2],
        g[545][3],
        g[580][3],
    )


def _warm_kmeans(d: dict) -> tuple:
    g = _warm_gap("ssl_kmeans", "ssl_kmeans_ssl_weights")(d)
    return g[475][0], g[475][1], g[510][0], g[545][0], g[580][0], g[580][2], g[580][3]


QUOTES += [
    Quote(
        REPRO,
        "With random selection the warm start is {:.3f}-{:.3f} below at 440-510 labels (rounds 4-6; {:.3f}"
        " at 475 against an s.e. of {:.3f}) and level by 545-580 ({:.3f} and {:.3f} against {:.3f} and"
        " {:.3f})",
        P001,
        _warm_random,
    ),
    Quote(
        REPRO,
        "with ssl_kmeans it is {:.3f} below at 475 (s.e. {:.3f}), {:.3f} at 510, {:.3f} at 545 and {:.3f}"
        " at 580 ({:.3f} vs {:.3f};",
        P001,
        _warm_kmeans,
    ),
]


def _curves(d: dict) -> dict:
    return d["results"]["curves"]


def _jac(d: dict, name: str, labels: int) -> float:
    return _dice_at(_curves(d)[name]["curve"], labels, "jaccard")["mean"]


def _gaps_to_full(d: dict) -> tuple:
    full = d["results"]["full_data"]["jaccard"]["mean"]
    at475 = [c["jaccard_at_30pct"]["mean"] for c in _curves(d).values()]
    last = [_jac(d, n, 615) for n in _curves(d)]
    return (
        100 * (full - max(at475)),
        100 * (full - min(at475)),
        100 * (full - max(last)),
        100 * (full - min(last)),
    )


QUOTES += [
    Quote(
        REPRO,
        "every area under the Dice curve lies between {:.3f} and {:.3f}",
        P001,
        lambda d: (min(a := [c["alc"]["mean"] for c in _curves(d).values()]), max(a)),
    ),
    Quote(
        REPRO,
        "optimistic since one seed's rounds are correlated: every p ≥ {:.2f})",
        P001,
        lambda d: min(
            c["vs_random"]["points"]["p_wilcoxon"] for c in _curves(d).values() if "vs_random" in c
        ),
    ),
    Quote(
        REPRO,
        "the best is pixel entropy's {:.3f} ({:.1f} below); random's is {:.3f}",
        P001,
        lambda d: (
            (e := _curves(d)["pixel_entropy"]["jaccard_at_30pct"]["mean"]),
            100 * (d["results"]["full_data"]["jaccard"]["mean"] - e),
            _curves(d)["random"]["jaccard_at_30pct"]["mean"],
        ),
    ),
    Quote(
        REPRO,
        "every criterion is {:.1f} to {:.1f} Jaccard points below full data, and full data is {:.1f} to"
        " {:.1f} points"
        " above every curve's last round",
        P001,
        _gaps_to_full,
    ),
    Quote(
        REPRO,
        "(CEAL: {:.3f} at 475, {:.3f} at 615; random: {:.3f} at 510, {:.3f} at 615)",
        P001,
        lambda d: (
            _jac(d, "ceal", 475),
            _jac(d, "ceal", 615),
            _jac(d, "random", 510),
            _jac(d, "random", 615),
        ),
    ),
    Quote(
        REPRO,
        "(67.04 / 69.2; here {:.3f}): confident coreset reaches it in seed {} only",
        P001,
        lambda d: (
            (r := _curves(d)["confident_coreset"]["paper003_reach"])["target_jaccard"],
            next(i for i, v in enumerate(r["labels_per_seed"]) if v is not None),
        ),
    ),
    Quote(
        REPRO,
        "Every clustered base set is within {:.3f} Dice of random",
        P001,
        lambda d: max(
            abs(
                d["results"]["base_set_300"][r]["dice"]["mean"]
                - d["results"]["base_set_300"]["random"]["dice"]["mean"]
            )
            for r in ("k5_pool1", "k5_pool2", "k10_pool1", "ssl_kmeans")
        ),
    ),
]


@pytest.mark.parametrize("quote", QUOTES, ids=ids(QUOTES))
def test_quoted_figure_is_the_results_file_value(quote: Quote) -> None:
    check(quote)
