"""The k-center and LoOP speed-ups the docs quote are the ones in their results files (issue 35: figures the
docs quote cannot drift from the JSON they come from)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _text(name: str) -> str:
    return " ".join((ROOT / "docs" / name).read_text().split())


def _x(value: float) -> str:
    return f"{value:.1f}x"


def test_kcenter_speedups_in_methods_md_are_the_json_ones() -> None:
    sizes = json.loads((RESULTS / "kcenter_speed.json").read_text())["results"]["sizes"]
    text = _text("methods.md")
    gaussian = {n: v["by_dataset"]["gaussian"] for n, v in sizes.items()}
    for n in ("10000", "30000", "100000", "300000"):
        assert _x(gaussian[n]["speedup_vs_skactiveml"]) in text, n
    for n in ("10000", "30000"):
        assert _x(sizes[n]["by_dataset"]["embeddings"]["speedup_vs_skactiveml"]) in text, n
    million = gaussian["1000000"]
    assert f"({_x(million['speedup_vs_plain'])};" in text
    seconds = million["seconds_median"]
    assert f"{seconds['auto']:.1f} s against the plain loop's {seconds['plain']:.1f} s" in text
    plain = [v["speedup_vs_plain"] for v in gaussian.values()] + [
        sizes[n]["by_dataset"]["embeddings"]["speedup_vs_plain"] for n in ("10000", "30000")
    ]
    assert f"{min(plain):.1f}-{max(plain):.1f}x faster than the plain loop" in text
    assert all(v["same_picks_as_exact"] for v in sizes.values())
    assert all(v["speedup_vs_skactiveml"] >= 2.5 for v in sizes.values() if v["speedup_vs_skactiveml"])


@pytest.mark.parametrize(
    ("dim", "n"), [("64", "1000"), ("64", "5000"), ("64", "20000"), ("1280", "1000"), ("1280", "5000")]
)
def test_loop_speedups_in_reproduction_md_are_the_json_ones(dim: str, n: str) -> None:
    cell = json.loads((RESULTS / "label_audit.json").read_text())["loop_speed_by_dim"][dim][n]
    text = _text("reproduction.md")
    assert f"{_x(cell['speedup_vs_pynomaly'])}" in text
    assert cell["max_abs_diff"] < 1e-9  # equal scores, as the docs say
