"""Second reading of the import's owner (issue 33): a name's newest answer is its standing one, so an
import and an invited person must never share a name. `check_importer` compared names exactly while
`invite` compares them ignoring case, so `--annotator Alice` (or " alice") imported under a name that reads
as alice's; and `invite` let a person take a name answers had been imported under, whose first answer on
the page then replaced the file's (an undo brought the file's back as theirs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lesionlab.errors import DataError
from lesionlab.project import init_project
from lesionlab.project.exceptions import Conflict
from lesionlab.project.interchange import import_labels
from lesionlab.project.people import invite
from project_fixtures import make_images


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "gt.csv"
    path.write_text("image_id,melanoma\nimg_000,1.0\nimg_001,0.0\n")
    return path


def _project(tmp_path: Path):
    make_images(tmp_path / "images", n=3)
    return init_project(tmp_path / "p", tmp_path / "images", ["other", "melanoma"], show_progress=False)


@pytest.mark.parametrize("name", ["Alice", " alice", "ALICE"])
def test_an_import_never_takes_an_invited_name_in_another_case(tmp_path: Path, name: str) -> None:
    with _project(tmp_path) as p:
        invite(p, "alice")
        with pytest.raises(DataError, match="is an invited person"):
            import_labels(p, _csv(tmp_path), annotator=name)
        assert p.store.labels() == {}


def test_an_import_never_takes_a_page_answerers_name_in_another_case(tmp_path: Path) -> None:
    with _project(tmp_path) as p:
        p.store.add_annotation("img_000", 0, annotator="Bob")
        with pytest.raises(DataError, match="answers from the page"):
            import_labels(p, _csv(tmp_path), annotator="bob")
        assert p.store.labels() == {"img_000": 0}


@pytest.mark.parametrize("name", ["dr_smith", "Dr_Smith"])
def test_nobody_is_invited_under_a_name_labels_were_imported_under(tmp_path: Path, name: str) -> None:
    with _project(tmp_path) as p:
        import_labels(p, _csv(tmp_path), annotator="dr_smith")
        with pytest.raises(Conflict, match="imported under the name 'dr_smith'"):
            invite(p, name)
        invite(p, "smith")  # another name is fine
        assert {r.annotator for r in p.store.standing("label")["img_000"].raters.values()} == {"dr_smith"}
