"""The benchmarks' tables word savings as the reports do: never a saving for a row whose mean ALC is below
the baseline's (issue 31, item 6, in the benchmark summaries as well as in report.html)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from common import saving_cell


def test_a_row_below_the_baseline_shows_no_saving() -> None:
    row = {"alc": {"mean": 0.70}, "saving_vs_random": {"value": 0.25, "target": 0.8}}
    assert saving_cell(row, baseline_alc=0.72) == "no saving (ALC below)"
    assert saving_cell(row, baseline_alc=0.69) == "+25%"


def test_missing_savings_and_other_keys() -> None:
    assert saving_cell({"alc": {"mean": 0.8}, "saving_vs_random": None}, 0.7) == "—"
    row = {"alc": {"mean": 0.8}, "saving_vs_rft": {"value": -0.1}}
    assert saving_cell(row, 0.7, key="saving_vs_rft") == "-10%"
