"""reproduction.md's Xue et al. 2019 and label-audit figures, read from their results files (the table's
columns: tests/doc_figures.py)."""

from __future__ import annotations

import statistics
from collections.abc import Callable

import pytest

from doc_figures import Quote, check, get, ids, load, ms, values_at

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
        "({:.3f} against {:.3f} at 0 %, {:.3f} against {:.3f} at 40 %)",
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


TIMING = "paper001_timing.json"
_TRAIN_PASSES, _PREDICTIONS = 11_550, 4_200 + 4_000 + 13_000  # one curve of the paper's protocol


def _timing(model: str, px: int) -> Callable[[dict], dict]:
    return lambda d: next(r for r in d["rows"] if r["model"] == model and r["px"] == px)


def _curve_cost(d: dict) -> tuple:
    big, small = _timing("unet width 64", 256)(d), _timing("unet width 16", 128)(d)
    train, infer = _TRAIN_PASSES * big["train"], _PREDICTIONS * big["infer"]
    small_train, small_infer = _TRAIN_PASSES * small["train"], _PREDICTIONS * small["infer"]
    return (
        round(train, -3),
        round(infer, -3),
        (train + infer) / 3600,
        round(small_train, -2),
        round(small_infer, -2),
        (small_train + small_infer) / 60,
    )


QUOTES += [
    *[
        Quote(
            REPRO,
            f"| {label} | {px} px | {{:.3f}} | " + ("-" if "frozen" in model else "{:.3f}") + " |",
            TIMING,
            lambda d, model=model, px=px: tuple(
                v
                for v in (_timing(model, px)(d)["train"], _timing(model, px)(d).get("infer"))
                if v is not None
            ),
        )
        for label, model, px in (
            ("paper's U-Net (width 64: 512 channels at 1/16)", "unet width 64", 256),
            ("U-Net width 32", "unet width 32", 256),
            ("U-Net width 16", "unet width 16", 256),
            ("U-Net on Lite0, full fine-tuning", "unet_lite0 full", 256),
            ("U-Net on Lite0, frozen cached encoder (decoder only)", "unet_lite0 frozen encoder", 256),
            ("U-Net width 64", "unet width 64", 128),
            ("U-Net width 32", "unet width 32", 128),
            ("U-Net on Lite0, full fine-tuning", "unet_lite0 full", 128),
            ("U-Net on Lite0, frozen cached encoder (decoder only)", "unet_lite0 frozen encoder", 128),
        )
    ],
    Quote(
        REPRO,
        "| **U-Net width 16 (the CPU configuration)** | **128 px** | **{:.3f}** | **{:.3f}** |",
        TIMING,
        lambda d: (_timing("unet width 16", 128)(d)["train"], _timing("unet width 16", 128)(d)["infer"]),
    ),
    Quote(
        REPRO,
        "(load average {:.1f} to {:.1f}, so these are upper bounds)",
        TIMING,
        lambda d: (min(d["load"]), max(d["load"])),
    ),
    Quote(
        REPRO,
        "that is {:,.0f} s of training plus {:,.0f} s of inference: about {:.0f} hours per curve on one"
        " loaded core, weeks for the grid of Tables I-II and Fig. 2. At width 16 and 128 px it is about"
        " {:,.0f} + {:,.0f} s,"
        " about {:.0f} min per curve.",
        TIMING,
        _curve_cost,
    ),
]


def _p001_units(rows: tuple[str, ...]) -> list[dict]:
    return [load(f"paper001/{row}/seed{seed}/results.json") for row in rows for seed in (0, 1, 2)]


def _table1_units(d: dict) -> tuple:
    """Table I units: wall minutes, base-fit seconds and per-round seconds (training + selection)."""
    units = _p001_units(_T1)
    walls = [u["wall_seconds"] / 60 for u in units]
    base = [u["runs"][0]["rounds"][0]["train_seconds"] for u in units]
    rounds = [
        r["train_seconds"] + (r.get("selection_seconds") or 0)
        for u in units
        for r in u["runs"][0]["rounds"][1:]
    ]
    return min(walls), max(walls), min(base), max(base), min(rounds), max(rounds)


