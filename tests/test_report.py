"""HTML report of an active-learning experiment: summary numbers by hand, and a report that renders."""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

import lesionlab.evaluation
from lesionlab.cli import app
from lesionlab.errors import ConfigError
from lesionlab.evaluation import figures
from lesionlab.evaluation.report import write_report
from lesionlab.evaluation.summary import summarize
from lesionlab.runner.summary_table import load_results, print_summary

CLASSES = ["other", "melanoma"]


def make_round(r: int, auc: float, images: list[str] | None = None, scale: float = 1.0) -> dict:
    n = 20 * (r + 1)
    return {
        "round": r,
        "n_labeled": n,
        "fraction": n / 200,
        "metrics": {"auc": auc, "acc": 0.5 + auc / 4, "bacc": auc - 0.1, "per_class": {"other": 1.0}},
        "selection_seconds": 1.0 * scale,
        "train_seconds": 10.0 * scale,
        "new_ids": [f"id{r}_{k}" for k in range(3)],
        "new_scores": [0.9, 0.5, 0.1],
        "new_class_counts": {"other": 15, "melanoma": 5} if r == 0 else {"other": 12, "melanoma": 8},
        "top_images": images or [],
    }


def make_results(tmp_path: Path, aucs: dict[tuple[str, int], list[float]], full: float | None = 0.8) -> dict:
    """Runs with the given AUC curves; the (entropy, 0) run gets two real thumbnails and a missing one."""
    pictures = []
    for k, color in enumerate(("red", "blue")):
        path = tmp_path / "images" / f"img{k}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (300, 200), color).save(path)
        pictures.append(str(path))
    missing = str(tmp_path / "images" / "gone <&>.jpg")
    runs = []
    for (strategy, seed), curve in aucs.items():
        gallery = [*pictures, missing] if (strategy, seed) == ("entropy", 0) else None
        rounds = [make_round(r, auc, gallery) for r, auc in enumerate(curve)]
        runs.append({"strategy": strategy, "seed": seed, "rounds": rounds})
    return {
        "name": "demo <experiment>",
        "metric": "auc",
        "classes": CLASSES,
        "full_data": None if full is None else {"auc": full, "acc": 0.8},
        "runs": runs,
        "config": {"budget": 20, "note": "<script>alert(1)</script>"},
        "versions": {"numpy": np.__version__},
    }


TWO_BY_TWO = {
    ("random", 0): [0.60, 0.70, 0.75],
    ("random", 1): [0.62, 0.68, 0.77],
    ("entropy", 0): [0.60, 0.78, 0.80],
    ("entropy", 1): [0.64, 0.76, 0.82],
}


# --- summarize -----------------------------------------------------------------------------------------


def test_summarize_constant_curve_by_hand(tmp_path: Path) -> None:
    summary = summarize(make_results(tmp_path, {("random", 0): [0.7, 0.7, 0.7]}, full=0.7))
    s = summary["strategies"]["random"]
    assert s["alc"]["mean"] == pytest.approx(0.7)  # a constant curve's ALC is its constant
    assert s["fraction"] == pytest.approx([0.1, 0.2, 0.3])
    assert s["n_labeled"] == [20, 40, 60]
    assert s["curves"]["auc"][1]["mean"] == pytest.approx(0.7)
    assert s["curves"]["auc"][1]["sem"] is None  # one seed: spread unknown, and strict JSON
    assert "per_class" not in s["curves"]  # not a number
    assert set(s["curves"]) == {"auc", "acc", "bacc"}
    # 0.7 >= 0.99 * 0.7 already at round 0.
    assert s["labels_to_target"]["mean"] == pytest.approx(20)
    assert s["labels_to_target"]["n_reached"] == 1
    assert s["saving_vs_random"] is None and s["vs_random"] is None
    json.dumps(summary, allow_nan=False)


