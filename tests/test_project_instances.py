"""Further instances of issue 30's fault classes on the server side (FastAPI test client), tried after
it was implemented; each failed on the code before its fix:

- one action, one annotation (class 3): a request id already used for one image's label or mask was
  answered "stored" when sent with ANOTHER image (or class): an acknowledgement of nothing;
- limits (class 10): a 20 kB mask PNG declaring 12,000 x 12,000 pixels was decoded (144 million
  pixels in memory) before its size was compared with the image's;
- several annotators and a reviewer (classes 2, 5 and 6): a reviewer could adopt a mask its annotator
  had taken back, decide on answers that changed since they were shown, and decide (or change a flagged
  label) on an image whose file no longer decodes, which no page could show;
- leases and queues (class 6): the image the page showed after undo was not the one leased to it (the
  server ignored `?first=`), so another person could be handed it; an undo did not bring back an image
  skipped since (in another tab); an import at overlap 2 was a third vote on the experts' images.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")

from PIL import Image

import lesionlab.project.mask_files as mask_files
from test_project_team import clients, label, png, rid, team_project

SIZE = {"width": 32, "height": 32}


def square(x0: int, y0: int, side: int = 12) -> np.ndarray:
    mask = np.zeros((32, 32), dtype=bool)
    mask[y0 : y0 + side, x0 : x0 + side] = True
    return mask


def test_a_request_id_is_one_action_and_never_acknowledges_another(tmp_path: Path) -> None:
    with team_project(tmp_path / "labels", overlap=1) as p:
        ana = clients(p, ("ana", "annotator"))["ana"]
        body = {"image_id": "img_000", "label": 1, "request_id": "same-request-1"}
        assert ana.post("/api/labels", json=body).status_code == 201
        assert ana.post("/api/labels", json=body).json()["new"] is False  # a retry: stored once
        for changed in ({"image_id": "img_001"}, {"label": 0}):
            answer = ana.post("/api/labels", json={**body, **changed})
            assert answer.status_code == 409 and "new request id" in answer.json()["detail"]
        assert {i: v for i, v in p.store.labels().items()} == {"img_000": 1}
    with team_project(tmp_path / "masks", overlap=1, task="segmentation") as p:
        ana = clients(p, ("ana", "annotator"))["ana"]
        params = {"request_id": "same-request-2", **SIZE}
        assert ana.put("/api/masks/img_000", params=params, content=png(square(4, 4))).status_code == 201
        answer = ana.put("/api/masks/img_001", params=params, content=png(square(9, 9)))
        assert answer.status_code == 409
        assert p.mask_path("img_001", person="ana") is None


def test_a_mask_declaring_more_pixels_than_its_image_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = []
    real = mask_files.mask_foreground
    monkeypatch.setattr(mask_files, "mask_foreground", lambda im: decoded.append(im.size) or real(im))
    huge = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(huge, format="PNG")
    assert len(huge.getvalue()) < 100_000  # far below the upload limit
    with team_project(tmp_path, overlap=1, task="segmentation") as p:
        ana = clients(p, ("ana", "annotator"))["ana"]
        answer = ana.put("/api/masks/img_000", params={"request_id": rid(), **SIZE}, content=huge.getvalue())
        assert answer.status_code == 422
        assert "12000x12000" in answer.json()["detail"] and "32x32" in answer.json()["detail"]
        assert decoded == []
        good = ana.put("/api/masks/img_000", params={"request_id": rid(), **SIZE}, content=png(square(4, 4)))
        assert good.status_code == 201 and decoded == [(32, 32)]


def test_a_reviewer_decides_only_on_masks_that_stand_as_they_were_shown(tmp_path: Path) -> None:
    with team_project(tmp_path, task="segmentation") as p:
        c = clients(p, ("ana", "annotator"), ("bob", "annotator"), ("rev", "reviewer"))
        saved = {}
        for who, mask in (("ana", square(2, 2)), ("bob", square(18, 18))):
            put = c[who].put("/api/masks/img_000", params={"request_id": rid(), **SIZE}, content=png(mask))
            saved[who] = put.json()["annotation_id"]
        (item,) = c["rev"].get("/api/adjudication").json()["items"]
        seen = [a["annotation_id"] for a in item["annotations"]]
        assert sorted(seen) == sorted(saved.values())
        undo = c["ana"].post("/api/undo", json={"annotation_id": saved["ana"]}).json()
        assert undo["undone"] and not undo["standing"]  # ana took hers back: it is no answer any more
        take_anas = {"image_id": "img_000", "request_id": rid(), "annotation_id": saved["ana"]}
        refused = c["rev"].post("/api/adjudication", json=take_anas)
        assert refused.status_code == 409 and "no longer stands" in refused.json()["detail"]
        take_bobs = {"image_id": "img_000", "request_id": rid(), "annotation_id": saved["bob"], "seen": seen}
        stale = c["rev"].post("/api/adjudication", json=take_bobs)
        assert stale.status_code == 409 and "changed since" in stale.json()["detail"]
        assert p.store.standing("mask", "img_000")["img_000"].adjudication is None
        current = {**take_bobs, "seen": [saved["bob"]]}
        first = c["rev"].post("/api/adjudication", json=current)
        assert first.status_code == 201
        retried = c["rev"].post("/api/adjudication", json=current)  # its answer was lost: the same one
        assert retried.status_code == 201 and retried.json() == {**first.json(), "new": False}


def test_nothing_is_decided_on_an_image_no_page_can_show(tmp_path: Path) -> None:
    with team_project(tmp_path) as p:
        c = clients(p, ("ana", "annotator"), ("bob", "annotator"), ("rev", "reviewer"))
        assert label(c["ana"], "img_000", 0).status_code == 201
        assert label(c["bob"], "img_000", 1).status_code == 201
        assert label(c["ana"], "img_001", 1).status_code == 201
        assert label(c["bob"], "img_001", 1).status_code == 201
        p.store.add_flags([("img_001", 0.9, "looks benign", 0)])
        for image_id in ("img_000", "img_001"):  # replaced by garbage while the server runs
            (p.images_dir / f"{image_id}.jpg").write_bytes(b"not an image any more")
        assert c["rev"].get("/api/images/img_000").status_code == 404
        decide = {"image_id": "img_000", "request_id": rid(), "label": 1}
        assert c["rev"].post("/api/adjudication", json=decide).status_code == 404
        ((flag, _),) = p.store.flags(pending_only=True)
        change = c["rev"].post(f"/api/flags/{flag.id}/review", json={"outcome": "change", "label": 0})
        assert change.status_code == 404
        assert p.store.labels() == {"img_001": 1}
        assert p.store.flags(pending_only=True)[0][0].outcome is None


def test_the_image_undo_brings_back_is_the_one_leased(tmp_path: Path) -> None:
    """The page shows the image it took back first; the server leased the first of the queue in rank
    order instead, so another person was handed the image on the first one's screen (overlap 1)."""
    with team_project(tmp_path, overlap=1) as p:
        c = clients(p, ("ana", "annotator"), ("bob", "annotator"), ("cid", "annotator"))
        queue_of = lambda who, q="": c[who].get(f"/api/queue{q}").json()["items"]  # noqa: E731
        assert queue_of("bob")[0]["image_id"] == "img_000"  # bob holds img_000 ...
        assert queue_of("ana")[0]["image_id"] == "img_001"
        saved = label(c["ana"], "img_001", 1).json()
        assert c["bob"].post("/api/skip", json={"image_id": "img_000"}).status_code == 200  # ... and lets go
        assert c["ana"].post("/api/undo", json={"annotation_id": saved["annotation_id"]}).json()["undone"]
        assert queue_of("ana", "?first=img_001")[0]["image_id"] == "img_001"  # back on ana's screen
        assert queue_of("cid")[0]["image_id"] == "img_000"  # not the image ana is looking at


