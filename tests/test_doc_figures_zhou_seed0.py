"""reproduction.md's Zhou et al. 2021 seed-0 timed units (measured before the grid; paper004.json at
0beb0ac), read from that file (the table's columns: tests/doc_figures.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from doc_figures import Quote, check, get, ids

REPRO = "docs/reproduction.md"
P004 = "paper004.json"
_ROWS004 = "results/isic2017_melanoma"
QUOTES: list[Quote] = []


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


def _early_shares(d: dict) -> tuple:
    share = [100 * x for x in d["results"]["isic2017_melanoma"]["acft_hq"]["positive_share_selected"]]
    return (*share[1:5], min(share[5:]), max(share[5:]))


QUOTES += [
    Quote(
        REPRO,
        "Its picks held {:.0f} %, {:.0f} %, {:.0f} %, {:.0f} % melanomas in batches 2-5 ({:.0f}-{:.0f} % in"
        " batches 6-10)",
        _EARLY,
        _early_shares,
    ),
    Quote(
        REPRO,
        "The first batch, picked by the untrained head, held {:.0f} %.",
        _EARLY,
        lambda d: 100 * d["results"]["isic2017_melanoma"]["acft_hq"]["positive_share_selected"][0],
    ),
    Quote(
        REPRO,
        "then {:.1f} s of training and {:.0f} s of selection per round",
        _EARLY,
        lambda d: (
            (r := d["results"]["isic2017_melanoma"]["acft_hq"]["seconds_per_round"])["train"]["mean"],
            r["selection"]["mean"],
        ),
    ),
    Quote(
        REPRO,
        "{:.0f} CPU s for the 10 rounds",
        _EARLY,
        lambda d: 10 * d["results"]["isic2017_melanoma"]["rft"]["seconds_per_round"]["train_cpu"]["mean"],
    ),
]


@pytest.mark.parametrize("quote", QUOTES, ids=ids(QUOTES))
def test_quoted_figure_is_the_results_file_value(quote: Quote) -> None:
    check(quote)
