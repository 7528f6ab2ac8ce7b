"""A reviewer never decides for their own answer: one person's answer never overrules another's twice.

Found: a reviewer who also annotates could settle a dispute they are part of for their own answer (ana
said nevus, rev said melanoma: rev adjudicated melanoma, overruling ana by counting rev's answer twice),
take their own mask over a colleague's, and keep an audit flag on a label they gave themselves (their
answer recorded as reviewed by someone, when nobody else looked). Each is refused (403) naming why;
conceding (the colleague's answer, the fused mask, changing a flagged label of theirs) stays possible,
and another reviewer decides as before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")

from test_project_team import clients, label, png, rid, team_project


def _decide(client, image_id: str, **choice):
    return client.post("/api/adjudication", json={"image_id": image_id, "request_id": rid(), **choice})


def test_a_reviewer_in_a_dispute_may_concede_but_not_win_it(tmp_path: Path) -> None:
    with team_project(tmp_path, overlap=2) as p:
        c = clients(p, ("ana", "annotator"), ("rev", "reviewer"), ("boss", "reviewer"))
        assert label(c["ana"], "img_000", 0).status_code == 201
        assert label(c["rev"], "img_000", 1).status_code == 201
        refused = _decide(c["rev"], "img_000", label=1)
        assert refused.status_code == 403 and "another reviewer decides it" in refused.json()["detail"]
        assert p.store.labels() == {}  # still unresolved: nothing stored
        assert _decide(c["boss"], "img_000", label=1).status_code == 201  # someone else decides
        assert p.store.labels() == {"img_000": 1}
        assert label(c["ana"], "img_001", 0).status_code == 201
        assert label(c["rev"], "img_001", 1).status_code == 201
        assert _decide(c["rev"], "img_001", label=0).status_code == 201  # conceding is fine
        assert p.store.labels()["img_001"] == 0


def test_a_reviewer_keeps_no_flag_on_their_own_label(tmp_path: Path) -> None:
    with team_project(tmp_path, overlap=1) as p:
        c = clients(p, ("rev", "reviewer"), ("boss", "reviewer"))
        for image_id in ("img_000", "img_001"):
            assert label(c["rev"], image_id, 1).status_code == 201
        p.store.add_flags([("img_000", 0.9, "suspicious", 0), ("img_001", 0.8, "suspicious", 0)])
        ids = {f["image_id"]: f["id"] for f in c["rev"].get("/api/flags").json()["flags"]}
        keep = {"outcome": "keep", "shown": p.classes[1]}
        refused = c["rev"].post(f"/api/flags/{ids['img_000']}/review", json=keep)
        assert refused.status_code == 403 and "themselves" in refused.json()["detail"]
        assert c["boss"].post(f"/api/flags/{ids['img_000']}/review", json=keep).status_code == 200
        change = {"outcome": "change", "label": p.classes[0], "shown": p.classes[1]}
        assert c["rev"].post(f"/api/flags/{ids['img_001']}/review", json=change).status_code == 200
        assert p.store.labels() == {"img_000": 1, "img_001": 0}


def test_a_reviewer_working_alone_still_decides_their_own_flags(tmp_path: Path) -> None:
    """A solo clinician labels and then reviews the audit's flags: nobody else could decide them, so the
    rule above waits for a second reviewer (it broke the keyboard-and-review browser walk-through). Once
    another reviewer is invited the same keep is refused; once revoked, allowed again."""
    from lesionlab.project.people import invite, revoke

    with team_project(tmp_path, overlap=1) as p:
        c = clients(p, ("solo", "reviewer"), ("ana", "annotator"))
        for image_id in ("img_000", "img_001"):
            assert label(c["solo"], image_id, 1).status_code == 201
        p.store.add_flags([("img_000", 0.9, "suspicious", 0), ("img_001", 0.8, "suspicious", 0)])
        ids = {f["image_id"]: f["id"] for f in c["solo"].get("/api/flags").json()["flags"]}
        keep = {"outcome": "keep", "shown": p.classes[1]}
        invite(p, "Boss", "reviewer")
        refused = c["solo"].post(f"/api/flags/{ids['img_000']}/review", json=keep)
        assert refused.status_code == 403
        revoke(p, "boss")
        assert c["solo"].post(f"/api/flags/{ids['img_000']}/review", json=keep).status_code == 200
        assert c["solo"].post(f"/api/flags/{ids['img_001']}/review", json=keep).status_code == 200
        assert [f.outcome for f, _ in p.store.flags()] == ["keep", "keep"]


def test_a_reviewer_takes_no_mask_of_their_own_in_a_dispute(tmp_path: Path) -> None:
    with team_project(tmp_path, overlap=2, task="segmentation") as p:
        c = clients(p, ("ana", "annotator"), ("rev", "reviewer"), ("boss", "reviewer"))
        mine, hers = np.zeros((32, 32), bool), np.zeros((32, 32), bool)
        mine[2:10, 2:10], hers[20:30, 20:30] = True, True
        for who, mask in (("ana", hers), ("rev", mine)):
            params = {"request_id": rid(), "width": 32, "height": 32}
            assert c[who].put("/api/masks/img_000", params=params, content=png(mask)).status_code == 201
        (item,) = c["rev"].get("/api/adjudication").json()["items"]
        ids = {a["annotator"]: a["annotation_id"] for a in item["annotations"]}
        refused = _decide(c["rev"], "img_000", annotation_id=ids["rev"])
        assert refused.status_code == 403 and "rev's own mask" in refused.json()["detail"]
        assert _decide(c["rev"], "img_000", annotation_id=ids["ana"]).status_code == 201
        (record,) = p.records(labelled_only=True)
        assert record.mask_path is not None


@pytest.mark.parametrize("task", ["classification", "segmentation"])
def test_two_reviewers_deciding_at_once_never_overrule_each_other_unseen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task: str
) -> None:
    """Found: a decision's check that the answers shown still stand ran before, not in, the transaction
    storing it: a colleague's decision landing in between was overruled by one made without seeing it
    (the newest decision wins). The check is now under the image row's lock, where it is stored."""
    from lesionlab.project.service import review

    with team_project(tmp_path, overlap=2, task=task) as p:
        c = clients(p, ("ana", "annotator"), ("bob", "annotator"), ("rev", "reviewer"))
        if task == "classification":
            assert label(c["ana"], "img_000", 0).status_code == 201
            assert label(c["bob"], "img_000", 1).status_code == 201
        else:
            for who, box in (("ana", slice(2, 10)), ("bob", slice(20, 30))):
                mask = np.zeros((32, 32), bool)
                mask[box, box] = True
                params = {"request_id": rid(), "width": 32, "height": 32}
                assert c[who].put("/api/masks/img_000", params=params, content=png(mask)).status_code == 201
        (item,) = c["rev"].get("/api/adjudication").json()["items"]
        shown = [a["annotation_id"] for a in item["annotations"]]
        checked = review._current

        def colleague_decides_meanwhile(project, image_id, seen):
            now = checked(project, image_id, seen)
            if task == "classification":  # boss, a moment earlier
                project.store.add_annotation(image_id, 0, "boss", "adjudication")
            else:
                project.save_mask(image_id, np.ones((32, 32), bool), "boss", source="adjudication")
            return now

        monkeypatch.setattr(review, "_current", colleague_decides_meanwhile)
        choice = {"label": 1} if task == "classification" else {"fused": True}
        late = _decide(c["rev"], "img_000", seen=shown, **choice)
        assert late.status_code == 409 and "changed since" in late.json()["detail"]
        decided = p.store.standing(p.store.kind, "img_000")["img_000"].adjudication
        assert decided.annotator == "boss"
        assert len(list(p.masks_dir.glob("*.png"))) == (3 if task == "segmentation" else 0)  # none left


