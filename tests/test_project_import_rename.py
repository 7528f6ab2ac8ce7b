"""Third reading of the import's owner: one name's imports replace each other, never stand as two people.

Found: an import's name was compared exactly with the names earlier imports stood under, so a corrected
file imported again as `--annotator Dr_Smith` (or " dr_smith") after `--annotator dr_smith` did not replace
the first file's answers: both stood, as two raters, so one person's answers filled two overlap slots and
counted as two people agreeing (or disagreeing with themselves). Such a name is refused now in one line
naming the spelling to use (the same name replaces; another name is another rater); spaces around a name
are dropped, as `invite` drops them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lesionlab.errors import DataError
from lesionlab.project import init_project
from lesionlab.project.interchange import import_labels
from project_fixtures import make_images


def _csv(tmp_path: Path, first: str) -> Path:
    path = tmp_path / f"gt_{first}.csv"
    path.write_text(f"image_id,melanoma\nimg_000,{first}\nimg_001,0.0\n")
    return path


def _project(tmp_path: Path):
    make_images(tmp_path / "images", n=3)
    return init_project(
        tmp_path / "p", tmp_path / "images", ["other", "melanoma"], show_progress=False, overlap=2
    )


@pytest.mark.parametrize("again", ["Dr_Smith", " dr_smith", "DR_SMITH "])
def test_an_import_under_another_spelling_of_a_name_is_refused(tmp_path: Path, again: str) -> None:
    with _project(tmp_path) as p:
        import_labels(p, _csv(tmp_path, "1.0"), annotator="dr_smith")
        if again.strip() != "dr_smith":
            with pytest.raises(DataError, match=r"imported under 'dr_smith'.*--annotator dr_smith"):
                import_labels(p, _csv(tmp_path, "0.0"), annotator=again)
        else:
            import_labels(p, _csv(tmp_path, "0.0"), annotator=again)  # the same name: it replaces
        raters = p.store.standing("label")["img_000"].raters
        assert list(raters) == ["dr_smith"], raters


def test_the_same_name_replaces_its_answers(tmp_path: Path) -> None:
    with _project(tmp_path) as p:
        import_labels(p, _csv(tmp_path, "1.0"), annotator="dr_smith")
        import_labels(p, _csv(tmp_path, "0.0"), annotator="dr_smith")
        raters = p.store.standing("label")["img_000"].raters
        assert list(raters) == ["dr_smith"] and raters["dr_smith"].label == 0
