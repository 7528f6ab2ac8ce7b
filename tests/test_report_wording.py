"""Reports that must not mislead (issue 31, item 6): a strategy below random is never credited with a
"saving", and the label audit never "suggests" the label an image already has."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from lesionlab.audit import audit_labels
from lesionlab.audit.review_files import write_audit
from lesionlab.evaluation.report import write_report
from lesionlab.evaluation.summary import NO_SAVING, saving_text, summarize
from test_report import make_results

# Entropy touches random's best mean (0.80) a round earlier, but lies below random over the budget.
BELOW_RANDOM = {
    ("random", 0): [0.70, 0.72, 0.80],
    ("random", 1): [0.70, 0.72, 0.80],
    ("entropy", 0): [0.50, 0.81, 0.79],
    ("entropy", 1): [0.50, 0.81, 0.79],
}


def test_a_strategy_whose_alc_is_below_randoms_is_not_reported_as_a_saving(tmp_path: Path) -> None:
    summary = summarize(make_results(tmp_path, BELOW_RANDOM))
    entropy, random = summary["strategies"]["entropy"], summary["strategies"]["random"]
    saving = entropy["saving_vs_random"]
    assert entropy["alc"]["mean"] < random["alc"]["mean"]
    assert saving["value"] > 0  # labels-to-target alone would call it a saving ...
    assert saving["alc_below_random"] is True  # ... which the wording must not
    assert saving_text(saving) == NO_SAVING == "no saving: ALC below random's"
    page = write_report(make_results(tmp_path, BELOW_RANDOM), tmp_path / "out").read_text(encoding="utf-8")
    assert f"<td>{NO_SAVING.replace(chr(39), '&#39;')}</td>" in page or f"<td>{NO_SAVING}</td>" in page
    assert f"{saving['value']:.1%}" not in page


def test_a_saving_above_random_keeps_its_number_and_caveat() -> None:
    base = {"value": 0.25, "alc_below_random": False}
    assert saving_text(base | {"significant": True}) == "25.0%"
    assert saving_text(base | {"significant": False}) == "25.0% (not significant)"
    assert saving_text(base | {"significant": None}) == "25.0% (untested)"
    assert saving_text(None) == "n/a" and saving_text(base | {"value": None}) == "n/a"
    more = base | {"value": -0.08, "significant": False}
    assert saving_text(more) == "no saving: 8.0% more labels than random (not significant)"


def test_the_audit_never_suggests_the_given_label(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 120)
    x = rng.normal(0, 3, (3, 8))[y] + rng.normal(0, 1, (120, 8))
    given = y.copy()
    given[:6] = (y[:6] + 1) % 3  # a few wrong labels among many right ones
    ids = [f"i{i}" for i in range(120)]
    result = audit_labels(x, given, ["a", "b", "c"], ids=ids)
    rows = result.rows()
    assert all(r["suggested_label"] != r["given_label"] for r in rows)
    agrees = [r for r in rows if r["suggested_label"] == ""]
    assert len(agrees) > 60  # most labels are right: nothing to suggest for them
    assert any(r["suggested_label"] for r in rows[:6])  # the wrong ones get their likely class
    write_audit(result, tmp_path, top=20)
    csv_rows = list(csv.DictReader((tmp_path / "audit.csv").open()))
    assert all(r["suggested_label"] != r["given_label"] for r in csv_rows)
    html = (tmp_path / "audit.html").read_text()
    for r in rows[:20]:
        assert f"given: <b>{r['given_label']}</b><br>\nsuggested: <b>{r['given_label']}</b>" not in html
    if any(not r["suggested_label"] for r in rows[:20]):
        assert "none</b>\n(the model's most probable class is the given one)" in html