def test_an_import_never_adds_a_vote_beyond_the_overlap(tmp_path: Path) -> None:
    """Imported labels count as one annotator: on an image two experts had already labelled (overlap 2)
    the import was a third vote, settling their disagreement by majority without any reviewer."""
    from lesionlab.project.interchange import import_labels

    with team_project(tmp_path) as p:
        c = clients(p, ("ana", "annotator"), ("bob", "annotator"), ("rev", "reviewer"))
        for image_id, (a, b) in {"img_000": (0, 1), "img_001": (1, 1)}.items():
            assert label(c["ana"], image_id, a).status_code == 201
            assert label(c["bob"], image_id, b).status_code == 201
        csv = tmp_path / "old_tool.csv"
        csv.write_text("image_id,label\nimg_000,melanoma\nimg_001,other\nimg_002,melanoma\n")
        done = import_labels(p, csv)
        assert done["stored"] == 1 and sorted(done["full"]) == ["img_000", "img_001"]
        raters = {iid: set(st.raters) for iid, st in p.store.standing("label").items()}
        assert raters == {"img_000": {"ana", "bob"}, "img_001": {"ana", "bob"}, "img_002": {"import"}}
        (item,) = c["rev"].get("/api/adjudication").json()["items"]  # still the reviewer's to decide
        assert item["image_id"] == "img_000"
        assert p.store.labels() == {"img_001": 1}


def test_undo_brings_the_image_back_even_if_it_was_skipped_since(tmp_path: Path) -> None:
    """Labelled in one tab, skipped in another of the same person, then undone: the undo said the image
    was back, but the skip kept it out of the person's queue for good."""
    with team_project(tmp_path, overlap=1) as p:
        ana = clients(p, ("ana", "annotator"))["ana"]
        saved = label(ana, "img_001", 1).json()
        assert ana.post("/api/skip", json={"image_id": "img_001"}).status_code == 200
        assert ana.post("/api/undo", json={"annotation_id": saved["annotation_id"]}).json()["undone"]
        assert ana.get("/api/queue?first=img_001").json()["items"][0]["image_id"] == "img_001"