def test_summarize_two_strategies_by_hand(tmp_path: Path) -> None:
    summary = summarize(make_results(tmp_path, TWO_BY_TWO, full=0.8))
    assert summary["target"]["value"] == pytest.approx(0.792)
    ent, rnd = summary["strategies"]["entropy"], summary["strategies"]["random"]
    assert list(summary["strategies"]) == ["random", "entropy"]  # order of first appearance

    # Mean curve and standard error of round 1: values 0.78, 0.76.
    assert ent["curves"]["auc"][1]["mean"] == pytest.approx(0.77)
    assert ent["curves"]["auc"][1]["sem"] == pytest.approx(0.01)

    # Per-seed ALC on x = 0.1, 0.2, 0.3: trapezoid / 0.2 = (y0 + 2 y1 + y2) / 4.
    alc0 = (0.60 + 2 * 0.78 + 0.80) / 4
    alc1 = (0.64 + 2 * 0.76 + 0.82) / 4
    assert ent["alc"]["per_seed"] == {"0": pytest.approx(alc0), "1": pytest.approx(alc1)}
    assert ent["alc"]["mean"] == pytest.approx((alc0 + alc1) / 2)
    assert ent["alc"]["se"] == pytest.approx(abs(alc0 - alc1) / 2)

    # Target 0.792: seed 0 interpolates 40 + 20 * (0.792 - 0.78) / 0.02 = 52; seed 1: 40 + 20 * 0.032 / 0.06.
    ltt = ent["labels_to_target"]
    seed1 = 40 + 20 * (0.792 - 0.76) / (0.82 - 0.76)
    assert ltt["per_seed"] == {"0": pytest.approx(52), "1": pytest.approx(seed1)}
    assert ltt["mean"] == pytest.approx((52 + seed1) / 2)
    assert (ltt["n_reached"], ltt["n_seeds"]) == (2, 2)
    assert rnd["labels_to_target"]["n_reached"] == 0
    assert rnd["labels_to_target"]["mean"] is None

    # Saving on mean curves: random's best mean is 0.76 at 60 labels; entropy's mean curve is
    # 0.62, 0.77, 0.81, reaching 0.76 at 20 + 20 * (0.76 - 0.62) / 0.15 labels.
    saving = ent["saving_vs_random"]
    assert saving["target"] == pytest.approx(0.76)
    assert saving["value"] == pytest.approx(1 - (20 + 20 * 0.14 / 0.15) / 60)
    assert rnd["saving_vs_random"] is None

    vs = ent["vs_random"]
    assert vs["seeds_test"]["n"] == 2 and vs["points_test"]["n"] == 6
    assert vs["seeds_test"]["mean_difference"] == pytest.approx(
        ent["alc"]["mean"] - rnd["alc"]["mean"], abs=0.02
    )
    assert 0 <= vs["seeds_test"]["p_wilcoxon"] <= 1

    assert ent["new_class_counts"][0] == {"other": 15.0, "melanoma": 5.0}
    assert ent["train_seconds"] == [10.0, 10.0, 10.0]
    json.dumps(summary, allow_nan=False)


def test_summarize_aligns_seeds_on_rounds_all_finished(tmp_path: Path) -> None:
    results = make_results(tmp_path, {("random", 0): [0.6, 0.7, 0.8], ("random", 1): [0.6, 0.7]})
    summary = summarize(results)
    assert summary["strategies"]["random"]["rounds"] == [0, 1]
    assert any("[2]" in note for note in summary["notes"])


def test_summarize_rejects_duplicate_seeds(tmp_path: Path) -> None:
    results = make_results(tmp_path, {("random", 0): [0.6, 0.7]})
    results["runs"].append(results["runs"][0])
    with pytest.raises(ValueError, match="two runs with seed 0"):
        summarize(results)


# --- write_report --------------------------------------------------------------------------------------


