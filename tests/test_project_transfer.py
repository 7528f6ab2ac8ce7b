"""`project init --from-run`: a project that starts from a `lesionlab train` run (issue 33, section 1).

One tiny run (the fake ISIC tree, 32 px, two epochs) serves every test: the class mapping is checked and
stated or refused, the run's model is version 0 and predicts from label 0 (the queue says which version),
the first `project train` starts from the run's weights, and the domain check tells a shifted image set
from one drawn like the run's training images.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fake_isic import lesion_image, make_tiny_isic, tiny_train_config
from lesionlab.errors import ConfigError
from project_fixtures import make_images, tiny_project_settings

pytest.importorskip("sqlalchemy", reason="the annotation project needs the project extra")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished classification run on the tiny ISIC tree (classes other, melanoma)."""
    from lesionlab.config import TrainRunConfig, load_config
    from lesionlab.supervised import train_run

    base = tmp_path_factory.mktemp("run")
    tiny = make_tiny_isic(base / "isic")
    train = tiny_train_config(epochs=2).model_dump(mode="json")
    config = load_config(
        TrainRunConfig,
        {
            "data": {"source": "isic2017", "root": str(tiny.root), "task": "melanoma"},
            "model": {"backbone": "efficientnet_lite0", "weights": "imagenet"},
            "train": train,
            "output": str(base / "run"),
            "cache_dir": str(base / "cache"),
        },
    )
    train_run(config)
    return base / "run"


def _start(
    tmp_path: Path, run: Path, classes=None, class_map=None, images: Path | None = None, n: int = 24, **extra
):
    from lesionlab.project.transfer import init_from_run

    if images is None:
        images = tmp_path / "images"
        make_images(images, n=n)
    settings = {**tiny_project_settings(), **extra}
    folder = tmp_path / extra.get("folder_name", "proj")
    settings.pop("folder_name", None)
    return init_from_run(folder, images, run, classes, class_map, show_progress=False, **settings)


def test_new_runs_keep_a_summary_of_their_training_images(tiny_run: Path) -> None:
    from lesionlab.evaluation.domain import SUMMARY_FILE, read_summary

    emb = read_summary(tiny_run / SUMMARY_FILE)
    assert emb.shape == (40, 1280)  # every one of the 40 tiny training images (fewer than the 500 kept)


def test_mapping_stated_and_model_v0_predicts_from_label_zero(
    tmp_path: Path, tiny_run: Path, offline_single_thread
) -> None:
    from lesionlab.project.people import Caller
    from lesionlab.project.propose import propose
    from lesionlab.project.service.annotate import queue
    from lesionlab.project.status import format_status, project_status

    with _start(tmp_path, tiny_run, ["benign", "melanoma"]) as project:
        assert project.config.start.class_map == {"other": "benign", "melanoma": "melanoma"}
        (zero,) = project.store.model_versions()
        assert zero.id == 0 and zero.n_labels == 0 and zero.metrics["from_run"] == str(tiny_run.resolve())
        result = propose(project, 5, show_progress=False)
        assert result.model_version == 0 and result.strategy == "entropy+coreset"  # its evidence, round 1
        items = queue(project, Caller("ana", "annotator"), limit=5)["items"]
        assert len(items) == 5
        for item in items:
            assert item["model_version"] == 0
            assert set(item["prediction"]) == {"benign", "melanoma"}
            assert sum(item["prediction"].values()) == pytest.approx(1.0, abs=1e-4)
        text = format_status(project_status(project))
        assert "run 'other' -> project 'benign' (the remaining class)" in text
        assert "domain check:" in text


