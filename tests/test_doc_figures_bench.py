"""The run times benchmarks/README.md quotes, read from their results files (the table's columns:
tests/doc_figures.py)."""

from __future__ import annotations

import glob
from collections.abc import Callable

import pytest

from doc_figures import RESULTS, Quote, check, get, ids, load

BENCH = "benchmarks/README.md"


def _minutes(path: str) -> Callable[[dict], float]:
    return lambda d: get(d, path) / 60


def _p002_fits(d: dict) -> tuple:
    """paper002's unit minutes: the range without the one long unit, and that unit."""
    minutes = sorted(v["seconds"] / 60 for v in d.values() if isinstance(v, dict) and "seconds" in v)
    return minutes[0], minutes[-2], minutes[-1]


def _p004_units(d: dict) -> tuple:
    """CPU minutes (training + selection) per (row, seed) unit of paper004, and the grid's CPU hours."""
    units = []
    for path in glob.glob(str(RESULTS / "paper004" / "melanoma" / "*" / "seed*" / "results.json")):
        rounds = load(str(path).split("results/", 1)[1])["runs"][0]["rounds"]
        units.append(
            sum((r.get("train_cpu_seconds") or 0) + (r.get("selection_cpu_seconds") or 0) for r in rounds)
        )
    return min(units) / 60, max(units) / 60, sum(units) / 3600


def _scale(d: dict) -> tuple:
    r = d["results"]
    scoring = sum(v["seconds"] for v in r["scoring"].values())
    rounds = [sum(r["round"][n]["seconds"].values()) for n in ("10000", "100000")]
    ray = sum(sum(v["wall_seconds"].values()) for k, v in r["ray"].items() if isinstance(v, dict))
    return d["wall_seconds"] / 60, d["wall_seconds"], scoring / 60, rounds[0] / 60, rounds[1] / 60, ray / 60