def test_report_renders_everything(tmp_path: Path) -> None:
    results = make_results(tmp_path, TWO_BY_TWO)
    out = write_report(results, tmp_path / "out")
    assert out == tmp_path / "out" / "report.html"
    page = out.read_text(encoding="utf-8")
    summary = summarize(results)

    for name in ("random", "entropy"):
        assert f"<td>{name}</td>" in page
    for name in ("learning_curve", "other_metrics", "class_balance"):
        with Image.open(tmp_path / "out" / f"{name}.png") as im:
            im.verify()
    pngs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(pngs) == 3
    assert base64.b64decode(pngs[0]) == (tmp_path / "out" / "learning_curve.png").read_bytes()
    thumbs = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(thumbs) == 2 * 3  # two real images per round; the missing one is a placeholder
    with Image.open(BytesIO(base64.b64decode(thumbs[0]))) as im:
        assert max(im.size) == 96
    assert page.count('class="missing"') == 3 and "gone &lt;&amp;&gt;.jpg" in page

    ent = summary["strategies"]["entropy"]
    assert f"{ent['alc']['mean']:.3f} ± {ent['alc']['se']:.3f}" in page
    ltt = ent["labels_to_target"]
    assert f"{ltt['mean']:.0f} ± {ltt['se']:.0f}" in page
    assert f"{ent['saving_vs_random']['value']:.1%}" in page
    assert f"{ent['vs_random']['seeds_test']['p_wilcoxon']:.3g} (n=2)" in page
    assert "score 0.9" in page

    # All text escaped; config and versions in collapsible blocks.
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "demo &lt;experiment&gt;" in page
    assert page.count("<details>") == 2
    assert 'src="/' not in page and "file:" not in page  # nothing linked from disk


def test_report_single_seed_single_strategy_without_reference(tmp_path: Path) -> None:
    results = make_results(tmp_path, {("margin", 3): [0.5, 0.6, 0.65]}, full=None)
    for rnd in results["runs"][0]["rounds"]:
        rnd["metrics"] = {"auc": rnd["metrics"]["auc"]}  # no other metrics: that figure is skipped
        rnd["top_images"] = [str(tmp_path / "nowhere.jpg")]
    out = write_report(results, tmp_path / "single")
    page = out.read_text(encoding="utf-8")
    alc = summarize(results)["strategies"]["margin"]["alc"]["mean"]
    assert f"<td>{alc:.3f}</td>" in page  # one seed: no "± 0.000"
    assert "margin" in page and "seed 3" in page
    assert not (tmp_path / "single" / "other_metrics.png").exists()
    with Image.open(tmp_path / "single" / "learning_curve.png") as im:
        im.verify()


def finished_last_round(results: dict, initial: dict[str, int] | None = None) -> dict:
    """As the runner writes them: the last round selects nothing; round 0 may record its labelled set."""
    for run in results["runs"]:
        last = run["rounds"][-1]
        for key in ("new_ids", "new_scores", "new_class_counts", "top_images"):
            last.pop(key, None)
        last.update(finished=True, new_ids=[], selection_seconds=0.0)
        if initial is not None:
            run["rounds"][0]["labeled_class_counts"] = dict(initial)
    return results


# --- class balance -------------------------------------------------------------------------------------


def test_class_balance_starts_with_the_initial_set_and_has_no_empty_last_round(tmp_path: Path) -> None:
    results = finished_last_round(make_results(tmp_path, TWO_BY_TWO), initial={"other": 14, "melanoma": 6})
    summary = summarize(results)
    steps = summary["strategies"]["entropy"]["class_balance"]
    # Rounds 0, 1, 2: the initial set, then the selections after rounds 0 and 1 (first trained on in 1, 2).
    assert [s["label"] for s in steps] == ["initial", "1", "2"]
    assert steps[0]["counts"] == {"other": 14.0, "melanoma": 6.0}
    assert steps[1]["counts"] == {"other": 15.0, "melanoma": 5.0}
    fig = figures.class_balance(summary)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["initial", "1", "2"]
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert 0.0 not in heights[:3] and len(heights) == 2 * 3  # two classes x three bars, none empty

    page = write_report(results, tmp_path / "out").read_text(encoding="utf-8")
    assert "The first bar is the initial labelled set" in page