def test_a_flag_decided_while_a_colleague_changes_the_label_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found: the check that the flagged label is still the one shown ran before the transaction storing
    the decision: a colleague's change landing in between got a keep recorded for a label no longer the
    image's, or was overruled unseen by a later change. It is checked under the image's lock now."""
    from lesionlab.project.service import review

    with team_project(tmp_path, overlap=1) as p:
        c = clients(p, ("ana", "annotator"), ("rev", "reviewer"))
        assert label(c["ana"], "img_000", 1).status_code == 201
        p.store.add_flags([("img_000", 0.9, "suspicious", 0)])
        (flag,) = c["rev"].get("/api/flags").json()["flags"]
        checked = review._not_own_label

        def colleague_changes_it_meanwhile(project, caller, image_id, label):
            checked(project, caller, image_id, label)
            project.store.add_annotation(image_id, 0, "boss", "adjudication")

        monkeypatch.setattr(review, "_not_own_label", colleague_changes_it_meanwhile)
        late = c["rev"].post(
            f"/api/flags/{flag['id']}/review", json={"outcome": "keep", "shown": p.classes[1]}
        )
        assert late.status_code == 409 and "changed since" in late.json()["detail"]
        assert p.store.flags()[0][0].outcome is None  # nothing recorded


@pytest.mark.parametrize("task", ["classification", "segmentation"])
def test_a_decision_of_the_wrong_kind_is_refused_and_stores_nothing(tmp_path: Path, task: str) -> None:
    """Found: a class decision sent in a segmentation project answered 201 and decided nothing (the dispute
    stayed, a label row was stored beside the masks). Each project is decided by its own kind of answer."""
    with team_project(tmp_path, overlap=2, task=task) as p:
        c = clients(p, ("ana", "annotator"), ("bob", "annotator"), ("rev", "reviewer"))
        before = p.store.count_annotations()
        wrong = {"label": p.classes[1]} if task == "segmentation" else {"fused": True}
        refused = _decide(c["rev"], "img_000", **wrong)
        assert refused.status_code == 422, refused.text
        assert ("decided by a mask" if task == "segmentation" else "decided by a label") in refused.json()[
            "detail"
        ]
        assert p.store.count_annotations() == before
