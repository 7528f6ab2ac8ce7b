"""reproduction.md's and benchmarks/README.md's Zhao et al. 2022 cost figures (CPU feasibility, unit and
curve times), read from their results files (the table's columns: tests/doc_figures.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from doc_figures import RESULTS, Quote, check, ids, load

REPRO = "docs/reproduction.md"
P001 = "paper001.json"
_T1 = ("random", "ssl_kmeans", "random_ssl_weights", "ssl_kmeans_ssl_weights")
QUOTES: list[Quote] = []

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


def _curve_minutes(d: dict) -> tuple:
    """Training plus selection hours per seed and minutes per (strategy, seed) of the Fig. 2 curves."""
    per_seed: dict[int, list[float]] = {}
    for path in sorted((RESULTS / "paper001" / "curves").glob("seed*/results.json")):
        for run in load(str(path.relative_to(RESULTS)))["runs"]:
            rounds = run["rounds"]
            minutes = (
                sum((r.get("train_seconds") or 0) + (r.get("selection_seconds") or 0) for r in rounds) / 60
            )
            per_seed.setdefault(run["seed"], []).append(minutes)
    hours = [sum(v) / 60 for v in per_seed.values()]
    units = [m for v in per_seed.values() for m in v]
    return min(hours), max(hours), min(units), max(units)


QUOTES += [
    Quote(
        REPRO,
        "(`--rows curves --seeds S --threads 1`, {:.1f}-{:.1f} h of training and selection per seed on one"
        " thread;",
        P001,
        lambda d: _curve_minutes(d)[:2],
    ),
    Quote(
        "benchmarks/README.md",
        "curves {:.1f}-{:.1f} h of training and selection per seed (continued committees; {:.0f}-{:.0f} min"
        " per strategy and seed",
        P001,
        _curve_minutes,
    ),
]


@pytest.mark.parametrize("quote", QUOTES, ids=ids(QUOTES))
def test_quoted_figure_is_the_results_file_value(quote: Quote) -> None:
    check(quote)
