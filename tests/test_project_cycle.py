"""The full cycle through the `lesionlab project` commands: init, propose (cold start), label through the
API, train (cross-validated quality, versioned model), propose again with the model, export, import the
export into a new project and compare; plus the audit's flags when the label audit is installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lesionlab.cli import app
from lesionlab.errors import ConfigError
from lesionlab.project import open_project
from lesionlab.project.app import create_app
from lesionlab.project.people import invite
from lesionlab.project.propose import propose
from project_fixtures import CLASSES, make_images, tiny_project_settings


def client_for(project, name: str = "ana") -> TestClient:
    return TestClient(create_app(project), headers={"Authorization": f"Bearer {invite(project, name)}"})


def run(*args: str) -> str:
    result = CliRunner().invoke(app, ["project", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def tiny(project_dir: Path) -> None:
    """Shrink the project's training settings to the tiny images (what a user edits in project.yaml)."""
    path = project_dir / "project.yaml"
    data = yaml.safe_load(path.read_text())
    settings = tiny_project_settings()
    data["train"], data["folds"] = settings["train"].model_dump(mode="json"), settings["folds"]
    path.write_text(yaml.safe_dump(data))


@pytest.mark.slow
def test_init_propose_label_train_propose_export_import(tmp_path: Path, offline_single_thread) -> None:
    truth = make_images(tmp_path / "images", n=24)
    proj, copy = tmp_path / "proj", tmp_path / "copy"
    out = run("init", str(proj), "--images", str(tmp_path / "images"), "--classes", ",".join(CLASSES))
    assert "24 usable images" in out
    tiny(proj)
    out = run("propose", str(proj), "--budget", "12")
    assert "round 1: 12 image(s) proposed by coreset (pretrained backbone)" in out

    with open_project(proj) as project:
        client = client_for(project)
        queue = client.get("/api/queue").json()
        first = [item["image_id"] for item in queue["items"]]
        assert len(first) == 12 and all(item["prediction"] is None for item in queue["items"])
        for image_id in first:
            body = {"image_id": image_id, "label": CLASSES[truth[image_id]], "request_id": f"r-{image_id}"}
            assert client.post("/api/labels", json=body).status_code == 201
        assert client.get("/api/queue").json()["items"] == []
        with pytest.raises(ConfigError, match="needs a trained model"):
            propose(project, 4, strategy="entropy", show_progress=False)

    out = run("train", str(proj))
    assert "model v1 on 12 labels" in out and "2-fold cross-validation" in out
    assert "left out: 0 image(s) unresolved" in out
    assert (proj / "models" / "v0001" / "model.pt").is_file()
    metrics = json.loads((proj / "models" / "v0001" / "metrics.json").read_text())
    assert metrics["n_labels"] == 12 and 0.0 <= metrics["metrics"]["auc"] <= 1.0
    assert metrics["left_out"] == {"unresolved": 0, "incomplete": 0}
    low, high = metrics["metrics"]["ci95"]["auc"]
    assert low <= metrics["metrics"]["auc"] <= high

    out = run("propose", str(proj), "--budget", "6")
    assert "round 2: 6 image(s) proposed by entropy (model v1)" in out
    with open_project(proj) as project:
        second = [image_id for p, image_id in project.store.proposals() if p.round_id == 2]
        assert len(second) == 6 and not set(second) & set(first)
        for p, _ in project.store.proposals():
            if p.round_id == 2:
                assert len(p.prediction) == 2 and abs(sum(p.prediction) - 1) < 1e-4
        project.store.save_label(second[0], truth[second[0]], "bob")
        expected = project.store.labels()
    status = run("status", str(proj), "--plot", str(tmp_path / "curve.png"))
    from PIL import Image

    assert Image.open(tmp_path / "curve.png").size[0] > 300
    assert "labels: 13" in status and "v1" in status and "auc" in status and "bob 1" in status

    run("export", str(proj), "--out", str(tmp_path / "export"))
    run(
        "init",
        str(copy),
        "--images",
        str(tmp_path / "images"),
        "--classes",
        ",".join(CLASSES),
        "--labels",
        str(tmp_path / "export" / "labels_isic.csv"),
    )
    with open_project(copy) as imported:
        assert imported.store.labels() == expected
    out = run("import", str(copy), str(tmp_path / "export" / "labels_labelstudio.json"))
    assert "imported 0 label(s) of 13" in out  # the same labels: nothing new


def test_audit_flags_land_in_the_review_queue(tmp_path: Path, offline_single_thread) -> None:
    pytest.importorskip("lesionlab.audit.command", reason="the label audit (issue 16) is not in this tree")
    from lesionlab.project import init_project
    from lesionlab.project.audit import audit_project

    truth = make_images(tmp_path / "images", n=20)
    with init_project(
        tmp_path / "proj", tmp_path / "images", CLASSES, show_progress=False, **tiny_project_settings()
    ) as project:
        flipped = ["img_000", "img_001"]
        for image_id, label in truth.items():
            project.store.save_label(image_id, 1 - label if image_id in flipped else label, "ana")
        summary = audit_project(project, top=4, show_progress=False)
        flags = project.store.flags()
        labels = project.store.labels()
        assert summary.flagged == len(flags) >= 1
        for flag, image_id in flags:
            assert flag.suggested_label != labels[image_id] and flag.reason and flag.outcome is None
        assert {image_id for _, image_id in flags} & set(flipped)  # the planted flips are found
        again = audit_project(project, top=4, show_progress=False)  # pending flags are not flagged twice
        assert again.already_flagged >= 1 and len(project.store.flags()) == len(flags) + again.flagged


