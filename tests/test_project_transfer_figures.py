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


RESULTS = ROOT / "benchmarks" / "results"
TEXT = " ".join(DOCS.split())


def _pm(d: dict) -> str:
    return f"{d['mean']:+.3f} ± {d['se']:.3f}"


def test_paired_differences_by_count_are_the_json_ones() -> None:
    res = RESULT["results"]
    ham, isic = res["ham10000_from_isic2017"], res["isic2017_from_ham10000"]
    quoted = [
        (isic, "80", " at 80 labels"),
        (isic, "200", " at 200"),
        (ham, "40", " at 40"),
        (ham, "120", " at 120"),
        (ham, "160", " at 160"),
        (ham, "200", " at 200 (a tie"),
    ]
    for clinic, count, after in quoted:
        assert _pm(clinic["from_run_minus_scratch"][count]) + after in TEXT, (count, after)
    for clinic in (ham, isic):
        d = clinic["from_run_40_minus_scratch_200"]
        assert f"{d['mean']:+.3f} ± {d['se']:.3f}" in TEXT
    assert all(ham["from_run_minus_scratch"][c]["all_at_least_zero"] for c in ("40", "80", "120"))
    assert not ham["from_run_minus_scratch"]["160"]["all_at_least_zero"]


def test_before_the_coverage_share_figures_are_the_kept_json_ones() -> None:
    before = json.loads((RESULTS / "transfer_start_before_mix.json").read_text())["results"]
    ham, isic = before["ham10000_from_isic2017"], before["isic2017_from_ham10000"]
    a, b = ham["from_run_40_minus_scratch_200"]["mean"], isic["from_run_40_minus_scratch_200"]["mean"]
    assert f"(before the coverage share: {a:+.3f} and {b:+.3f})" in TEXT
    assert f"({_pm(ham['from_run_minus_scratch']['200'])} at 200)" in TEXT


def test_labels_table_is_the_jsonl_means() -> None:
    import numpy as np

    rows = [json.loads(x) for x in (RESULTS / "transfer_start_labels.jsonl").read_text().splitlines() if x]
    for clinic in RESULT["config"]["clinics"]:
        as_is = next(r["v0_as_is"] for r in rows if r["clinic"] == clinic and "v0_as_is" in r)
        for n in (40, 200):
            for arm in ("scratch", "from_run"):
                sel = [r for r in rows if r["clinic"] == clinic and r.get("n") == n and r.get("arm") == arm]
                assert len(sel) == 3
                m = {k: np.mean([r[k] for r in sel]) for k in ("melanomas", "imagenet", "v0")}
                line = (
                    f"| {clinic} | {n} | {arm} | {m['melanomas']:.1f} | {m['imagenet']:.3f} | {m['v0']:.3f} "
                    f"| {as_is:.3f} |"
                )
                assert line in DOCS, line


def test_unit_minutes_and_bad_choices_quoted_are_the_json_ones() -> None:
    res, units = RESULT["results"], RESULT["units"]
    ham, isic = res["ham10000_from_isic2017"]["units"], res["isic2017_from_ham10000"]["units"]
    minutes = [ham["from_run"], isic["from_run"], ham["scratch"], isic["scratch"]]
    m = [f"{u['minutes_per_unit']['mean']:.1f}" for u in minutes]
    assert (
        f"`from_run` unit took {m[0]} and {m[1]} min" in TEXT
        and f"`scratch` unit {m[2]} and {m[3]} min" in TEXT
    )
    bad = [("ham10000_from_isic2017:from_run:0", "160"), ("isic2017_from_ham10000:from_run:2", "200")]
    for unit, count in bad:
        row = units[unit]["counts"][count]
        assert row["start"] == "pretrained" and f"at {count} labels: {row['auc']:.3f}" in TEXT.replace(
            f"at {count}: ", f"at {count} labels: "
        )


def test_why_40_cannot_match_200_figures_are_the_jsonl_means() -> None:
    import numpy as np

    rows = [json.loads(x) for x in (RESULTS / "transfer_start_labels.jsonl").read_text().splitlines() if x]

    def mean(clinic: str, n: int, key: str) -> str:
        sel = [
            r[key] for r in rows if r["clinic"] == clinic and r.get("n") == n and r.get("arm") == "scratch"
        ]
        return f"{np.mean(sel):.3f}"

    ham, isic = RESULT["config"]["clinics"]
    assert f"(fine-tuned from version 0: {mean(ham, 40, 'v0')} and {mean(isic, 40, 'v0')})" in TEXT
    assert f"from 200 ({mean(ham, 200, 'imagenet')} and {mean(isic, 200, 'imagenet')})" in TEXT