def test_class_balance_without_a_recorded_initial_set_says_so(tmp_path: Path) -> None:
    results = finished_last_round(make_results(tmp_path, TWO_BY_TWO))
    summary = summarize(results)
    assert [s["label"] for s in summary["strategies"]["random"]["class_balance"]] == ["1", "2"]
    page = write_report(results, tmp_path / "out").read_text(encoding="utf-8")
    assert "initial set&#39;s classes were not recorded" in page


# --- what the page states ------------------------------------------------------------------------------


def _gallery_section(page: str, strategy: str) -> str:
    start = page.index(f"<h3>{strategy} <small>")
    end = page.find("<h3>", start + 1)
    return page[start : end if end != -1 else page.index("<h2>Configuration")]


@pytest.mark.slow
def test_random_gallery_hides_scores(tmp_path: Path) -> None:
    results = make_results(tmp_path, TWO_BY_TWO)
    image = tmp_path / "images" / "img0.png"
    for run in results["runs"]:
        if run["strategy"] == "random":
            for rnd in run["rounds"]:
                rnd["top_images"] = [str(image)]
    page = write_report(results, tmp_path / "out").read_text(encoding="utf-8")
    random_part, entropy_part = _gallery_section(page, "random"), _gallery_section(page, "entropy")
    assert "id0_0" in random_part and "score" not in random_part.replace("no scores are shown", "")
    assert "score 0.9" in entropy_part


@pytest.mark.slow
def test_page_states_evaluation_size_and_positive_class(tmp_path: Path) -> None:
    results = make_results(tmp_path, TWO_BY_TWO) | {"n_eval": 150, "positive_class": "melanoma"}
    page = write_report(results, tmp_path / "a").read_text(encoding="utf-8")
    assert "metrics measured on: <b>150 images</b>" in page
    page = write_report(results | {"evaluated_on": "test"}, tmp_path / "a").read_text(encoding="utf-8")
    assert "metrics measured on: <b>150 images (test split)</b>" in page
    assert "positive class: <b>melanoma</b>" in page
    assert summarize(results)["n_eval"] == 150

    # Older results without them: the size is said to be unknown, the positive class is still named.
    results = make_results(tmp_path, TWO_BY_TWO) | {"classes": ["benign", "malignant"]}
    page = write_report(results, tmp_path / "b").read_text(encoding="utf-8")
    assert "an evaluation set of unrecorded size" in page
    assert "positive class: <b>malignant (the second class; not recorded in the results)</b>" in page

    # Multi-class results have no positive class.
    results = make_results(tmp_path, TWO_BY_TWO) | {"classes": ["a", "b", "c"]}
    assert "positive class" not in write_report(results, tmp_path / "c").read_text(encoding="utf-8")


@pytest.mark.slow
def test_saving_beside_a_non_significant_test_carries_a_caveat(tmp_path: Path) -> None:
    results = make_results(tmp_path, TWO_BY_TWO)
    saving = summarize(results)["strategies"]["entropy"]["saving_vs_random"]
    assert saving["value"] > 0 and saving["significant"] is False  # two seeds: Wilcoxon p is at least 0.5
    page = write_report(results, tmp_path / "a").read_text(encoding="utf-8")
    assert f"<td>{saving['value']:.1%} (not significant)</td>" in page

    one_seed = make_results(tmp_path, {("random", 0): [0.6, 0.7, 0.75], ("entropy", 0): [0.6, 0.78, 0.8]})
    saving = summarize(one_seed)["strategies"]["entropy"]["saving_vs_random"]
    assert saving["significant"] is None
    page = write_report(one_seed, tmp_path / "b").read_text(encoding="utf-8")
    assert f"<td>{saving['value']:.1%} (untested)</td>" in page