def test_commands_say_what_is_missing_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_images(tmp_path / "images", n=2)
    result = CliRunner().invoke(
        app, ["project", "init", str(tmp_path / "p"), "--images", str(tmp_path / "images")]
    )
    assert isinstance(result.exception, ConfigError) and "needs --classes" in str(result.exception)
    (tmp_path / "labels.csv").write_text("image_id,label\nimg_000,lesion\n")
    seg = [
        "project",
        "init",
        str(tmp_path / "s"),
        "--images",
        str(tmp_path / "images"),
        "--task",
        "segmentation",
    ]
    result = CliRunner().invoke(app, [*seg, "--labels", str(tmp_path / "labels.csv")])
    assert isinstance(result.exception, ConfigError) and "masks, not class labels" in str(result.exception)
    assert not (tmp_path / "s").exists()  # refused before anything was created
    result = CliRunner().invoke(app, ["project", "status", str(tmp_path / "nothing")])
    assert isinstance(result.exception, ConfigError) and "is not an annotation project" in str(
        result.exception
    )
    monkeypatch.setitem(__import__("sys").modules, "uvicorn", None)  # as if the extra were not installed
    result = CliRunner().invoke(app, ["project", "status", str(tmp_path / "nothing")])
    assert isinstance(result.exception, ConfigError) and "pip install 'lesionlab[project]'" in str(
        result.exception
    )


@pytest.mark.slow
def test_segmentation_cycle_masks_in_model_masks_proposed(tmp_path: Path, offline_single_thread) -> None:
    import io

    import numpy as np
    from PIL import Image

    from fake_isic import lesion_mask
    from lesionlab.project import init_project
    from lesionlab.project.interchange import export_project, import_masks
    from lesionlab.project.training import train_project

    make_images(tmp_path / "images", n=12)
    truth = {f"img_{k:03d}": lesion_mask(1000 + k, k % 2 == 0) for k in range(12)}
    with init_project(
        tmp_path / "proj",
        tmp_path / "images",
        ["background", "lesion"],
        task="segmentation",
        show_progress=False,
        **tiny_project_settings(),
    ) as project:
        assert project.config.strategy == "pixel_entropy"
        first = propose(project, 6, show_progress=False)
        assert first.strategy == "coreset" and len(first.ids) == 6
        client = client_for(project)
        for image_id in first.ids:
            buf = io.BytesIO()
            truth[image_id].save(buf, format="PNG")
            params = {"request_id": f"mask-{image_id}", "width": 32, "height": 32}
            assert (
                client.put(f"/api/masks/{image_id}", params=params, content=buf.getvalue()).status_code == 201
            )
        assert client.get("/api/queue").json()["items"] == []
        result = train_project(project, show_progress=False)
        assert result.n_labels == 6 and result.metrics["primary_metric"] == "jaccard"
        low, high = result.metrics["ci95"]["jaccard"]
        assert 0 <= low <= result.metrics["jaccard"] <= high <= 1
        assert (project.dir / result.checkpoint).is_file()
        second = propose(project, 6, show_progress=False)  # every image without a mask, none twice
        assert second.strategy == "pixel_entropy" and set(second.ids) == set(truth) - set(first.ids)
        for image_id in second.ids:
            response = client.get(f"/api/masks/{image_id}")
            assert response.status_code == 200 and response.headers["x-mask-source"] == "model"
            proposed = np.array(Image.open(io.BytesIO(response.content)))
            assert proposed.shape == (32, 32) and set(np.unique(proposed)) <= {0, 255}
        assert [i["image_id"] for i in client.get("/api/queue").json()["items"]] == second.ids
        assert project.store.masked_ids() == set(first.ids)  # model masks are proposals, not annotations
        from lesionlab.errors import LesionlabError
        from lesionlab.project.audit import audit_project

        with pytest.raises(LesionlabError, match="masks are not audited yet"):
            audit_project(project, show_progress=False)
        written = export_project(project, tmp_path / "out", ("masks",))
        assert written["masks"]["files"] == 6
    with init_project(
        tmp_path / "copy",
        tmp_path / "images",
        ["background", "lesion"],
        task="segmentation",
        show_progress=False,
    ) as copy:
        assert import_masks(copy, tmp_path / "out" / "masks")["stored"] == 6
        for image_id in first.ids:
            assert np.array_equal(np.array(Image.open(copy.mask_path(image_id))), np.array(truth[image_id]))


@pytest.mark.slow
def test_train_never_writes_into_a_version_folder_another_run_has_taken(
    tmp_path: Path, offline_single_thread
) -> None:
    from lesionlab.project import init_project
    from lesionlab.project.training import train_project

    truth = make_images(tmp_path / "images", n=8)
    with init_project(
        tmp_path / "proj", tmp_path / "images", CLASSES, show_progress=False, **tiny_project_settings()
    ) as project:
        for image_id, label in truth.items():
            project.store.save_label(image_id, label, "ana")
        # a concurrent `project train` took v0001 (the database's next id) and has not recorded its row yet
        taken = project.models_dir / "v0001"
        taken.mkdir(parents=True)
        (taken / "model.pt").write_bytes(b"the other run's checkpoint")
        result = train_project(project, show_progress=False)
        assert result.checkpoint == "models/v0002/model.pt"
        assert (taken / "model.pt").read_bytes() == b"the other run's checkpoint"
        assert sorted(p.name for p in taken.iterdir()) == ["model.pt"]
        assert (project.models_dir / "v0002" / "metrics.json").is_file()
        assert [v.checkpoint for v in project.store.model_versions()] == [result.checkpoint]
