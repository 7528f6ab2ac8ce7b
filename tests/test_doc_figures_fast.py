"""reproduction.md's and architecture.md's CPU fast-path figures, read from fast_path.json (the table's
columns: tests/doc_figures.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from doc_figures import Quote, check, ids

REPRO = "docs/reproduction.md"
QUOTES: list[Quote] = []

FAST = "fast_path.json"


def _mode(mode: str) -> Callable[[dict], tuple]:
    """Train-step images/s (± s.e.), speed-up, test AUC and accuracy (`acc` in runs before 2026-12-07)."""

    def values(d: dict) -> tuple:
        r = d["results"]
        acc = r["accuracy"][mode]
        return (
            r["throughput_images_per_second"][mode]["mean"],
            r["throughput_images_per_second"][mode]["se"],
            r["speedup_vs_full"][mode],
            acc["auc"]["mean"],
            (acc.get("accuracy") or acc["acc"])["mean"],
        )

    return values


_FAST_ROW = " | {:.1f} ± {:.1f} | {:.1f}x | {:.3f} | {:.3f} |"
QUOTES += [
    Quote(
        REPRO,
        "| full fine-tuning (online augmentation, at most 6 epochs, patience 2)" + _FAST_ROW,
        FAST,
        _mode("full_finetune"),
    ),
    Quote(
        REPRO,
        "| `freeze_stages: 5` (default; stages 5-6 + head trained)" + _FAST_ROW,
        FAST,
        _mode("freeze_5"),
    ),
    Quote(
        REPRO,
        "| `freeze_stages: 6` (active-learning setting; stage 6 + head)" + _FAST_ROW,
        FAST,
        _mode("freeze_6"),
    ),
    Quote(
        REPRO,
        "full fine-tuning runs at ~{:.0f} images/s on one thread",
        FAST,
        "results/throughput_images_per_second/full_finetune/mean",
    ),
    Quote(
        "docs/architecture.md",
        "trains at about {:.0f} images/s",
        FAST,
        "results/throughput_images_per_second/full_finetune/mean",
    ),
    Quote(
        REPRO,
        "`benchmarks/results/fast_path.json`, about {:.0f} min;",
        FAST,
        lambda d: d["wall_seconds"] / 60,
    ),
    Quote(
        REPRO,
        "full fine-tuning at {:.0f} images/s costs about {:.0f} minutes per run",
        FAST,
        lambda d: (
            d["results"]["throughput_images_per_second"]["full_finetune"]["mean"],
            d["results"]["accuracy"]["full_finetune"]["per_seed"][0]["wall_seconds"] / 60,
        ),
    ),
]


@pytest.mark.parametrize("quote", QUOTES, ids=ids(QUOTES))
def test_quoted_figure_is_the_results_file_value(quote: Quote) -> None:
    check(quote)
