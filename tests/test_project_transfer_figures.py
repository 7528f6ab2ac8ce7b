"""The transfer_start figures docs/annotation.md quotes are the ones in benchmarks/results/transfer_start.json
(figures the docs quote cannot drift from the JSON they come from; see tests/test_speed_figures.py)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = json.loads((ROOT / "benchmarks" / "results" / "transfer_start.json").read_text())
DOCS = (ROOT / "docs" / "annotation.md").read_text()


def _row(label: str) -> list[str]:
    """The cells of the docs table row that starts with `label`."""
    for line in DOCS.splitlines():
        if line.startswith(f"| {label} |"):
            return [c.strip() for c in line.strip("|").split("|")][1:]
    raise AssertionError(f"docs/annotation.md has no table row {label!r}")


def test_auc_table_is_the_json_one() -> None:
    results, counts = RESULT["results"], RESULT["config"]["counts"]
    for clinic in RESULT["config"]["clinics"]:
        for arm in ("scratch", "from_run"):
            expected = [f"{results[clinic][arm][str(c)]['auc']['mean']:.3f}" for c in counts]
            assert _row(f"{clinic}, {arm}") == expected, (clinic, arm)
        seeds = results[clinic]["units"]["from_run"]["seeds"]
        assert f"{clinic}: {len(seeds)} seed" in DOCS


def test_domain_check_figures_are_the_json_ones() -> None:
    text = " ".join(DOCS.split())
    for clinic in RESULT["config"]["clinics"]:
        dc = RESULT["results"][clinic]["domain_check"]
        quoted = (
            f"`{clinic}`: two-sample AUC {dc['two_sample_auc']['mean']:.3f}, "
            f"outlier share {100 * dc['outlier_share']['mean']:.0f} %, verdict {', '.join(dc['verdicts'])}"
        )
        assert quoted in text, quoted


def test_paired_differences_quoted_are_the_json_ones() -> None:
    text = " ".join(DOCS.split())
    for clinic in RESULT["config"]["clinics"]:
        d = RESULT["results"][clinic]["from_run_40_minus_scratch_200"]
        assert f"`{clinic}` {d['mean']:+.3f}" in text, clinic


def _starts_cell(starts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in starts.items()) or "—"


def test_chosen_starts_quoted_are_the_json_ones() -> None:
    results, counts = RESULT["results"], RESULT["config"]["counts"]
    for clinic in RESULT["config"]["clinics"]:
        expected = [_starts_cell(results[clinic]["from_run"][str(c)]["starts"]) for c in counts]
        assert _row(f"{clinic}, start chosen") == expected, clinic
