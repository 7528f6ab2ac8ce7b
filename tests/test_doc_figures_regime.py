"""reproduction.md's "Where the mechanisms operate" figures (issue 35), read from regime.json (the table's
columns: tests/doc_figures.py)."""

from __future__ import annotations

import pytest

from doc_figures import Quote, check, ids, ms

REPRO = "docs/reproduction.md"
REGIME = "regime.json"
X6 = "results/paper002/freeze6"
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
    assert r["paper001"]["50"]["ssl_kmeans_vs_random"]["verdict"] == "appears"
    assert r["paper001"]["100"]["ssl_kmeans_vs_random"]["verdict"] == "absent"
    assert r["paper001"]["100"]["mechanism_present"] is True
    assert r["paper001"]["300"]["ssl_kmeans_vs_random"]["verdict"] == "absent"
    assert all(v > 0 for v in r["paper001"]["50"]["ssl_kmeans_vs_random"]["per_seed"])


@pytest.mark.parametrize("quote", QUOTES, ids=ids(QUOTES))
def test_quoted_figure_is_the_results_file_value(quote: Quote) -> None:
    check(quote)
