"""HTML report of an active-learning experiment: summary numbers by hand, and a report that renders."""

from __future__ import annotations

import base64
import json
import re
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionlab.evaluation.report import summarize, write_report

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
