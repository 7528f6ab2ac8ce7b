"""The sentence a report opens with (HTML and terminal): which strategy saved how many labels, or none."""

from __future__ import annotations

from pathlib import Path

from markupsafe import escape  # what the template escapes with
from rich.console import Console

from lesionlab.evaluation.headline import headline
from lesionlab.evaluation.report import write_report
from lesionlab.evaluation.summary import summarize
from lesionlab.runner.summary_table import print_summary


def _round(r: int, auc: float) -> dict:
    n = 50 * (r + 1)
    return {"round": r, "n_labeled": n, "fraction": n / 1000, "metrics": {"auc": auc}}


def _results(curves: dict[tuple[str, int], list[float]]) -> dict:
    runs = [
        {"strategy": s, "seed": seed, "rounds": [_round(r, a) for r, a in enumerate(curve)]}
        for (s, seed), curve in curves.items()
    ]
    return {"name": "t", "metric": "auc", "classes": ["other", "sk"], "evaluated_on": "test", "runs": runs}


def _better(n_seeds: int) -> dict:
    """bald above random in every seed: random's best mean (0.8025) at 200 labels, bald's before 100."""
    curves = {}
    for seed in range(n_seeds):
        d = 0.001 * seed  # seeds differ a little, so the test over seeds has distinct ranks
        curves[("random", seed)] = [0.60 + d, 0.70 + d, 0.75 + d, 0.80 + d]
        e = 0.002 * seed  # and so do bald's gains (a constant gain makes scipy's t-test warn)
        curves[("bald", seed)] = [0.60 + d, 0.81 + d, 0.82 + d + e, 0.84 + d + e]
    return _results(curves)


def test_headline_names_the_significant_saving_with_labels_p_and_seeds() -> None:
    text = headline(summarize(_better(6)))
    # bald's mean curve goes from 0.6025 at 50 labels to 0.8125 at 100: 0.8025 at 50 + 50 * 0.2 / 0.21
    assert text.startswith("bald reached random's best test auc (0.802, reached by random with 200 labels)")
    assert "with 98 labels: 102 fewer (51%)" in text
    assert "paired Wilcoxon test over 6 seeds, p = 0.0312" in text


def test_headline_says_no_saving_when_the_test_over_seeds_is_not_significant() -> None:
    text = headline(summarize(_better(2)))  # two seeds: the exact test cannot go below p = 0.5
    assert text.startswith("No strategy saved labels against random with a significant paired test")
    assert "bald" in text and "p = 0.5" in text and "2 seeds" in text
    worse = _results({("random", 0): [0.6, 0.8], ("random", 1): [0.6, 0.8], ("lc", 0): [0.6, 0.7]})
    assert "the closest, lc, moved the test auc averaged over the learning curve (ALC) by -0.050" in (
        headline(summarize(worse))
    )
    assert "(no paired test (fewer than two seeds), 1 seed)" in headline(summarize(worse))
    assert headline(summarize(_results({("random", 0): [0.6, 0.7]}))).startswith("No saving measured")


def test_report_and_terminal_summary_open_with_the_headline(tmp_path: Path) -> None:
    results = _better(6)
    sentence = headline(summarize(results))
    html = write_report(results, tmp_path).read_text(encoding="utf-8")
    assert html.index(f'<p class="headline">{escape(sentence)}</p>') < html.index("<h2>Summary</h2>")
    console = Console(width=100, record=True, color_system=None)
    print_summary(results, console)
    assert " ".join(console.export_text().split()).startswith(sentence)  # wrapped to the console: first
