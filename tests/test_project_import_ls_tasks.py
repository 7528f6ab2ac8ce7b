"""Second reading of the Label Studio import (issue 33): all of an image's tasks count together. Found: an
image imported twice into Label Studio has two tasks, and the later task's answer silently replaced the
earlier one's (alice said melanoma in one, bob other in the other: "other" was imported, as if agreed);
two ground truths that disagree went the same way. Now such an image is listed as disagreeing."""

from __future__ import annotations

import json
from pathlib import Path

from lesionlab.project import init_project
from lesionlab.project.interchange import import_labels
from project_fixtures import make_images


def _choice(name: str, truth: bool = False, who: str = "a@x.org") -> dict:
    result = [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [name]}}]
    return {"result": result, "ground_truth": truth, "completed_by": {"email": who}}


def _file(tmp_path: Path, tasks: list[list[dict]]) -> Path:
    path = tmp_path / "tasks.json"
    image = "/data/local-files/?d=img_000.jpg"
    path.write_text(json.dumps([{"data": {"image": image}, "annotations": a} for a in tasks]))
    return path


def _import(tmp_path: Path, tasks: list[list[dict]]) -> tuple[dict, dict]:
    make_images(tmp_path / "images", n=2)
    with init_project(tmp_path / "p", tmp_path / "images", ["other", "melanoma"], show_progress=False) as p:
        done = import_labels(p, _file(tmp_path, tasks))
        return done, p.store.labels()


def test_two_tasks_of_one_image_that_disagree_are_listed_not_the_later_imported(tmp_path: Path) -> None:
    done, labels = _import(tmp_path, [[_choice("melanoma", who="alice@x")], [_choice("other", who="bob@x")]])
    assert labels == {}, "the later task's answer was imported as if agreed"
    assert done["disagree"] == ["img_000"]


def test_two_ground_truths_that_disagree_are_listed(tmp_path: Path) -> None:
    done, labels = _import(tmp_path, [[_choice("melanoma", True)], [_choice("other", True)]])
    assert labels == {} and done["disagree"] == ["img_000"]


def test_two_tasks_that_agree_import_once_and_a_ground_truth_still_wins(tmp_path: Path) -> None:
    done, labels = _import(tmp_path / "a", [[_choice("melanoma")], [_choice("melanoma")]])
    assert labels == {"img_000": 1} and done["stored"] == 1
    later = [_choice("other"), _choice("other", truth=True)]
    done, labels = _import(tmp_path / "b", [[_choice("melanoma")], later])
    assert labels == {"img_000": 0} and done["disagree"] == []
