"""Imports of the data sets' ground-truth layouts and of Label Studio JSON: the right classes, one-line
errors naming the row or task, all or nothing; the Label Studio export of a team and of masks reads back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lesionlab.errors import DataError
from lesionlab.project import init_project
from lesionlab.project.interchange import export_project, import_labels, labelstudio_options
from project_fixtures import make_images

THREE = ["melanoma", "nevus", "seborrheic_keratosis"]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    make_images(tmp_path / "images", n=6)
    return tmp_path / "images"


def _project(tmp_path: Path, images: Path, classes: list[str], name: str = "proj", **settings):
    return init_project(tmp_path / name, images, classes, show_progress=False, **settings)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- ground-truth CSV layouts
def test_isic_2017_part3_has_no_nevus_column_and_imports_as_three_classes(
    tmp_path: Path, images: Path
) -> None:
    gt = _write(
        tmp_path,
        "ISIC-2017_Test_v2_Part3_GroundTruth.csv",
        "image_id,melanoma,seborrheic_keratosis\nimg_000,1.0,0.0\nimg_001,0.0,0.0\nimg_002,0.0,1.0\n"
        "ISIC_0099999,0.0,0.0\n",
    )
    with _project(tmp_path, images, THREE) as p:
        done = import_labels(p, gt)  # before: "img_001 has 0 classes marked"
        assert p.store.labels() == {"img_000": 0, "img_001": 1, "img_002": 2}
        assert done["unknown"] == ["ISIC_0099999"]
    with _project(tmp_path, images, ["other", "melanoma"], "binary") as p:  # melanoma vs the rest
        import_labels(p, gt)
        assert p.store.labels() == {"img_000": 1, "img_001": 0, "img_002": 0}


def test_isic_2018_one_hot_and_ham10000_dx_map_the_diagnoses(tmp_path: Path, images: Path) -> None:
    gt2018 = _write(
        tmp_path,
        "ISIC2018_Task3_Training_GroundTruth.csv",
        "image,MEL,NV,BCC,AKIEC,BKL,DF,VASC\nimg_000,1.0,0.0,0.0,0.0,0.0,0.0,0.0\n"
        "img_001,0.0,1.0,0.0,0.0,0.0,0.0,0.0\nimg_002,0.0,0.0,1.0,0.0,0.0,0.0,0.0\n",
    )
    ham = _write(
        tmp_path,
        "HAM10000_metadata.csv",
        "lesion_id,image_id,dx,dx_type,age,sex,localization\nHAM_1,img_003,mel,histo,60.0,male,back\n"
        "HAM_2,img_004,nv,follow_up,35.0,female,trunk\nHAM_3,img_005,bkl,histo,70.0,male,face\n",
    )
    with _project(tmp_path, images, ["other", "melanoma"]) as p:  # every other diagnosis is "other"
        import_labels(p, gt2018)
        import_labels(p, ham)
        want = {"img_000": 1, "img_001": 0, "img_002": 0, "img_003": 1, "img_004": 0, "img_005": 0}
        assert p.store.labels() == want
    with _project(tmp_path, images, ["melanoma", "naevus"], "two") as p:  # no catch-all: BCC is no guess
        with pytest.raises(
            DataError, match=r"line 4: 'BCC' is not a class of this project \(melanoma, naevus\)"
        ):
            import_labels(p, gt2018)
        assert p.store.count_annotations() == {}
        with pytest.raises(DataError, match=r"line 4: 'bkl' is not a class"):
            import_labels(p, ham)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "image_id,melanoma,nevus\nimg_000,1,0\nimg_001,1,1\n",
            r"line 3: 2 classes marked \(melanoma, nevus\)",
        ),
        ("image_id,melanoma,nevus\nimg_000,1,0\nimg_001,0,0\n", r"line 3: no class marked"),
        ("image_id,melanoma,nevus\nimg_000,yes,0\nimg_001,x,0\n", r"line 3: column melanoma holds 'x'"),
        ("image_id,label\nimg_000,nevus\nimg_000,melanoma\n", r"line 3: img_000 appears twice"),
        ("image_id,label\nimg_000,nevus,extra\n", r"line 2: 3 fields, but the header has 2"),
        ("image_id,label\n,nevus\n", r"line 2: no image id"),
        ("image_id,label\nimg_000,melanomma\n", r"line 2: unknown class 'melanomma'"),
        ("file,label\nimg_000,nevus\n", r"no image id column"),
        ("image_id,age\nimg_000,40\n", r"neither a label column"),
        (
            "image_id,label\nISIC_1,nevus\nISIC_2,nevus\n",
            r"none of its 2 image ids is an image of this project",
        ),
    ],
)
def test_a_bad_csv_row_is_one_line_naming_it_and_nothing_is_stored(
    tmp_path: Path, images: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, "labels.csv", text)
    with _project(tmp_path, images, ["melanoma", "nevus"]) as p:
        with pytest.raises(DataError, match=message) as info:
            import_labels(p, path)
        assert "\n" not in str(info.value)
        assert p.store.count_annotations() == {}


# ---------------------------------------------------------------- Label Studio JSON shapes
def _task(image: str = "/data/local-files/?d=img_000.jpg", choices: object = ("nevus",)) -> dict:
    value = {"choices": list(choices) if isinstance(choices, tuple) else choices}
    result = [{"from_name": "label", "to_name": "image", "type": "choices", "value": value}]
    return {"data": {"image": image}, "annotations": [{"result": result}]}


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ([1, 2], r"task 0: expected an object"),
        ({"tasks": []}, r"expected a list of Label Studio tasks"),
        ([_task(), {"data": "img_001.jpg"}], r"task 1: \"data\" must be an object holding the image"),
        (
            [_task(), {"id": 7, "data": {"text": "x"}}],
            r"task 1 \(id 7\): \"data\" names no image \(keys: text\)",
        ),
        (
            [_task(choices="nevus")],
            r"task 0 \(img_000\), annotation 0: value.choices must be a list such as ",
        ),
        (
            [_task(choices=("nevus", "melanoma"))],
            r"task 0 \(img_000\), annotation 0: value.choices must hold one",
        ),
        ([_task(choices=(3,))], r"value.choices must hold one class name"),
        (
            [_task(), _task("img_001.jpg", ("naevus",))],
            r"task 1 \(img_001\), annotation 0: unknown class 'naevus'",
        ),
        (
            [{"data": {"image": "img_000.jpg"}, "annotations": {"result": []}}],
            r"\"annotations\" must be a list",
        ),
        (
            [{"data": {"image": "img_000.jpg"}, "annotations": [{"result": "nevus"}]}],
            r"\"result\" must be a list",
        ),
        ([{"data": {"image": "img_000.jpg"}, "annotations": ["nevus"]}], r"an annotation must be an object"),
        ([_task("elsewhere/a.jpg"), _task("elsewhere/b.jpg")], r"none of its 2 image ids"),
    ],
)
def test_a_malformed_label_studio_task_is_one_line_naming_it_and_nothing_is_stored(
    tmp_path: Path, images: Path, tasks: object, message: str
) -> None:
    path = _write(tmp_path, "tasks.json", json.dumps(tasks))
    with _project(tmp_path, images, ["melanoma", "nevus"]) as p:
        with pytest.raises(DataError, match=message) as info:  # before: tracebacks, or 'n' for "nevus"
            import_labels(p, path)
        assert "\n" not in str(info.value)
        assert p.store.count_annotations() == {}


def test_not_json_is_one_line(tmp_path: Path, images: Path) -> None:
    path = _write(tmp_path, "tasks.json", "[{'data': 1}]")
    with (
        _project(tmp_path, images, ["melanoma", "nevus"]) as p,
        pytest.raises(DataError, match="not valid JSON"),
    ):
        import_labels(p, path)


def test_an_import_that_fails_while_storing_stores_nothing(
    tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "labels.csv", "image_id,label\nimg_000,nevus\nimg_001,melanoma\nimg_002,nevus\n")
    with _project(tmp_path, images, ["melanoma", "nevus"]) as p:
        real, calls = type(p.store)._insert, []

        def failing(self, s, image_id, *args):
            calls.append(image_id)
            if len(calls) == 3:
                raise RuntimeError("the disk is full")
            return real(self, s, image_id, *args)

        monkeypatch.setattr(type(p.store), "_insert", failing)
        with pytest.raises(RuntimeError):
            import_labels(p, path)
        monkeypatch.undo()
        assert p.store.count_annotations() == {}  # before: the first two were stored
        assert import_labels(p, path)["stored"] == 3


# ---------------------------------------------------------------- Label Studio export, read back here
def test_a_teams_label_studio_export_imports_its_agreed_and_decided_labels(
    tmp_path: Path, images: Path
) -> None:
    with _project(tmp_path, images, ["other", "melanoma"], overlap=2) as p:
        p.store.add_annotation("img_000", 1, "ana", overlap=2, unsure=True, comment="irregular border")
        p.store.add_annotation("img_000", 1, "bob", overlap=2)
        p.store.add_annotation("img_001", 0, "ana", overlap=2)
        p.store.add_annotation("img_001", 1, "bob", overlap=2)
        p.store.add_annotation("img_002", 0, "ana", overlap=2)
        p.store.add_annotation("img_002", 1, "bob", overlap=2)
        p.store.add_annotation("img_002", 0, "rev", source="adjudication")
        written = export_project(p, tmp_path / "out", ("labelstudio",))["labelstudio"]
    tasks = json.loads(Path(written["path"]).read_text())
    assert (written["tasks"], written["annotations"]) == (3, 7)  # before: 2 tasks, one annotation each
    by_id = {t["data"]["image_id"]: t for t in tasks}
    assert by_id["img_000"]["data"]["image"] == "/data/local-files/?d=img_000.jpg"
    first = by_id["img_000"]["annotations"][0]
    assert first["completed_by"] == {"email": "ana@lesionlab.local"}
    assert {r["from_name"]: r["value"] for r in first["result"]} == {
        "label": {"choices": ["melanoma"]},
        "unsure": {"choices": ["unsure"]},
        "comment": {"text": ["irregular border"]},
    }
    assert [a["ground_truth"] for a in by_id["img_002"]["annotations"]] == [False, False, True]
    config = (tmp_path / "out" / "labelstudio_config.xml").read_text()
    assert '<Choices name="label" toName="image"' in config and '<Choice value="melanoma"/>' in config
    with _project(tmp_path, images, ["other", "melanoma"], "copy") as copy:
        done = import_labels(copy, Path(written["path"]))
        assert copy.store.labels() == {"img_000": 1, "img_002": 0}
        assert done["disagree"] == ["img_001"]


def test_a_segmentation_projects_label_studio_export_holds_its_masks_and_imports_back(
    tmp_path: Path, images: Path
) -> None:
    masks = {}
    with _project(tmp_path, images, ["background", "lesion"], task="segmentation") as s:
        for k, image_id in enumerate(["img_000", "img_003"]):
            masks[image_id] = np.zeros((32, 32), dtype=bool)
            masks[image_id][2 + k : 20, 5 : 30 - 3 * k] = True
            s.save_mask(image_id, masks[image_id], "ana")
        written = export_project(
            s, tmp_path / "out", ("labelstudio",), labelstudio_options("http://h:8081/imgs/")
        )
    assert written["labelstudio"]["tasks"] == 2  # before: 0 (nothing written for a segmentation project)
    tasks = json.loads(Path(written["labelstudio"]["path"]).read_text())
    assert tasks[0]["data"]["image"] == "http://h:8081/imgs/img_000.jpg"
    brush = tasks[0]["annotations"][0]["result"][0]
    assert (brush["type"], brush["value"]["brushlabels"], brush["original_width"]) == (
        "brushlabels",
        ["lesion"],
        32,
    )
    assert '<BrushLabels name="mask"' in (tmp_path / "out" / "labelstudio_config.xml").read_text()
    with _project(tmp_path, images, ["background", "lesion"], "copy", task="segmentation") as copy:
        assert import_labels(copy, Path(written["labelstudio"]["path"]))["stored"] == 2
        from lesionlab.data.preprocess import open_mask

        for image_id, mask in masks.items():
            assert np.array_equal(open_mask(copy.mask_path(image_id)), mask)
        brush["original_width"] = 40
        (tmp_path / "wrong.json").write_text(json.dumps(tasks))
        with pytest.raises(
            DataError, match=r"task 0 \(img_000\), annotation 0: the mask is drawn on a 40x32"
        ):
            import_labels(copy, tmp_path / "wrong.json")


def test_image_urls_option_is_checked(tmp_path: Path) -> None:
    assert labelstudio_options("local-files:/srv/data") == {"local_root": Path("/srv/data")}
    with pytest.raises(DataError, match="--image-urls 'ftp://x'"):
        labelstudio_options("ftp://x")


def test_another_tools_config_with_several_choices_reads_the_one_naming_a_class(
    tmp_path: Path, images: Path
) -> None:
    result = [
        {"from_name": "quality", "to_name": "img", "type": "choices", "value": {"choices": ["blurry"]}},
        {"from_name": "diagnosis", "to_name": "img", "type": "choices", "value": {"choices": ["Nevus"]}},
    ]
    tasks = [{"id": 9, "data": {"image": "s3://bucket/img_000.jpg"}, "annotations": [{"result": result}]}]
    path = _write(tmp_path, "tasks.json", json.dumps(tasks))
    with _project(tmp_path, images, ["melanoma", "nevus"]) as p:
        import_labels(p, path)
        assert p.store.labels() == {"img_000": 1}


def test_people_whose_names_give_one_email_get_distinct_ones(tmp_path: Path, images: Path) -> None:
    with _project(tmp_path, images, ["other", "melanoma"], overlap=3) as p:
        for name in ("A B", "a-b", "a-b+1", "ana@clinic.org"):
            p.store.add_annotation("img_000", 1, name, overlap=4)
        people = export_project(p, tmp_path / "out", ("labelstudio",))["labelstudio"]["people"]
    emails = {e["name"]: e["email"] for e in json.loads(Path(people).read_text())}
    assert emails["ana@clinic.org"] == "ana@clinic.org"
    assert len(set(emails.values())) == 4 and emails["A B"] == "a-b@lesionlab.local"


def test_the_models_newest_prediction_is_a_label_studio_prediction_with_its_version(
    tmp_path: Path, images: Path
) -> None:
    with _project(tmp_path, images, ["other", "melanoma"]) as p:
        p.store.add_round("coreset", None, 2, 0, [("img_000", None, None), ("img_001", None, None)])
        v1 = p.store.add_model_version("models/v0001/model.pt", 2, "cv", {})
        p.store.add_round("entropy", v1, 1, 2, [("img_001", 0.6, [0.8, 0.2])])
        v2 = p.store.add_model_version("models/v0002/model.pt", 3, "cv", {})
        p.store.add_round("entropy", v2, 1, 3, [("img_001", 0.5, [0.35, 0.65])])
        for image_id in ("img_000", "img_001"):
            p.store.add_annotation(image_id, 1, "ana")
        path = export_project(p, tmp_path / "out", ("labelstudio",))["labelstudio"]["path"]
    tasks = {t["data"]["image_id"]: t for t in json.loads(Path(path).read_text())}
    assert "predictions" not in tasks["img_000"]  # proposed at cold start: no model, no prediction
    (pred,) = tasks["img_001"]["predictions"]
    assert (pred["model_version"], pred["score"]) == ("v2", 0.65)
    assert pred["result"][0]["value"] == {"choices": ["melanoma"]}


def test_isic_2016_part3_has_no_header_row(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    make_images(folder, n=2)
    for k in range(2):
        (folder / f"img_{k:03d}.jpg").rename(folder / f"ISIC_000000{k}.jpg")
    gt = _write(
        tmp_path,
        "ISBI2016_ISIC_Part3_Training_GroundTruth.csv",
        "ISIC_0000000,benign\nISIC_0000001,malignant\n",
    )
    with _project(tmp_path, folder, ["benign", "malignant"]) as p:
        import_labels(p, gt)  # before: "no image_id column"
        assert p.store.labels() == {"ISIC_0000000": 0, "ISIC_0000001": 1}


def test_mask_export_of_ids_differing_only_in_case(tmp_path: Path, images: Path, monkeypatch) -> None:
    """Found: `img_000` and `IMG_000` export to one file on a case-insensitive file system (macOS,
    Windows), the later mask replacing the earlier unsaid. Such an export now stops before writing any
    file, naming both; a case-sensitive folder (this one) keeps both, each its own."""
    import shutil

    from lesionlab.data.preprocess import open_mask
    from lesionlab.project import mask_files

    shutil.copyfile(images / "img_000.jpg", images / "IMG_000.jpg")
    with _project(tmp_path, images, ["background", "lesion"], task="segmentation") as s:
        masks = {}
        for k, image_id in enumerate(["IMG_000", "img_000"]):
            masks[image_id] = np.zeros((32, 32), dtype=bool)
            masks[image_id][2 : 10 + 10 * k, 5:30] = True
            s.save_mask(image_id, masks[image_id], "ana")
        written = export_project(s, tmp_path / "out", ("masks",))
        assert written["masks"]["files"] == 2
        for image_id, mask in masks.items():
            assert np.array_equal(
                open_mask(tmp_path / "out" / "masks" / f"{image_id}_segmentation.png"), mask
            )
        monkeypatch.setattr(mask_files, "case_sensitive", lambda folder: False)
        with pytest.raises(DataError, match=r"'IMG_000' and 'img_000' differ only in case"):
            export_project(s, tmp_path / "mac", ("isic", "labelstudio", "masks"))
    assert list((tmp_path / "mac").iterdir()) == []  # nothing written, no other format either


def test_case_probe_tells_this_file_system_case_sensitive(tmp_path: Path) -> None:
    from lesionlab.project.mask_files import case_sensitive

    (tmp_path / "x").mkdir()
    assert case_sensitive(tmp_path / "x")  # Linux: `a` and `A` are two files
    assert list((tmp_path / "x").iterdir()) == []  # the probe is gone