# --- files ---------------------------------------------------------------------------------------------


def test_report_files_are_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while writing leaves the previous report and figures intact and no temporary file."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("report.html", "learning_curve.png", "other_metrics.png", "class_balance.png"):
        (out / name).write_text("previous")

    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match=f"no space left in {out} while writing"):  # a DiskFullError
        write_report(make_results(tmp_path, TWO_BY_TWO), out)
    assert sorted(p.name for p in out.iterdir()) == [
        "class_balance.png",
        "learning_curve.png",
        "other_metrics.png",
        "report.html",
    ]
    assert all(p.read_text() == "previous" for p in out.iterdir())


def test_template_ships_with_the_package() -> None:
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '"evaluation/templates/*"' in pyproject
    assert (Path(lesionlab.evaluation.__file__).parent / "templates" / "report.html.j2").is_file()


# --- module boundaries ---------------------------------------------------------------------------------

EVALUATION = Path(lesionlab.evaluation.__file__).parent


@pytest.mark.slow
def test_terminal_summary_does_not_import_matplotlib() -> None:
    code = (
        "import sys, lesionlab.runner.summary_table, lesionlab.evaluation.summary; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'jinja2')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_evaluation_never_imports_supervised() -> None:
    for path in EVALUATION.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not any(n.startswith("lesionlab.supervised") for n in names), path.name
            if isinstance(node, ast.ImportFrom) and node.module == "lesionlab":
                assert "supervised" not in [a.name for a in node.names], path.name


def test_evaluation_modules_stay_small() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in EVALUATION.glob("*.py")}
    assert max(sizes.values()) <= 450, sizes


# --- terminal summary ----------------------------------------------------------------------------------


def test_terminal_summary_never_cuts_names_or_numbers(tmp_path: Path) -> None:
    long_name = "ensemble_jensen_shannon_with_a_long_suffix"
    curves = {("random", 0): [0.6] * 8, ("random", 1): [0.7] * 8, (long_name, 0): [0.5, 0.6]}
    results = make_results(tmp_path, curves) | {"n_eval": 40}
    console = Console(width=90, record=True, color_system=None)
    print_summary(results, console)
    text = console.export_text()
    assert long_name in text and "…" not in text
    assert all(f"{10 * k}%" in text for k in range(1, 9)) and "0.650 ± 0.050" in text
    assert "on 40 images" in text
    assert max(map(len, text.splitlines())) <= 90 and "continued" in text  # split, not cut
    # The long-named strategy stopped after two rounds: its ALC (one seed: no ± 0.000) is in the ALC column.
    last = [line for line in text.splitlines() if long_name in line][-1]
    assert last.split("│")[-2].strip() == f"{summarize(results)['strategies'][long_name]['alc']['mean']:.3f}"

    # Too narrow for a name and one column side by side: wider than the console rather than cut.
    narrow = Console(width=40, record=True, color_system=None)
    print_summary(results, narrow)
    assert long_name in narrow.export_text() and "…" not in narrow.export_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"metric": "auc", "runs": [', "is unreadable"),
        ("[]", "not the results"),
        ('{"runs": []}', "not the results"),
    ],
)
def test_damaged_results_json_names_the_file_and_the_fix(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "results.json").write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        load_results(tmp_path)
    assert str(tmp_path / "results.json") in str(caught.value) and "lesionlab run" in str(caught.value)


def test_report_of_results_without_a_finished_round_is_a_clear_error(tmp_path: Path) -> None:
    results = make_results(tmp_path, {("random", 0): [0.6]})
    results["runs"][0]["rounds"] = []
    (tmp_path / "results.json").write_text(json.dumps(results))
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert isinstance(result.exception, ConfigError) and "nothing to report" in str(result.exception)
