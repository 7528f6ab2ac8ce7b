"""README.md's and docs/demo.md's demo figures (issue 36): each preset's report sentence, ALC, p, seeds
ahead and CPU seconds, read from benchmarks/results/demo_<preset>.json (written by benchmarks/demo.py; the
table's columns: tests/doc_figures.py)."""

from __future__ import annotations

import pytest

from doc_figures import Quote, check, ids, load

README = "README.md"
DEMO = "docs/demo.md"
SK = "demo_sk.json"
MEL = "demo_melanoma.json"


def _alc(name: str) -> str:
    return f"outcome/strategies/{name}/alc"


def _wall(d: dict) -> tuple[float, float]:
    """Wall seconds of the cold run and the slowest warm one (measured with the machine otherwise idle)."""
    walls = [r["wall_seconds"] for r in d["runs"]]
    return walls[0], max(walls[1:])


QUOTES: list[Quote] = []
for doc in (README, DEMO):
    QUOTES += [
        Quote(doc, "{}", SK, "outcome/headline"),
        Quote(
            doc,
            "BALD's ALC is above random's in {} of 16 seeds ({:.3f} against {:.3f})",
            SK,
            ("outcome/strategies/bald/seeds_ahead", _alc("bald"), _alc("random")),
        ),
        Quote(
            doc,
            "{:.0f} CPU seconds the first (cold) time and at most {:.0f} with a warm cache",
            SK,
            ("cpu_cold", "cpu_warm_max"),
        ),
        Quote(doc, "{:.0f} s wall the first (cold) time and at most {:.0f} s with a warm cache", SK, _wall),
        Quote(doc, "{}", MEL, "outcome/headline"),
        Quote(
            doc,
            "ALC {:.3f} random, {:.3f} least confidence, {:.3f} BALD",
            MEL,
            (_alc("random"), _alc("least_confidence"), _alc("bald")),
        ),
        Quote(
            doc,
            "It takes at most {:.0f} CPU seconds with a warm cache (one process, one thread), {:.0f}"
            " the first time",
            MEL,
            ("cpu_warm_max", "cpu_cold"),
        ),
    ]
QUOTES += [
    Quote(
        DEMO,
        "Mean test AUC by labels (100, 150, 200, 250, 300): random {:.3f}, {:.3f}, {:.3f}, {:.3f},"
        " {:.3f}; BALD {:.3f}, {:.3f}, {:.3f}, {:.3f}, {:.3f}",
        SK,
        lambda d: (
            *d["outcome"]["strategies"]["random"]["curve"],
            *d["outcome"]["strategies"]["bald"]["curve"],
        ),
    ),
    Quote(
        DEMO,
        "the runs took {:.0f}, {:.0f} and {:.0f} CPU seconds",
        SK,
        lambda d: tuple(r["cpu_seconds"] for r in d["runs"]),
    ),
    Quote(
        DEMO,
        "(the runs took {:.0f}, {:.0f} and {:.0f} s wall)",
        SK,
        lambda d: tuple(r["wall_seconds"] for r in d["runs"]),
    ),
    Quote(
        DEMO,
        "gave {:.0f}, {:.0f} and {:.0f} CPU seconds (wall {:.1f}, {:.1f} and {:.1f} min)",
        "demo_sk_00c46ea.json",
        lambda d: (
            *(r["cpu_seconds"] for r in d["runs"]),
            *(r["wall_seconds"] / 60 for r in d["runs"]),
        ),
    ),
    Quote(
        DEMO,
        "melanoma's took {:.0f}, {:.0f} and {:.0f}",
        MEL,
        lambda d: tuple(r["cpu_seconds"] for r in d["runs"]),
    ),
]


@pytest.mark.parametrize("quote", QUOTES, ids=ids(QUOTES))
def test_doc_quotes_the_results_file(quote: Quote) -> None:
    check(quote)


@pytest.mark.parametrize("name", [SK, MEL])
def test_the_quoted_runs_were_repeatable_and_of_the_shipped_preset(name: str) -> None:
    """Every run made the same selections, and the file measured the preset as it is shipped now."""
    import dataclasses

    from lesionlab.demo_presets import PRESETS

    data = load(name)
    assert data["same_selections"] and data["same_round_lines"] and len(data["runs"]) == 3
    preset = PRESETS[data["config"]["preset"]]
    shipped = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(preset).items()}
    assert data["preset"] == shipped
    assert data["seeds"] == list(range(preset.seeds))