QUOTES += [
    Quote(
        REPRO,
        "| {:,.0f} s (two other benchmarks beside it); best held-out epoch {}, held-out loss {:.3f}"
        " → {:.3f} |",
        "paper001/pretrain/pretrain.json",
        lambda d: (
            d["seconds"],
            d["best_epoch"],
            d["history"][0]["holdout_loss"],
            d["history"][d["best_epoch"] - 1]["holdout_loss"],
        ),
    ),
    Quote(
        REPRO,
        "| {:.0f}-{:.0f} min: {:.0f}-{:.0f} s for the base fit, {:.0f}-{:.0f} s per round",
        P001,
        _table1_units,
    ),
    Quote(
        REPRO,
        "full data (3 seeds of 1600 masks x 10 epochs, planned at ~25 min each, measured {:.0f}-{:.0f})",
        P001,
        lambda d: (min(w := [u["wall_seconds"] / 60 for u in _p001_units(("full_data",))]), max(w)),
    ),
    Quote(
        REPRO,
        "3 seeds, {:.0f}-{:.0f} s per seed on one thread beside another",
        P001,
        lambda d: (min(w := [u["wall_seconds"] for u in _p001_units(("full_data",))]), max(w)),
    ),
    Quote(
        "benchmarks/README.md",
        "Table I {:.0f}-{:.0f} min per (row, seed); Table II {:.1f}-{:.1f} min; full data {:.0f}-{:.0f} min"
        " per seed",
        P001,
        lambda d: (
            *_table1_units(d)[:2],
            min(t2 := [u["wall_seconds"] / 60 for u in _p001_units(("k5_pool1", "k5_pool2", "k10_pool1"))]),
            max(t2),
            min(f := [u["wall_seconds"] / 60 for u in _p001_units(("full_data",))]),
            max(f),
        ),
    ),
    Quote(
        "benchmarks/README.md",
        "pre-training {:.0f} min beside two other runs (`pretrain.json`",
        "paper001/pretrain/pretrain.json",
        lambda d: d["seconds"] / 60,
    ),
]


def _seed0(row: str) -> Callable[[dict], list[float]]:
    return lambda d: [c["auc"]["mean"] for c in d["results"]["isic2017_melanoma"][row]["curve"]]


_EARLY = f"{P004}@0beb0ac"  # the seed-0 timed units, before the grid
QUOTES += [
    Quote(
        REPRO,
        "test AUC {:.3f} at 100 labels, best {:.3f} at 800, {:.3f} at 1000; ALC {:.3f}",
        _EARLY,
        lambda d: (
            _seed0("rft")(d)[0],
            max(_seed0("rft")(d)),
            _seed0("rft")(d)[-1],
            get(d, f"{_ROWS004}/rft/alc/mean"),
        ),
    ),
    Quote(
        REPRO,
        "Test AUC {:.3f} at 100 labels, flat at {:.3f}-{:.3f} up to 600 labels, {:.3f} at 1000; ALC {:.3f},"
        " {:.3f} below RFT's",
        _EARLY,
        lambda d: (
            (c := _seed0("acft_hq")(d))[0],
            min(c[:6]),
            max(c[:6]),
            c[-1],
            (a := get(d, f"{_ROWS004}/acft_hq/alc/mean")),
            get(d, f"{_ROWS004}/rft/alc/mean") - a,
        ),
    ),
    Quote(
        REPRO,
        "reaches ALC {:.3f}, no better, and swings (AUC {:.3f}, {:.3f}, {:.3f}, {:.3f}, {:.3f} at 500-900"
        " labels)",
        _EARLY,
        lambda d: (get(d, f"{_ROWS004}/acft_hq_lr1/alc/mean"), *_seed0("acft_hq_lr1")(d)[4:9]),
    ),
    Quote(
        REPRO,
        "trained on {:.0f} images per round on average (H u Q) against RFT's {:.0f}",
        _EARLY,
        lambda d: tuple(
            get(d, f"{_ROWS004}/{r}/seconds_per_round/images_trained_on/mean") for r in ("acft_hq", "rft")
        ),
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
    Quote(
        REPRO,
        "`paper001.json` at commit efd77eb) the order at the top was the reverse (pixel entropy {:.4f},"
        " ssl_kmeans {:.4f})",
        f"{P001}@efd77eb",
        lambda d: tuple(d["results"]["curves"][n]["alc"]["mean"] for n in ("pixel_entropy", "ssl_kmeans")),
    ),
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
        "confident coreset is ahead of learning loss by {:.3f} accuracy (Wilcoxon p = {:.3f}) and of coreset by"
        " {:.3f} (p = {:.2f}, not significant with 3 seeds)",
        P003,
        lambda d: (*_paired_vs_cc("learning_loss")(d), *_paired_vs_cc("coreset")(d)),
    ),
]


@pytest.mark.parametrize("quote", QUOTES, ids=ids(QUOTES))
def test_quoted_figure_is_the_results_file_value(quote: Quote) -> None:
    check(quote)
