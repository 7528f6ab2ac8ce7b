"""reproduction.md's "Where the mechanisms operate" figures (issue 35), read from regime.json (the table's
columns: tests/doc_figures.py)."""

from __future__ import annotations

import pytest

from doc_figures import Quote, check, ids, ms

REPRO = "docs/reproduction.md"
REGIME = "regime.json"
X6 = "results/paper002/freeze6"
XF = "results/paper002/full"
W3, W6, W2 = (f"results/paper004/{r}" for r in ("freeze3", "freeze6", "freeze6_224"))
Z50 = "results/paper001/50"
Z100 = "results/paper001/100"
Z300 = "results/paper001/300"

QUOTES: list[Quote] = [
    Quote(
        REPRO,
        "CE fits {:.3f} ± {:.3f} of the flipped labels by",
        REGIME,
        ms(f"{X6}/ce/memorised_fraction_final"),
    ),
    Quote(
        REPRO,
        "OUSM fits {:.3f} and OUSM + LoOP {:.3f}, so",
        REGIME,
        (f"{X6}/ousm/memorised_fraction_final/mean", f"{X6}/ousm_loop/memorised_fraction_final/mean"),
    ),
    Quote(
        REPRO,
        "CE {:.3f} ± {:.3f}, OUSM {:.3f} ± {:.3f}, OUSM + LoOP {:.3f} ± {:.3f};",
        REGIME,
        (*ms(f"{X6}/ce/accuracy"), *ms(f"{X6}/ousm/accuracy"), *ms(f"{X6}/ousm_loop/accuracy")),
    ),
    Quote(
        REPRO,
        "- CE {:+.3f} (paired t p {:.3f}; seeds {:+.3f}, {:+.3f}, {:+.3f}), OUSM - CE {:+.3f} (p {:.3f})",
        REGIME,
        (
            f"{X6}/ousm_loop_vs_ce/accuracy/mean_difference",
            f"{X6}/ousm_loop_vs_ce/accuracy/p_ttest",
            f"{X6}/ousm_loop_vs_ce/accuracy/per_seed/0",
            f"{X6}/ousm_loop_vs_ce/accuracy/per_seed/1",
            f"{X6}/ousm_loop_vs_ce/accuracy/per_seed/2",
            f"{X6}/ousm_vs_ce/accuracy/mean_difference",
            f"{X6}/ousm_vs_ce/accuracy/p_ttest",
        ),
    ),
    Quote(
        REPRO,
        "AUC {:.3f} vs {:.3f} and {:.3f}.",
        REGIME,
        (f"{X6}/ce/auc/mean", f"{X6}/ousm/auc/mean", f"{X6}/ousm_loop/auc/mean"),
    ),
    Quote(
        REPRO,
        "memorise too ({:.3f} ± {:.3f} and {:.3f} ± {:.3f})",
        REGIME,
        (
            *ms("results/paper002/full/ce/memorised_fraction_final"),
            *ms("results/paper002/freeze3/ce/memorised_fraction_final"),
        ),
    ),
    Quote(
        REPRO,
        "Random {:.3f} ± {:.3f} Dice, `ssl_kmeans` {:.3f} ± {:.3f}: {:+.3f} (paired t p {:.3f}",
        REGIME,
        (
            *ms(f"{Z50}/random/dice"),
            *ms(f"{Z50}/ssl_kmeans/dice"),
            f"{Z50}/ssl_kmeans_vs_random/mean_difference",
            f"{Z50}/ssl_kmeans_vs_random/p_ttest",
        ),
    ),
    Quote(
        REPRO,
        "Random {:.3f} ± {:.3f} Dice, `ssl_kmeans` {:.3f} ± {:.3f}: {:+.3f} (paired t p {:.3f}; "
        "seeds {:+.3f}, {:+.3f}, {:+.3f})",
        REGIME,
        (
            *ms(f"{Z100}/random/dice"),
            *ms(f"{Z100}/ssl_kmeans/dice"),
            f"{Z100}/ssl_kmeans_vs_random/mean_difference",
            f"{Z100}/ssl_kmeans_vs_random/p_ttest",
            *(f"{Z100}/ssl_kmeans_vs_random/per_seed/{i}" for i in range(3)),
        ),
    ),
    Quote(
        REPRO,
        "(random's {:.3f} is below 0.95 of full data, {:.3f}), yet the effect is absent ({:+.3f}, p {:.3f})",
        REGIME,
        lambda d: (
            d["results"]["paper001"]["300"]["random"]["dice"]["mean"],
            0.95 * d["results"]["paper001"]["full_data_dice"],
            d["results"]["paper001"]["300"]["ssl_kmeans_vs_random"]["mean_difference"],
            d["results"]["paper001"]["300"]["ssl_kmeans_vs_random"]["p_ttest"],
        ),
    ),
    Quote(
        REPRO,
        "CE fits {:.3f} of the flipped labels by epoch 20 (mechanism present); OUSM fits {:.3f} and "
        "OUSM + LoOP {:.3f}.",
        REGIME,
        tuple(f"{XF}/{loss}/memorised_fraction_final/mean" for loss in ("ce", "ousm", "ousm_loop")),
    ),
    Quote(
        REPRO,
        "accuracy: CE {:.3f} ± {:.3f}, OUSM {:.3f} ± {:.3f}, OUSM + LoOP {:.3f} ± {:.3f}. OUSM - CE {:+.3f} "
        "(paired t p {:.3f}; seeds {:+.3f}, {:+.3f}, {:+.3f}): **the effect appears for OUSM**",
        REGIME,
        (
            *ms(f"{XF}/ce/accuracy"),
            *ms(f"{XF}/ousm/accuracy"),
            *ms(f"{XF}/ousm_loop/accuracy"),
            f"{XF}/ousm_vs_ce/accuracy/mean_difference",
            f"{XF}/ousm_vs_ce/accuracy/p_ttest",
            *(f"{XF}/ousm_vs_ce/accuracy/per_seed/{i}" for i in range(3)),
        ),
    ),
    Quote(
        REPRO,
        "its AUC is not significantly lower, {:+.3f}, p {:.3f}, so it is no collapse",
        REGIME,
        (f"{XF}/ousm_vs_ce/auc/mean_difference", f"{XF}/ousm_vs_ce/auc/p_ttest"),
    ),
    Quote(
        REPRO,
        "OUSM + LoOP - CE {:+.3f} (p {:.3f}; seeds {:+.3f}, {:+.3f}, {:+.3f}): **absent**; AUC CE {:.3f}, "
        "OUSM {:.3f}, OUSM + LoOP {:.3f}.",
        REGIME,
        (
            f"{XF}/ousm_loop_vs_ce/accuracy/mean_difference",
            f"{XF}/ousm_loop_vs_ce/accuracy/p_ttest",
            *(f"{XF}/ousm_loop_vs_ce/accuracy/per_seed/{i}" for i in range(3)),
            *(f"{XF}/{loss}/auc/mean" for loss in ("ce", "ousm", "ousm_loop")),
        ),
    ),
    Quote(
        REPRO,
        "`freeze3`: RFT {:.3f} ± {:.3f}, AFT(LQ) {:.3f} ± {:.3f}, ACFT(HQ) {:.3f} ± {:.3f}.",
        REGIME,
        tuple(x for row in ("rft", "aft_lq", "acft_hq") for x in ms(f"{W3}/{row}/alc")),
    ),
    Quote(
        REPRO,
        "is {:.2f} of AFT(LQ)'s in `freeze3` (present: at least half, every seed positive), against "
        "{:.2f} in `freeze6` at 128 px and {:.2f} in the committed 224 px control (absent).",
        REGIME,
        tuple(f"{w}/verdict/gain_ratio_hq_over_aft" for w in (W3, W6, W2)),
    ),
    Quote(
        REPRO,
        "ACFT(HQ) - AFT(LQ) ALC {:+.3f} in `freeze3` (p {:.3f}; seeds {:+.3f}, {:+.3f}, {:+.3f}; "
        "{:.1f}x faster per round), {:+.3f} in `freeze6` at 128 px (p {:.3f}) and {:+.3f} at 224 px "
        "(p {:.3f})",
        REGIME,
        (
            f"{W3}/verdict/hq_minus_aft_alc/mean_difference",
            f"{W3}/verdict/hq_minus_aft_alc/p_ttest",
            *(f"{W3}/verdict/hq_minus_aft_alc/per_seed/{i}" for i in range(3)),
            f"{W3}/verdict/speedup_train_cpu",
            f"{W6}/verdict/hq_minus_aft_alc/mean_difference",
            f"{W6}/verdict/hq_minus_aft_alc/p_ttest",
            f"{W2}/verdict/hq_minus_aft_alc/mean_difference",
            f"{W2}/verdict/hq_minus_aft_alc/p_ttest",
        ),
    ),
    Quote(
        REPRO,
        "AFT(LQ) - RFT ALC {:+.3f} in `freeze3` (p {:.3f}) and {:+.3f} in `freeze6` (p {:.3f})",
        REGIME,
        (
            f"{W3}/aft_lq_vs_rft/mean_difference",
            f"{W3}/aft_lq_vs_rft/p_ttest",
            f"{W6}/aft_lq_vs_rft/mean_difference",
            f"{W6}/aft_lq_vs_rft/p_ttest",
        ),
    ),
    Quote(
        REPRO,
        "then adapts (ACFT(HQ) gains {:.2f} of AFT(LQ)'s AUC gain, against {:.2f} frozen), and the gap "
        "shrinks, but ACFT(HQ) still ends below AFT(LQ) in ALC ({:+.3f} over 100-600 labels, 3 seeds).",
        REGIME,
        (
            f"{W3}/verdict/gain_ratio_hq_over_aft",
            f"{W2}/verdict/gain_ratio_hq_over_aft",
            f"{W3}/verdict/hq_minus_aft_alc/mean_difference",
        ),
    ),
    Quote(
        REPRO,
        "full fine-tuning OUSM does by {:+.3f} accuracy (small, AUC not better)",
        REGIME,
        (f"{XF}/ousm_vs_ce/accuracy/mean_difference",),
    ),
    Quote(
        REPRO,
        "gap at 300: {:+.3f}, p {:.3f}, direction only",
        REGIME,
        (
            "results/paper001/gap_50_minus_gap_300/mean_difference",
            "results/paper001/gap_50_minus_gap_300/p_ttest",
        ),
    ),
]