QUOTES: list[Quote] = [
    Quote(
        BENCH,
        "| 28 min idle; {:.0f} min ({:.0f} s, 1 thread; full fine-tuning's accuracy run {:.0f} s of it)"
        " on the shared machine at load ~10 |",
        "fast_path.json",
        lambda d: (
            d["wall_seconds"] / 60,
            d["wall_seconds"],
            d["results"]["accuracy"]["full_finetune"]["per_seed"][0]["wall_seconds"],
        ),
    ),
    Quote(
        BENCH,
        "24 min ({:.0f} s of measured units, 1 thread)",
        "kcenter_speed.json",
        "config/sizes/wall_seconds",
    ),
    Quote(
        BENCH,
        "the 100,000-row comparison: 11 min ({:.0f} s, `kcenter_speed.json` at commit adc89a9",
        "kcenter_speed.json@adc89a9",
        "wall_seconds",
    ),
    Quote(
        BENCH,
        "scikit-activeml's two runs {:.1f} min of it",
        "kcenter_speed.json",
        lambda d: (
            sum(d["results"][ds]["methods"]["skactiveml"]["seconds"] for ds in ("gaussian", "embeddings"))
            / 60
        ),
    ),
    Quote(
        BENCH,
        "`--parts scoring round ray --threads 2`: {:.0f} min ({:.0f} s; scoring 2 x 10,000 images"
        " {:.1f} min, the rounds'"
        " parts {:.1f} min at 10,000 and {:.1f} min at 100,000, the four experiments serially and on"
        " Ray {:.1f} min)",
        "scale.json",
        _scale,
    ),
    Quote(
        BENCH,
        "--name scale_check`, {:.0f} min ({:.0f} s) at nice 19",
        "scale_check.json",
        lambda d: (d["provenance"]["wall_seconds"] / 60, d["provenance"]["wall_seconds"]),
    ),
    Quote(
        BENCH,
        "per candidate: {:.0f} min (`none@5`), {:.0f} min (`sqrt@3`)",
        "ham_selection.json",
        lambda d: tuple(d["per_candidate"][c]["wall_seconds"] / 60 for c in ("none@5", "sqrt@3")),
    ),
    Quote(BENCH, "a rerun only evaluates: 2 min ({:.0f} s)", "ham_tta.json", "wall_seconds"),
    Quote(
        BENCH,
        "| {:.0f} min ({:.0f} s) |",
        "ham_tta_split1.json",
        lambda d: (d["wall_seconds"] / 60, d["wall_seconds"]),
    ),
    Quote(
        BENCH,
        "ISIC 2017: {:.0f}-{:.0f} min per (task, seed), the first one caching the trunk activations"
        " ({:.0f} min);"
        " HAM10000 at freeze 3: {:.0f}-{:.0f} min per seed on 1 thread; {:.1f} h in all",
        "full_data.json",
        lambda d: (
            min(
                w := [
                    s["wall_seconds"] / 60
                    for t in ("isic2017_melanoma", "isic2017_seborrheic_keratosis")
                    for s in d["results"][t]["per_seed"]
                ]
            ),
            max(w),
            d["results"]["isic2017_melanoma"]["per_seed"][0]["cache_seconds"] / 60,
            min(h := [s["wall_seconds"] / 60 for s in d["results"]["ham10000_7class"]["per_seed"]]),
            max(h),
            d["wall_seconds"] / 3600,
        ),
    ),
    Quote(
        BENCH,
        "| {:.0f} min ({:.0f} s, 1 thread) |",
        "full_data_freeze6.json",
        lambda d: (d["wall_seconds"] / 60, d["wall_seconds"]),
    ),
    Quote(
        BENCH,
        "| {:.0f} min (melanoma) + {:.0f} min (seborrheic keratosis) |",
        "al_baselines.json",
        lambda d: (d["wall_seconds"]["melanoma"] / 60, d["wall_seconds"]["seborrheic_keratosis"] / 60),
    ),
    Quote(
        BENCH,
        "noisy oracle {:.0f} min ({:.0f} s, 6 AL runs of 5 rounds), PyNomaly's LoOP at N = 20,000"
        " {:.0f} min ({:.0f} s)",
        "label_audit.json",
        lambda d: (
            d["noisy_oracle"]["wall_seconds"] / 60,
            d["noisy_oracle"]["wall_seconds"],
            d["loop_speed"]["20000"]["pynomaly_seconds"] / 60,
            d["loop_speed"]["20000"]["pynomaly_seconds"],
        ),
    ),
    Quote(
        BENCH,
        "| {:.1f} min ({:.0f} s, 1 thread, nice 5, load ~5-6; PyNomaly at d = 1,280, N = 5,000: {} x"
        " {:.0f} s of it) |",
        "label_audit.json",
        lambda d: (
            d["provenance"]["wall_seconds"] / 60,
            d["provenance"]["wall_seconds"],
            (c := d["loop_speed_by_dim"]["1280"]["5000"])["repeats"],
            c["pynomaly_seconds"],
        ),
    ),
    Quote(
        BENCH,
        "about 8 core-hours: {:.0f} min of training and selection",
        "paper000.json",
        lambda d: (
            sum(r.get("compute_minutes", 0) for t in d["results"].values() for r in t.values())
            + sum(r["compute_minutes"] for r in d["ablations"]["melanoma"].values())
        ),
    ),
    Quote(
        BENCH,
        "{:.1f}-{:.1f} min per fit of 2000 images on one thread (early stopping; one unit of the"
        " earlier session {:.1f} min)",
        "paper002.partial.json",
        _p002_fits,
    ),
    Quote(BENCH, "the 60 units took {:.0f} min of training", "paper002.json", "unit_minutes_total"),
    Quote(
        BENCH,
        "per (row, seed), 1 thread: {:.0f}-{:.0f} CPU min",
        "paper004.json",
        lambda d: _p004_units(d)[:2],
    ),
    Quote(BENCH, "{:.1f} CPU hours for the grid", "paper004.json", lambda d: _p004_units(d)[2]),
]


def _p000_minutes(d: dict) -> tuple:
    """paper000's compute minutes per row (both tasks) and per ablation row."""
    tasks = d["results"].values()

    def span(row: str) -> tuple[float, float]:
        values = [t[row]["compute_minutes"] for t in tasks]
        return min(values), max(values)

    ablations = d["ablations"]["melanoma"]
    gammas = [ablations[k]["compute_minutes"] for k in ablations if k.startswith("sa_gamma")]
    return (
        *span("sa"),
        *span("sa_as"),
        ablations["sa_as_replicate"]["compute_minutes"],
        *span("sa_mixup"),
        min(gammas),
        max(gammas),
    )


QUOTES += [
    Quote(
        BENCH,
        "per row and task: SA {:.0f}-{:.0f}, SA + AS {:.0f}-{:.0f}, AS `replicate` {:.0f}, SA + mix-up"
        " {:.0f}-{:.0f}, gamma ablations {:.0f}-{:.0f} min",
        "paper000.json",
        _p000_minutes,
    ),
]


QUOTES += [
    Quote(
        BENCH,
        "2. **Retrain one unit** ({:.0f}-{:.0f} min, `full_data.json`'s ISIC 2017 units):",
        "full_data.json",
        lambda d: (
            min(
                w := [
                    s["wall_seconds"] / 60
                    for t in ("isic2017_melanoma", "isic2017_seborrheic_keratosis")
                    for s in d["results"][t]["per_seed"]
                ]
            ),
            max(w),
        ),
    ),
]


@pytest.mark.parametrize("quote", QUOTES, ids=ids(QUOTES))
def test_quoted_figure_is_the_results_file_value(quote: Quote) -> None:
    check(quote)
