"""Beside the image (issue 33): the model's prediction with its model version and each probability, never
cut off ("seborrheic_keratosis" was truncated at 9em and ran under its bar), and the image's details:
its pixel size and the metadata columns of `project init --metadata CSV` (answer-like columns left out).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect
from typer.testing import CliRunner

from lesionlab.project import open_project
from lesionlab.project.metadata import image_metadata, import_metadata
from page_harness import PageServer, invite_all, launch_browser, open_page, wait_shown
from page_view_shots import shot, smooth_lesions

pytestmark = pytest.mark.slow

CLASSES = ["melanoma", "nevus", "seborrheic_keratosis"]
METADATA = (
    "image_id,age_approx,sex,anatom_site,dx\nlesion.png,55,female,posterior torso,nevus\nnone,1,m,x,y\n"
)


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def make_project(tmp_path: Path) -> PageServer:
    """`project init --metadata` through the CLI; one proposal whose prediction comes from model v1."""
    from lesionlab.cli import app

    smooth_lesions({"lesion": (300, 200)})(tmp_path / "images")
    (tmp_path / "meta.csv").write_text(METADATA)
    args = ["project", "init", str(tmp_path / "proj"), "--images", str(tmp_path / "images")]
    args += ["--classes", ",".join(CLASSES), "--metadata", str(tmp_path / "meta.csv")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "metadata of 1 image(s)" in result.output and "age_approx, sex, anatom_site" in result.output
    assert (
        "left out" in result.output
        and "dx" in result.output
        and "1 id(s) not in the project" in result.output
    )
    with open_project(tmp_path / "proj") as project:
        version = project.store.add_model_version("none", 0, "test", {})
        prediction = [0.08, 0.15, 0.77]
        project.store.add_round("entropy", version, 1, 0, [("lesion", 0.5, prediction)])
        tokens = invite_all(project, {"ana": "annotator"})
    return PageServer(tmp_path / "proj", tmp_path / "server.log", tokens)


@pytest.mark.parametrize("width", [1100, 760])  # a narrow window squeezes the aside
def test_prediction_with_version_never_cut_and_the_image_details(browser, tmp_path: Path, width: int) -> None:
    server = make_project(tmp_path)
    try:
        page = open_page(browser, server, "ana", width=width, height=720)
        wait_shown(page, "lesion")
        box = page.get_by_test_id("prediction")
        expect(box).to_contain_text("model v1")
        expect(box).to_contain_text("77 %")
        names = page.get_by_test_id("prediction-name")
        assert names.all_inner_texts() == CLASSES  # the whole text, each
        for name in names.all():
            fits = name.evaluate("n => n.scrollWidth <= n.clientWidth && n.scrollHeight <= n.clientHeight")
            assert fits, f"{name.inner_text()!r} is cut off"
            bar = name.evaluate("n => n.nextElementSibling.getBoundingClientRect().left")
            assert name.bounding_box()["x"] + name.bounding_box()["width"] <= bar + 0.5  # not under the bar
        details = page.get_by_test_id("details")
        expect(details).to_contain_text("300 × 200 px")
        expect(details).to_contain_text("posterior torso")
        expect(details).to_contain_text("55")
        expect(details).not_to_contain_text("dx")  # the answer is never shown
        if width == 1100:
            shot(page.locator("aside"), tmp_path, "details")
        page.context.close()
    finally:
        server.stop()


def test_metadata_matches_by_file_name_and_ignores_answers(tmp_path: Path) -> None:
    csv = tmp_path / "m.csv"
    csv.write_text("ISIC_ID,age,melanoma\nISIC_001.jpg,40,1\nISIC_002,,0\n")
    got = import_metadata(tmp_path, csv, ["site_a/ISIC_001", "site_b/ISIC_002"], ["other", "melanoma"])
    assert got == {"images": 2, "columns": ["age"], "left_out": ["melanoma"], "unknown": []}
    assert image_metadata(tmp_path, "site_a/ISIC_001") == {"age": "40"}
    assert image_metadata(tmp_path, "site_b/ISIC_002") == {}  # empty values are not shown


def test_init_refuses_a_metadata_csv_without_an_id_column_before_making_the_project(tmp_path: Path) -> None:
    from lesionlab.cli import app

    smooth_lesions({"lesion": (64, 64)})(tmp_path / "images")
    (tmp_path / "meta.csv").write_text("age,sex\n40,f\n")
    args = ["project", "init", str(tmp_path / "proj"), "--images", str(tmp_path / "images")]
    result = CliRunner().invoke(app, [*args, "--classes", "a,b", "--metadata", str(tmp_path / "meta.csv")])
    assert result.exit_code != 0
    assert "no image id column" in str(result.exception) and "age, sex" in str(result.exception)
    assert not (tmp_path / "proj" / "project.yaml").exists()