def test_mapping_refused_in_one_line_naming_both_lists(tmp_path: Path, tiny_run: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _start(tmp_path, tiny_run, ["nevus", "seborrheic_keratosis", "melanoma"])
    message = str(err.value)
    assert "\n" not in message and "[other, melanoma]" in message
    assert "[nevus, seborrheic_keratosis, melanoma]" in message and "--class-map" in message
    with pytest.raises(ConfigError, match="no class of the project is named other, melanoma"):
        _start(tmp_path, tiny_run, ["benign", "malignant"])
    assert not (tmp_path / "proj").exists()  # refused before anything was created
    with pytest.raises(ConfigError, match="neither list has"):
        _start(tmp_path, tiny_run, ["benign", "malignant"], {"other": "benign", "mel": "malignant"})


def test_explicit_class_map_reorders_the_model_outputs(
    tmp_path: Path, tiny_run: Path, offline_single_thread
) -> None:
    import torch

    from lesionlab.project.modelling import new_trainer

    with _start(
        tmp_path, tiny_run, ["malignant", "benign"], {"other": "benign", "melanoma": "malignant"}
    ) as p:
        run_state = torch.load(tiny_run / "model.pt", weights_only=True)["model_state"]
        model = new_trainer(p, progress=False).model
        # the project's class 0 (malignant) is the run's output 1 (melanoma)
        assert torch.equal(model.classifier.weight[0], run_state["classifier.weight"][1])
        assert torch.equal(model.classifier.bias[1], run_state["classifier.bias"][0])


def test_first_train_fine_tunes_the_runs_weights(
    tmp_path: Path, tiny_run: Path, offline_single_thread, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from lesionlab.models.registry import create_classifier
    from lesionlab.project import training

    run_state = torch.load(tiny_run / "model.pt", weights_only=True)["model_state"]
    imagenet = create_classifier("efficientnet_lite0", 2, "imagenet", seed=0).state_dict()
    trained_stage = "stages.6.0.conv_pw.weight"  # a stage the run trained (freeze_stages 5)
    assert not torch.equal(run_state[trained_stage], imagenet[trained_stage])
    starts: list[dict] = []
    real = training.new_trainer

    def spy(*args, **kwargs):
        trainer = real(*args, **kwargs)
        starts.append({k: v.clone() for k, v in trainer.model.state_dict().items()})
        return trainer

    monkeypatch.setattr(training, "new_trainer", spy)
    with _start(tmp_path, tiny_run, ["other", "melanoma"]) as project:
        truth = {i: i.endswith(("0", "2", "4", "6", "8")) for i in project.store.image_ids()}
        for image_id, melanoma in list(truth.items())[:8]:
            project.store.save_label(image_id, int(melanoma), "ana")
        result = training.train_project(project, folds=2, show_progress=False)
        assert result.version == 1
    # candidate fine_tune's two folds start from the run's weights, candidate pretrained's two from
    # ImageNet; the final model (when one is trained) from the chosen start
    assert len(starts) in (4, 5)
    for state in starts[:2]:
        for key in (trained_stage, "classifier.weight", "classifier.bias"):
            assert torch.equal(state[key], run_state[key]), key
    for state in starts[2:4]:
        assert torch.equal(state[trained_stage], imagenet[trained_stage])


def _shifted_images(folder: Path, n: int) -> None:
    """Lesion images drawn like the run's, then colour-inverted: a different-looking acquisition."""
    folder.mkdir(parents=True)
    for k in range(n):
        image = np.array(lesion_image(5000 + k, k % 2 == 0))
        Image.fromarray(255 - image).save(folder / f"s_{k:03d}.jpg", quality=95)


def test_domain_check_separates_a_shifted_set(tmp_path: Path, tiny_run: Path, offline_single_thread) -> None:
    from lesionlab.project import open_project

    with _start(tmp_path / "alike", tiny_run, n=40) as alike:
        near = alike.store.model_versions()[0].metrics["domain_check"]
    _shifted_images(tmp_path / "shifted_images", 40)
    with _start(tmp_path / "shifted", tiny_run, images=tmp_path / "shifted_images") as shifted:
        far = shifted.store.model_versions()[0].metrics["domain_check"]
    assert near["n_reference"] == 40 and near["n_new"] == 40
    assert far["two_sample_auc"] > 0.95 and far["verdict"] == "far"
    assert near["two_sample_auc"] < 0.8 and near["verdict"] != "far"
    assert far["outlier_share"] > near["outlier_share"]
    with open_project(tmp_path / "shifted" / "proj") as again:  # status reads it back
        from lesionlab.project.status import project_status

        assert project_status(again)["start"]["domain_check"]["verdict"] == "far"


def test_old_run_without_summary_says_so(tmp_path: Path, tiny_run: Path, offline_single_thread) -> None:
    from lesionlab.evaluation.domain import SUMMARY_FILE

    old = tmp_path / "old_run"
    shutil.copytree(tiny_run, old)
    (old / SUMMARY_FILE).unlink()
    with _start(tmp_path / "reachable", old) as project:  # its training data is still there: recomputed
        check = project.store.model_versions()[0].metrics["domain_check"]
        assert check["reference"].startswith("recomputed") and "two_sample_auc" in check
    stored = json.loads((old / "metrics.json").read_text())
    stored["config"]["data"]["root"] = str(tmp_path / "moved_away")
    (old / "metrics.json").write_text(json.dumps(stored))
    with _start(tmp_path / "gone", old) as project:
        check = project.store.model_versions()[0].metrics["domain_check"]
        assert check["verdict"] == "unknown"
        assert "has no summary of its training images" in check["text"] and "\n" not in check["text"]


def test_segmentation_run_refused_in_one_line(tmp_path: Path, tiny_run: Path) -> None:
    seg = tmp_path / "seg_run"
    shutil.copytree(tiny_run, seg)
    stored = json.loads((seg / "metrics.json").read_text())
    stored["config"]["task"] = "segmentation"
    (seg / "metrics.json").write_text(json.dumps(stored))
    with pytest.raises(ConfigError, match="for classification runs only"):
        _start(tmp_path, seg)


def test_cli_init_from_run_and_first_proposal_say_model_v0(
    tmp_path: Path, tiny_run: Path, offline_single_thread
) -> None:
    from typer.testing import CliRunner

    from lesionlab.cli import app

    make_images(tmp_path / "images", n=16)

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, ["project", *args])
        assert result.exit_code == 0, result.output + repr(result.exception)
        return " ".join(result.output.split())

    out = run("init", str(tmp_path / "p"), "--images", str(tmp_path / "images"), "--from-run", str(tiny_run))
    assert "model v0:" in out and "run 'melanoma' -> project 'melanoma'" in out and "domain check:" in out
    out = run("propose", str(tmp_path / "p"), "--budget", "3")
    assert "proposed by entropy+coreset (model v0)" in out  # was "(pretrained backbone)": v0 is falsy
    images = str(tmp_path / "images")
    args = [
        "init",
        str(tmp_path / "q"),
        "--images",
        images,
        "--from-run",
        str(tiny_run),
        "--class-map",
        "other",
    ]
    bad = CliRunner().invoke(app, ["project", *args])
    assert isinstance(bad.exception, ConfigError) and "RUN_CLASS=PROJECT_CLASS" in str(bad.exception)


def _label_by_version_zero(project, agree: bool, n: int = 12) -> None:
    """Label `n` images as version 0 ranks them (its top half melanoma) or, `agree=False`, the reverse:
    a clinic whose experts agree with the run's model on every image, or contradict it on every one."""
    from lesionlab.project.modelling import load_version

    records = project.records()[:n]
    zero = project.store.model_versions()[0]
    p = load_version(project, zero, progress=False).predict(records)[:, project.classes.index("melanoma")]
    top = set(np.argsort(-p)[: n // 2])
    for i, record in enumerate(records):
        project.store.save_label(record.id, int((i in top) == agree), "ana")


def _version_state(project, version: int):
    import torch

    row = next(v for v in project.store.model_versions() if v.id == version)
    return torch.load(project.dir / row.checkpoint, weights_only=True)["model_state"]


def test_train_keeps_version_zero_when_the_experts_agree_with_it(
    tmp_path: Path, tiny_run: Path, offline_single_thread
) -> None:
    import torch

    from lesionlab.project.training import train_project

    with _start(tmp_path, tiny_run, ["other", "melanoma"]) as project:
        _label_by_version_zero(project, agree=True)
        result = train_project(project, folds=2, show_progress=False)
        stored = json.loads((project.models_dir / "v0001" / "metrics.json").read_text())
        choice = stored["start_choice"]
        assert choice["chosen"] == "as_is" and result.metrics["start_choice"]["chosen"] == "as_is"
        figures = {name: c["auc"] for name, c in choice["candidates"].items()}
        assert set(figures) == {"as_is", "fine_tune", "pretrained"}
        assert figures["as_is"] == 1.0 and result.metrics["auc"] == 1.0  # ranks as the labels do
        assert figures["pretrained"] < 1.0  # ImageNet on 6 labels a fold cannot match it
        assert stored["epochs"] == 0  # no final training: version 0's weights saved again
        zero, one = _version_state(project, 0), _version_state(project, 1)
        assert all(torch.equal(zero[k], one[k]) for k in zero)


def test_train_leaves_version_zero_when_the_experts_contradict_it(
    tmp_path: Path, tiny_run: Path, offline_single_thread
) -> None:
    import torch

    from lesionlab.project.training import train_project

    with _start(tmp_path, tiny_run, ["other", "melanoma"]) as project:
        _label_by_version_zero(project, agree=False)
        result = train_project(project, folds=2, show_progress=False)
        choice = json.loads((project.models_dir / "v0001" / "metrics.json").read_text())["start_choice"]
        figures = {name: c["auc"] for name, c in choice["candidates"].items()}
        assert figures["as_is"] == 0.0  # version 0 ranks every label the wrong way round
        assert choice["chosen"] in ("fine_tune", "pretrained")
        assert figures[choice["chosen"]] == max(figures.values()) > 0.0
        assert result.metrics["auc"] == figures[choice["chosen"]]
        zero, one = _version_state(project, 0), _version_state(project, 1)
        assert not torch.equal(zero["classifier.weight"], one["classifier.weight"])  # trained


def test_project_without_a_run_cross_validates_one_start(
    tmp_path: Path, offline_single_thread, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lesionlab.project import init_project, training

    labels = make_images(tmp_path / "images", n=12)
    calls: list[object] = []
    real = training.new_trainer

    def spy(project, weights=None, **kwargs):
        calls.append(weights)
        return real(project, weights, **kwargs)

    monkeypatch.setattr(training, "new_trainer", spy)
    settings = tiny_project_settings()
    with init_project(tmp_path / "p", tmp_path / "images", ["other", "melanoma"], **settings) as project:
        for image_id, label in labels.items():
            project.store.save_label(image_id, label, "ana")
        result = training.train_project(project, folds=2, show_progress=False)
        stored = json.loads((project.models_dir / "v0001" / "metrics.json").read_text())
    assert result.version == 1 and "start_choice" not in result.metrics
    assert stored["start_choice"] is None and stored["started_from"] == "imagenet"
    assert calls == [None, None, "imagenet"]  # two folds and the final model: no extra candidates


def test_proposals_mix_the_models_uncertainty_with_coverage(
    tmp_path: Path, tiny_run: Path, offline_single_thread
) -> None:
    """Half of each round by version 0's entropy, half by k-center in its embedding space, with everything
    labelled, waiting in the queue and the entropy picks as centres, the two parts alternating in the
    round's order; `coverage_share` 0 and 1 give each part alone, and a strategy asked for by name is used
    alone."""
    from lesionlab.project.modelling import load_version
    from lesionlab.project.propose import propose

    images = tmp_path / "images"
    make_images(images, n=24)
    picks = {}
    for share in (0.0, 0.5, 1.0):
        folder = f"p{share}"
        with _start(tmp_path, tiny_run, images=images, coverage_share=share, folder_name=folder) as project:
            assert project.config.start.coverage_share == share
            project.store.save_label(project.records()[0].id, 1, "ana")
            picks[share] = propose(project, 6, show_progress=False)
            if share == 0.5:
                zero = project.store.model_versions()[0]
                emb = load_version(project, zero, progress=False).embed(project.records())
                ids = [r.id for r in project.records()]
                second = propose(project, 2, show_progress=False)  # the first round still waits
                again = propose(project, 4, strategy="entropy", show_progress=False)
    assert picks[0.0].strategy == "entropy" and picks[1.0].strategy == "coreset"
    mixed = picks[0.5]
    assert mixed.strategy == "entropy+coreset" and len(set(mixed.ids)) == 6
    assert mixed.ids[0::2] == picks[0.0].ids[:3]  # the model's three most uncertain, as alone
    row = {image_id: i for i, image_id in enumerate(ids)}

    def farthest_first(centres: list[int], chosen: list[str]) -> None:
        for image_id in chosen:  # each coverage pick: the image farthest from every centre so far
            d = np.linalg.norm(emb[:, None, :] - emb[None, centres, :], axis=2).min(axis=1)
            d[centres] = -1
            assert np.isclose(d[row[image_id]], d.max(), rtol=1e-4)
            centres.append(row[image_id])

    farthest_first([row[ids[0]], *(row[i] for i in mixed.ids[0::2])], mixed.ids[1::2])
    queued = [row[i] for i in mixed.ids]  # waiting in the queue: covered, not proposed again
    farthest_first([row[ids[0]], *queued, row[second.ids[0]]], second.ids[1:])
    assert again.strategy == "entropy"  # asked for by name: no coverage part


def test_coverage_count_keeps_the_share_on_average() -> None:
    from lesionlab.project.propose import coverage_count

    rng = np.random.default_rng(0)
    assert [coverage_count(0.5, b, rng) for b in (2, 10, 40)] == [1, 5, 20]  # exact: no draw
    assert coverage_count(0.0, 7, rng) == 0 and coverage_count(1.0, 7, rng) == 7
    ones = [coverage_count(0.5, 1, np.random.default_rng(s)) for s in range(400)]
    assert 0.42 < np.mean(ones) < 0.58  # plain rounding gave a budget of 1 no coverage ever
    threes = [coverage_count(0.5, 3, np.random.default_rng(s)) for s in range(400)]
    assert set(threes) == {1, 2} and 1.42 < np.mean(threes) < 1.58


def test_cli_coverage_share_needs_a_run_and_is_kept(
    tmp_path: Path, tiny_run: Path, offline_single_thread
) -> None:
    from typer.testing import CliRunner

    from lesionlab.cli import app
    from lesionlab.project import open_project

    make_images(tmp_path / "images", n=12)
    init = ["project", "init", str(tmp_path / "p"), "--images", str(tmp_path / "images")]
    bad = CliRunner().invoke(app, [*init, "--coverage-share", "0.3"])
    assert isinstance(bad.exception, ConfigError) and "--from-run" in str(bad.exception)
    assert not (tmp_path / "p").exists()
    good = CliRunner().invoke(app, [*init, "--from-run", str(tiny_run), "--coverage-share", "0.25"])
    assert good.exit_code == 0, good.output
    with open_project(tmp_path / "p") as project:
        assert project.config.start.coverage_share == 0.25
