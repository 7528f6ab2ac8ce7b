"""`lesionlab evaluate --positive NAME`: binary metrics describe the class the person names, on the run's
own data or a folder source (issue 31, item 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fake_isic import TinyIsic, make_tiny_isic
from lesionlab.cli import app
from lesionlab.errors import ConfigError
from lesionlab.models.registry import create_classifier
from lesionlab.supervised import evaluate_run
from test_evaluate_run import fake_run, folder_of_test_images

pytestmark = [pytest.mark.usefixtures("offline_single_thread"), pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyIsic:
    return make_tiny_isic(tmp_path_factory.mktemp("positive") / "isic2017")


def test_positive_names_the_class_binary_metrics_describe(tiny: TinyIsic, tmp_path: Path) -> None:
    run = fake_run(tmp_path / "run", create_classifier("efficientnet_lite0", 2, "imagenet", seed=0), tiny)
    own = evaluate_run(run, "test", n_boot=20)
    flipped = evaluate_run(run, "test", n_boot=20, positive="Other")
    assert own["positive_class"] == "melanoma" and flipped["positive_class"] == "other"
    assert flipped["classes"] == ["melanoma", "other"]
    m, f = own["metrics"], flipped["metrics"]
    assert f["sensitivity"] == pytest.approx(m["specificity"]) and f["specificity"] == pytest.approx(
        m["sensitivity"]
    )
    assert f["auc"] == pytest.approx(m["auc"]) and f["accuracy"] == pytest.approx(m["accuracy"])
    same = evaluate_run(run, "test", n_boot=20, positive="melanoma")
    assert same["metrics"] == pytest.approx(m)
    with pytest.raises(ConfigError, match="not one of the model's classes: other, melanoma"):
        evaluate_run(run, "test", n_boot=20, positive="nevus")

    # On a folder source, from the command line: the title names the chosen class.
    data = folder_of_test_images(tiny, tmp_path, {0: "other", 1: "melanoma"})
    out = tmp_path / "eval.json"
    args = ["evaluate", str(run), "--data", "folder", "--root", str(data.root), "--csv", data.options["csv"]]
    result = CliRunner().invoke(
        app, [*args, "--split", "all", "--bootstrap", "20", "--positive", "other", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "positive class: other" in " ".join(result.output.split())
    assert "decision rule" in result.output  # classification still states its rule
    assert json.loads(out.read_text())["metrics"]["sensitivity"] == pytest.approx(m["specificity"])
