"""Figures quoted in docs/methods.md (k-center), docs/scaling.md and docs/audit.md, read from their results
files (the table's columns: tests/doc_figures.py); and the results files' own records those docs rely on."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from doc_figures import RESULTS, Quote, check, ids, load

QUOTES: list[Quote] = []


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
