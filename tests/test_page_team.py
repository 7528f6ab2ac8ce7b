"""A team on the page (issue 30, items 6-9, page side): two annotators and a reviewer, each signed in by
their personal link, on a project with `overlap: 2`. Both annotators' answers stand side by side (neither
replaces the other, and one's undo leaves the other's); the reviewer's Adjudicate tab lists the image they
disagree on with each one's answer, the agreement figures, and records the decision, which becomes the
image's consensus. Annotators see neither the Review nor the Adjudicate tab. With `overlap: 1`, two people
are never handed the same image. The screenshots of docs/annotation.md's team walk-through come from here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")

from playwright.sync_api import expect

from page_harness import (
    expert,
    iou,
    launch_browser,
    open_page,
    paint_rect,
    served,
    shots_dir,
    standing,
    stored_mask,
    wait_shown,
)
from project_fixtures import CLASSES

pytestmark = pytest.mark.slow

TEAM = {"ana": "annotator", "ben": "annotator", "rev": "reviewer"}


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def label_all(page, answers: dict[str, int]) -> None:
    """Label every image the page offers with the number key of its answer."""
    for _ in answers:
        image_id = wait_shown(page)
        page.keyboard.press(str(answers[image_id] + 1))
        expect(page.get_by_test_id("message")).to_have_text(f"{image_id}: {CLASSES[answers[image_id]]}")
    expect(page.locator("#empty")).to_be_visible()


def test_two_annotators_overlap_two_and_a_reviewer_adjudicates(browser, tmp_path: Path) -> None:
    from lesionlab.project import open_project

    shots = shots_dir(tmp_path)
    with served(tmp_path, TEAM, n=4, overlap=2) as (server, ids):
        ana_says = dict(zip(ids, [0, 1, 0, 1], strict=True))
        ben_says = dict(zip(ids, [0, 1, 1, 1], strict=True))  # they disagree on ids[2]
        ana = open_page(browser, server, "ana")
        ben = open_page(browser, server, "ben")
        for page in (ana, ben):
            expect(page.get_by_test_id("tab-adjudicate")).to_be_hidden()
            expect(page.get_by_test_id("tab-review")).to_be_hidden()
        wait_shown(ana, ids[0])
        wait_shown(ben, ids[0])  # overlap 2: both may hold the same image
        ana.keyboard.press("1")
        expect(ana.get_by_test_id("message")).to_have_text(f"{ids[0]}: other")
        wait_shown(ana, ids[1])
        expect(ana.get_by_test_id("mine")).to_contain_text("you: 1 annotation")
        ana.screenshot(path=str(shots / "annotation_label.png"))
        label_all(ana, {i: ana_says[i] for i in ids[1:]})
        label_all(ben, ben_says)
        expect(ben.get_by_test_id("mine")).to_contain_text("you: 4 annotations")
        progress = ben.get_by_test_id("progress")
        expect(progress).to_contain_text("4 of 4 proposed images annotated (each by 2 people)")
        expect(progress).to_contain_text("1 waiting for adjudication")

        # ana takes back her last label: ben's answer on that image stays, and it is ana's to give again
        ana.keyboard.press("u")
        expect(ana.get_by_test_id("message")).to_have_text(f"undone: {ids[3]}")
        labels = standing(server.project_dir, "label")
        assert set(labels[ids[3]]) == {"ben"}
        wait_shown(ana, ids[3])
        ana.keyboard.press("2")
        expect(ana.get_by_test_id("message")).to_have_text(f"{ids[3]}: melanoma")
        labels = standing(server.project_dir, "label")
        assert {i: {p: a.label for p, a in people.items()} for i, people in labels.items()} == {
            i: {"ana": ana_says[i], "ben": ben_says[i]} for i in ids
        }
        assert len(expert(server.project_dir)) == 9  # 8 answers and the one ana took back, kept retracted

        rev = open_page(browser, server, "rev")
        rev.get_by_test_id("tab-adjudicate").click()
        agreement = rev.get_by_test_id("agreement")
        expect(agreement).to_contain_text("ana & ben")
        expect(agreement).to_contain_text("Cohen's kappa")
        expect(agreement).to_contain_text("Fleiss' kappa")
        dispute = rev.get_by_test_id("dispute")
        expect(dispute).to_have_count(1)
        expect(dispute).to_contain_text(ids[2])
        expect(dispute.get_by_test_id("vote")).to_have_text(["ana: other", "ben: melanoma"])
        rev.wait_for_function("[...document.images].every((i) => i.complete)")
        rev.screenshot(path=str(shots / "annotation_adjudicate.png"), full_page=True)
        dispute.get_by_test_id("decide-class-melanoma").click()
        expect(rev.get_by_test_id("message")).to_contain_text(f"{ids[2]}: decided")
        expect(rev.get_by_test_id("dispute")).to_have_count(0)
        expect(rev.locator("#disputes")).to_contain_text("No disagreements")
        for page in (ana, ben, rev):
            page.context.close()
        with open_project(server.project_dir) as project:
            assert project.store.labels() == {ids[0]: 0, ids[1]: 1, ids[2]: 1, ids[3]: 1}  # the consensus


def test_masks_that_disagree_go_to_the_reviewer_who_takes_one(browser, tmp_path: Path) -> None:
    from lesionlab.data.preprocess import load_mask
    from lesionlab.project import open_project

    size = 96
    with served(tmp_path, TEAM, task="segmentation", n=2, overlap=2) as (server, ids):
        drawn = {}
        rects = {"ana": [(10, 10, 50, 60), (20, 20, 70, 70)], "ben": [(45, 40, 90, 90), (22, 20, 70, 72)]}
        for person in ("ana", "ben"):
            page = open_page(browser, server, person)
            for image_id, rect in zip(ids, rects[person], strict=True):
                wait_shown(page, image_id)
                drawn[person, image_id] = paint_rect(page, rect, size, size)
                page.keyboard.press("Enter")
                expect(page.get_by_test_id("message")).to_have_text(f"mask saved for {image_id}")
            page.context.close()
        rev = open_page(browser, server, "rev")
        rev.get_by_test_id("tab-adjudicate").click()
        expect(rev.get_by_test_id("agreement")).to_contain_text("mean Dice")
        dispute = rev.get_by_test_id("dispute")
        expect(dispute).to_have_count(1)  # ids[1]: nearly the same mask, fused without a reviewer
        expect(dispute).to_contain_text(ids[0])
        expect(dispute.get_by_role("button")).to_have_count(3)  # ana's, ben's, the fused one
        rev.wait_for_function("[...document.images].every((i) => i.complete)")
        rev.screenshot(path=str(shots_dir(tmp_path) / "annotation_adjudicate_masks.png"), full_page=True)
        (ana_mask,) = [a for a in expert(server.project_dir, ids[0]) if a.annotator == "ana"]
        dispute.get_by_role("button", name="Take ana's mask").click()
        expect(rev.get_by_test_id("dispute")).to_have_count(0)
        rev.context.close()
        with open_project(server.project_dir) as project:
            decided = load_mask(project.mask_path(ids[0]), None)  # the consensus training reads
            fused = load_mask(project.mask_path(ids[1]), None)
        assert ana_mask.has_mask
        assert iou(decided, stored_mask(server.project_dir, ids[0], "ana")) == 1.0
        assert iou(fused, drawn["ana", ids[1]] & drawn["ben", ids[1]]) >= 0.9  # what both drew


def test_with_overlap_one_two_people_are_never_handed_the_same_image(browser, tmp_path: Path) -> None:
    with served(tmp_path, TEAM, n=2) as (server, ids):
        ana = open_page(browser, server, "ana")
        first = wait_shown(ana)
        ben = open_page(browser, server, "ben")
        second = wait_shown(ben)
        assert {first, second} == set(ids)
        ana.keyboard.press("1")
        ben.keyboard.press("2")
        expect(ana.locator("#empty")).to_be_visible()
        expect(ben.locator("#empty")).to_be_visible()
        for page in (ana, ben):
            page.context.close()
        by_image = {a.image_id: a.annotator for a in expert(server.project_dir)}
        assert by_image == {first: "ana", second: "ben"}