def test_the_quoted_verdicts_are_the_files() -> None:
    """The doc's verdicts for the finished comparisons are regime.json's."""
    from doc_figures import load

    r = load(REGIME)["results"]
    assert r["paper002"]["freeze6"]["mechanism_present"] is True
    assert r["paper002"]["freeze6"]["ousm_loop_vs_ce"]["verdict"] == "absent"
    assert r["paper002"]["freeze6"]["ousm_vs_ce"]["verdict"] == "absent"
    assert r["paper002"]["full"]["mechanism_present"] is True
    assert r["paper002"]["full"]["ousm_vs_ce"]["verdict"] == "appears"
    assert r["paper002"]["full"]["ousm_loop_vs_ce"]["verdict"] == "absent"
    assert r["paper002"]["full"]["ousm_vs_ce"]["auc"]["verdict"] == "absent"
    zhou = r["paper004"]
    assert zhou["freeze3"]["verdict"]["mechanism_present"] is True
    assert zhou["freeze6"]["verdict"]["mechanism_present"] is False
    assert zhou["freeze6_224"]["verdict"]["mechanism_present"] is False
    assert {zhou[w]["verdict"]["effect"] for w in ("freeze3", "freeze6", "freeze6_224")} == {"absent"}
    gap = {w: zhou[w]["verdict"]["hq_minus_aft_alc"]["mean_difference"] for w in zhou}
    assert gap["freeze6_224"] < gap["freeze3"] < 0  # smaller with more trained, still below
    for w in zhou:  # "more than one standard error below AFT(LQ) in each"
        se = max(zhou[w]["aft_lq"]["alc"]["se"], zhou[w]["acft_hq"]["alc"]["se"])
        assert gap[w] < -se
    assert r["paper001"]["50"]["ssl_kmeans_vs_random"]["verdict"] == "appears"
    assert r["paper001"]["100"]["ssl_kmeans_vs_random"]["verdict"] == "absent"
    assert r["paper001"]["100"]["mechanism_present"] is True
    assert r["paper001"]["300"]["ssl_kmeans_vs_random"]["verdict"] == "absent"
    assert all(v > 0 for v in r["paper001"]["50"]["ssl_kmeans_vs_random"]["per_seed"])


@pytest.mark.parametrize("quote", QUOTES, ids=ids(QUOTES))
def test_quoted_figure_is_the_results_file_value(quote: Quote) -> None:
    check(quote)
