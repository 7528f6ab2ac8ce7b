"""Figures quoted in benchmarks/README.md (run times), README.md and docs/{methods,scaling,audit}.md, read
from their results files (the table's columns: tests/doc_figures.py)."""

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
        "| 28 min ({:.0f} s, 1 thread; full fine-tuning's accuracy run {:.0f} s of it) |",
        "fast_path.json",
        lambda d: (
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


METHODS = "docs/methods.md"
KC = "kcenter_speed.json"


def _block(dataset: str, method: str) -> Callable[[dict], dict]:
    return lambda d: d["results"][dataset]["methods"][method]


QUOTES += [
    Quote(
        METHODS,
        "an earlier single run on a busier machine: {:.1f} s vs {:.1f} s, {:.1f}x, `kcenter_speed.json`"
        " at commit d418aa7",
        f"{KC}@d418aa7",
        lambda d: (
            (g := d["results"]["sizes"]["1000000"]["by_dataset"]["gaussian"])["seconds_median"]["auto"],
            g["seconds_median"]["plain"],
            g["speedup_vs_plain"],
        ),
    ),
    Quote(
        METHODS,
        "{:.1f}x faster than scikit-activeml's `CoreSet` on Gaussian data ({:.1f} s vs {:.1f} s;",
        KC,
        lambda d: (
            d["results"]["gaussian"]["speedup_vs_skactiveml"],
            _block("gaussian", "auto")(d)["seconds"],
            _block("gaussian", "skactiveml")(d)["seconds"],
        ),
    ),
    Quote(
        METHODS,
        "{:.1f}x on pooled Lite0 embeddings of augmented views ({:.1f} s vs {:.1f} s; {:.1f} % of the"
        " distances computed)",
        KC,
        lambda d: (
            d["results"]["embeddings"]["speedup_vs_skactiveml"],
            (e := _block("embeddings", "auto")(d))["seconds"],
            _block("embeddings", "skactiveml")(d)["seconds"],
            100 * e["stats"]["rows_fraction"],
        ),
    ),
    Quote(
        METHODS,
        "adding {:.2f}x and {:.2f}x the feature matrix in peak memory (scikit-activeml: {:.1f}x)",
        KC,
        lambda d: (
            d["results"]["gaussian"]["peak_memory_over_features"],
            d["results"]["embeddings"]["peak_memory_over_features"],
            _block("embeddings", "skactiveml")(d)["peak_memory_over_features"],
        ),
    ),
    Quote(
        METHODS,
        "`dims=128` reaches {:.2f}x (Gaussian) and {:.2f}x (embeddings) the exact covering radius",
        KC,
        lambda d: tuple(_block(ds, "pca128")(d)["radius_over_exact"] for ds in ("gaussian", "embeddings")),
    ),
    Quote(
        METHODS,
        "`float16` the same radius with {:.1f} % of the picks and barely faster ({:.1f} s vs {:.1f} s"
        " for the plain loop)",
        KC,
        lambda d: (
            100 * (f := _block("embeddings", "float16")(d))["overlap_with_exact"],
            f["seconds"],
            _block("embeddings", "exact")(d)["seconds"],
        ),
    ),
    Quote(
        METHODS,
        "scikit-activeml's differ from pick {} on Gaussian data",
        KC,
        "results/gaussian/skactiveml_first_divergence/step",
        "{}",
    ),
    Quote(
        METHODS,
        "and from pick {} on the embeddings",
        KC,
        "results/embeddings/skactiveml_first_divergence/step",
    ),
]


SCALING, AUDIT_DOC = "docs/scaling.md", "docs/audit.md"


def _scoring(d: dict) -> tuple:
    s = d["results"]["scoring"]
    return tuple(
        v for b in ("torch", "onnxruntime") for v in (s[b]["images_per_second"], s[b]["peak_rss_mb"] / 1000)
    )


def _round(n: str) -> Callable[[dict], tuple]:
    def values(d: dict) -> tuple:
        r = d["results"]["round"][n]
        sec = r["seconds"]
        return (
            sec["train"],
            sec["score"],
            sec["select_least_confidence"],
            sec["select_kcenter"],
            r["peak_rss_mb"] / 1000,
        )

    return values


def _sci(value: float) -> str:
    """One significant digit as the docs write it: 4e-7."""
    return f"{value:.0e}".replace("e-0", "e-")


def _audit_pk(d: dict) -> tuple:
    names = ("uniform_0.2", "ranked_0.2", "ranked_net_0.2", "ranked_0.4", "ranked_net_0.4")
    return tuple(
        d["results"][n][m]["precision_at_k"]["mean"] for n in names for m in ("lesionlab", "cleanlab")
    )


QUOTES += [
    Quote(
        SCALING,
        "decoding included (2 compute threads, 1 decoding thread) | {:.1f} images/s, peak {:.1f} GB |"
        " **{:.1f} images/s**, peak {:.1f} GB |",
        "scale.json",
        _scoring,
    ),
    Quote(
        SCALING,
        "| 10,000 images | {:.0f} s | {:.0f} s | {:.2f} s | {:.0f} s | {:.2f} GB |",
        "scale.json",
        _round("10000"),
    ),
    Quote(
        SCALING,
        "| 100,000 images | {:.0f} s | {:.0f} s | {:.2f} s | {:.0f} s | {:.2f} GB ({:.2f}x) |",
        "scale.json",
        lambda d: (*_round("100000")(d), d["targets"]["round_peak_memory_ratio"]["ratio"]),
    ),
    Quote(
        SCALING,
        "--parts scoring round ray --threads 2`, {:.0f} min;",
        "scale.json",
        lambda d: d["wall_seconds"] / 60,
    ),
    Quote(
        SCALING,
        "its predictions equal torch's to {} (probabilities)",
        "scale.json",
        lambda d: _sci(d["results"]["scoring"]["onnxruntime"]["onnx_check"]["probs_max_abs_diff"]),
    ),
    Quote(
        SCALING,
        "Ten times the pool costs {:.2f} times the memory",
        "scale.json",
        "targets/round_peak_memory_ratio/ratio",
    ),
    Quote(
        SCALING,
        "the demo (2 seeds) {:.2f}x faster on Ray, the ISIC 2017 experiment (2 strategies) {:.2f}x",
        "scale.json",
        lambda d: tuple(
            d["results"]["ray"][e]["wall_ratio_serial_over_ray"] for e in ("demo", "isic2017_melanoma")
        ),
    ),
    Quote(
        SCALING,
        "Ray's start-up ({:.0f} s) is timed apart",
        "scale.json",
        lambda d: d["results"]["ray"]["demo"]["ray_start_seconds"],
    ),
    Quote(
        AUDIT_DOC,
        "uniform noise at 20 %: {:.3f} vs {:.3f}; model-ranked noise (the hardest images flipped, Xue"
        " et al.'s"
        " protocol) at 20 %: {:.3f} vs {:.3f} with a linear scorer, {:.3f} vs {:.3f} with a network"
        " scorer; at 40 %:"
        " {:.3f} vs {:.3f} and {:.3f} vs {:.3f}",
        "label_audit.json",
        _audit_pk,
    ),
]


@pytest.mark.parametrize("quote", QUOTES, ids=ids(QUOTES))
def test_quoted_figure_is_the_results_file_value(quote: Quote) -> None:
    check(quote)


def test_kcenter_speed_md_is_drawn_from_its_json() -> None:
    """The committed markdown is what `kcenter_report.markdown` draws from the committed JSON (issue 35: its
    opening lines had kept describing an older comparison)."""
    import sys

    sys.path.insert(0, str(RESULTS.parent))
    from kcenter_report import markdown
    from kcenter_speed import N_ROWS

    d = load("kcenter_speed.json")
    config = {**d["config"], "rows": d["config"].get("rows", N_ROWS)}
    lines = markdown(d["results"], config, d["wall_seconds"])
    assert (RESULTS / "kcenter_speed.md").read_text() == "\n".join(lines) + "\n"
    assert lines[2].startswith("The current measurement is the every-size table below")


def test_results_files_record_the_reference_packages() -> None:
    """label_audit.json names cleanlab's and PyNomaly's versions, scale.json onnxruntime's and ray's
    (issue 35)."""
    audit = load("label_audit.json")["config"]
    assert set(audit["versions"]) == {"cleanlab", "PyNomaly"}
    assert {"views", "tune_sets", "noisy_oracle", "loop_speed_by_dim"} <= set(audit)
    for name in ("scale.json", "scale_check.json"):
        packages = load(name)["config"]["package_versions_at_write"]
        assert {"onnxruntime", "ray"} <= set(packages), name
        assert all(v != "not installed" for v in packages.values()), name
    assert all(
        v != "not recorded" for v in load("scale_check.json")["config"]["package_versions_by_unit"].values()
    )
