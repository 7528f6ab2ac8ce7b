"""What CHANGELOG.md says of the one-trainer refactor is what `benchmarks/results/trainer_check.json` holds:
every selection and metric identical before and after, except segmentation's MC dropout (re-salted by
design), and full-data ISIC 2017 melanoma identical to the last digit."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = json.loads((ROOT / "benchmarks" / "results" / "trainer_check.json").read_text())["results"]


def test_only_the_re_salted_mc_dropout_run_differs() -> None:
    differing = sorted(
        k for k, v in RESULT["runs"].items() if not (v["identical_selections"] and v["identical_metrics"])
    )
    assert differing == ["seg/pixel_mc_dropout/seed0"] and RESULT["unexpected_differences"] == []
    assert RESULT["identical_runs"] == RESULT["compared_runs"] - 1 >= 8  # 6 demo runs + 2 segmentation
    assert RESULT["full_data_isic2017_melanoma_seed0"]["identical"]


def test_the_changelog_states_what_the_check_measured() -> None:
    text = " ".join((ROOT / "CHANGELOG.md").read_text().split())
    assert "`pixel_mc_dropout` picks differ" in text
    assert "every other selection and metric is identical (`benchmarks/results/trainer_check.md`)" in text
