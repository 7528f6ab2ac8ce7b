"""The annotation server's API (FastAPI test client): personal tokens, roles, traversal, uploads, classes,
queue, review, body limits."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient
from PIL import Image

from lesionlab.project import init_project
from lesionlab.project.app import create_app
from lesionlab.project.models import ImageRow
from lesionlab.project.people import invite, revoke
from project_fixtures import CLASSES, make_images


@pytest.fixture
def project(tmp_path: Path):
    make_images(tmp_path / "images", n=8)
    (tmp_path / "images" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    (tmp_path / "secret.txt").write_text("TOP SECRET outside the images folder")
    with init_project(tmp_path / "proj", tmp_path / "images", CLASSES, show_progress=False) as p:
        ids = p.store.image_ids()
        p.store.add_round("coreset", None, 6, 0, [(i, 1.0 - k / 10, None) for k, i in enumerate(ids[:6])])
        p.tokens = {name: invite(p, name, role) for name, role in PEOPLE.items()}
        yield p


PEOPLE = {"ana": "annotator", "bob": "annotator", "rev": "reviewer", "boss": "admin"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client_of(project, name: str) -> TestClient:
    return TestClient(create_app(project), headers=bearer(project.tokens[name]))


@pytest.fixture
def client(project) -> TestClient:
    return client_of(project, "ana")


_REQUESTS = iter(range(10**6))


def label(client: TestClient, image_id: str, value, **extra):
    body = {"image_id": image_id, "label": value, "request_id": f"req-{next(_REQUESTS):06d}", **extra}
    return client.post("/api/labels", json=body)


def put_mask(client: TestClient, image_id: str, data: bytes, size=(32, 32), **params):
    query = {"request_id": f"mask-{next(_REQUESTS):06d}", "width": size[0], "height": size[1], **params}
    return client.put(f"/api/masks/{image_id}", params=query, content=data)


@pytest.mark.parametrize(
    "path",
    ["/", "/api/project", "/api/queue", "/api/images/img_000", "/static/app.js", "/api/status", "/api/me"],
)
def test_every_request_needs_a_personal_token(project, path: str) -> None:
    bare = TestClient(create_app(project))
    token = project.tokens["ana"]
    assert bare.get(path).status_code == 401
    assert bare.get(path, headers=bearer("wrong-token-0123456789")).status_code == 401
    assert bare.get(path, headers=bearer(f"{token}x")).status_code == 401
    assert bare.get(path, headers=bearer(token)).status_code == 200
    revoke(project, "ana")  # a revoked person is shut out at once
    assert bare.get(path, headers=bearer(token)).status_code == 401


def test_the_name_comes_from_the_token_and_roles_are_enforced(project) -> None:
    ana, rev, boss = (client_of(project, n) for n in ("ana", "rev", "boss"))
    assert ana.get("/api/me").json() == {"name": "ana", "role": "annotator"}
    assert label(ana, "img_000", 1).status_code == 201
    assert project.store.standing()["img_000"].raters["ana"].annotator == "ana"
    for path in ("/api/flags", "/api/adjudication", "/api/agreement", "/api/people"):
        refused = ana.get(path)
        assert refused.status_code == 403, path
        needed = "admin" if path == "/api/people" else "reviewer"
        assert f"needs the {needed} role; ana is annotator" in refused.json()["detail"]
    assert rev.get("/api/flags").status_code == 200 and rev.get("/api/agreement").status_code == 200
    assert ana.get("/api/status").json()["agreement"] is None  # the figures are for reviewers
    assert rev.get("/api/status").json()["agreement"]["overlap"] == 1
    assert rev.get("/api/people").status_code == 403
    people = boss.get("/api/people").json()["people"]
    assert [(p["name"], p["role"]) for p in people] == list(PEOPLE.items())
    assert not any(t in str(people) for t in project.tokens.values())
    assert rev.post("/api/people/ana/revoke").status_code == 403
    assert boss.post("/api/people/ana/revoke").status_code == 200
    assert ana.get("/api/me").status_code == 401


def test_tokens_are_stored_only_as_their_sha256(project) -> None:
    import hashlib

    db = Path(project.store.engine.url.database)
    raw = b"".join(f.read_bytes() for f in db.parent.glob(f"{db.name}*"))  # the database and its WAL
    for token in project.tokens.values():
        assert len(token) >= 32 and token.encode() not in raw
        assert hashlib.sha256(token.encode()).hexdigest().encode() in raw


def test_opening_the_page_with_the_token_sets_a_cookie_for_the_rest(project) -> None:
    browser = TestClient(create_app(project))
    page = browser.get(f"/?token={project.tokens['ana']}")
    assert page.status_code == 200 and "lesionlab" in page.text
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert browser.get("/api/images/img_000").status_code == 200  # the cookie alone is enough now
    assert label(browser, "img_000", 1).status_code == 201
    assert TestClient(create_app(project)).get("/api/project").status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/api/images/../secret.txt",
        "/api/images/..%2Fsecret.txt",
        "/api/images/%2e%2e/%2e%2e/secret.txt",
        "/api/images/%2Fetc%2Fpasswd",
        "/api/images//etc/passwd",
        "/api/images/..%5C..%5Csecret.txt",
        "/api/masks/..%2F..%2Fproject.yaml",
        "/static/..%2F..%2Fproject.yaml",
        "/static/%2e%2e/app.py",
        "/api/images/broken",
    ],
)
def test_path_traversal_and_unusable_images_are_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert b"SECRET" not in response.content and b"classes" not in response.content


def test_a_tampered_image_path_in_the_database_reads_nothing_outside(client: TestClient, project) -> None:
    with project.store.session() as s:
        row = s.query(ImageRow).filter_by(image_id="img_001").one()
        row.path = "../secret.txt"
    response = client.get("/api/images/img_001")
    assert response.status_code == 404 and b"SECRET" not in response.content


def test_labels_by_name_or_index_and_unknown_classes_refused(client: TestClient, project) -> None:
    assert label(client, "img_000", "melanoma").json()["label"] == "melanoma"
    assert label(client, "img_001", 0).status_code == 201
    for bad in ("naevus", 2, -1, True, ""):
        response = label(client, "img_002", bad)
        assert response.status_code == 422, bad
    assert label(client, "img_002", 1, annotator="bob").status_code == 422  # the token names the person
    assert label(client, "no_such_image", 1).status_code == 404
    assert label(client, "broken", 1).status_code == 404
    assert project.store.labels() == {"img_000": 1, "img_001": 0}


def test_a_retried_label_is_stored_once(client: TestClient, project) -> None:
    first = label(client, "img_003", 1, request_id="same-request-42").json()
    second = label(client, "img_003", 1, request_id="same-request-42").json()
    assert first["annotation_id"] == second["annotation_id"] and (first["new"], second["new"]) == (
        True,
        False,
    )
    assert project.store.count_annotations() == {"expert": 1}
    assert label(client, "img_003", 1).json()["new"] is True  # a new request id: a new annotation
    assert project.store.count_annotations() == {"expert": 2} and project.store.annotators() == {"ana": 1}
    body = {"image_id": "img_003", "label": 1}
    assert client.post("/api/labels", json=body).status_code == 422  # a request id is required


def test_queue_skip_undo_and_progress(client: TestClient, project) -> None:
    proposed = [i for _, i in project.store.proposals()]
    queue = client.get("/api/queue").json()
    assert [x["image_id"] for x in queue["items"]] == proposed
    assert queue["items"][0]["width"] == 32 and queue["items"][0]["height"] == 32
    assert queue["progress"] == {"proposed": 6, "complete": 0, "adjudication": 0}
    done = label(client, proposed[0], 1).json()
    client.post("/api/skip", json={"image_id": proposed[1]})
    ana = client.get("/api/queue").json()
    assert [x["image_id"] for x in ana["items"]] == proposed[2:]
    assert ana["progress"] == {"proposed": 6, "complete": 1, "adjudication": 0}
    assert ana["mine"]["annotations"] == 1 and ana["mine"]["median_seconds"] >= 0
    bob = client_of(project, "bob").get("/api/queue").json()
    assert proposed[1] in [x["image_id"] for x in bob["items"]]  # a skip is one annotator's
    undo = client.post("/api/undo", json={"annotation_id": done["annotation_id"]}).json()
    assert undo == {"annotation_id": done["annotation_id"], "undone": True, "image_id": proposed[0],
                    "standing": False}  # fmt: skip
    assert project.store.get_label(proposed[0]) is None
    again = client.get("/api/queue").json()
    assert proposed[0] in [x["image_id"] for x in again["items"]]
    assert again["progress"]["complete"] == 0 and again["mine"]["annotations"] == 0  # no longer done
    assert client.post("/api/undo", json={"annotation_id": done["annotation_id"]}).json()["undone"] is False
    assert client.post("/api/undo", json={"annotation_id": 9999}).status_code == 404


def test_two_annotators_do_not_start_on_the_same_image(client: TestClient, project) -> None:
    first = client.get("/api/queue").json()["items"][0]["image_id"]
    other = client_of(project, "bob").get("/api/queue").json()["items"]
    assert first not in [x["image_id"] for x in other]  # leased to ana: not offered to bob at all
    assert label(client_of(project, "bob"), first, 1).status_code == 201  # bob may still save it ...
    assert label(client, first, 0).status_code == 409  # ... and then the image is complete (overlap 1)


def _png(size: tuple[int, int], fill: int = 255) -> bytes:
    buf = io.BytesIO()
    mask = np.zeros(size[::-1], dtype=np.uint8)
    mask[4:20, 6:18] = fill
    Image.fromarray(mask).save(buf, format="PNG")
    return buf.getvalue()


def test_mask_uploads_are_checked_written_atomically_served_undone_and_exported(
    client: TestClient, project, tmp_path: Path
) -> None:
    from lesionlab.project.interchange import export_project, import_masks

    assert client.get("/api/masks/img_004").status_code == 404
    assert put_mask(client, "img_004", _png((32, 32))).status_code == 201
    first = project.mask_path("img_004")
    assert first.parent == project.masks_dir and first.name.startswith(
        f"{project.store.image('img_004').key}-"
    )
    stored = np.array(Image.open(first))
    assert set(np.unique(stored)) == {0, 255} and stored[10, 10] == 255
    mine = client.get("/api/masks/img_004")
    assert mine.content == first.read_bytes() and mine.headers["x-mask-source"] == "mine"
    assert client_of(project, "bob").get("/api/masks/img_004").status_code == 404  # never another's mask
    # a classification project's queue waits for a class label: a mask does not take the image out of it
    assert "img_004" in [x["image_id"] for x in client.get("/api/queue").json()["items"]]
    empty = _png((32, 32), fill=0)
    refused = put_mask(client, "img_004", empty)
    assert refused.status_code == 422 and "No lesion" in refused.json()["detail"]
    assert put_mask(client, "img_004", _png((32, 32)), no_lesion=1).status_code == 422  # not empty
    second = put_mask(client, "img_004", empty, no_lesion=1).json()  # an explicit "no lesion" replaces it
    assert client.get("/api/masks/img_004").content != first.read_bytes()
    undone = client.post("/api/undo", json={"annotation_id": second["annotation_id"]}).json()
    assert undone["undone"] is True and undone["standing"] is False  # really retracted: no mask stands
    assert client.get("/api/masks/img_004").status_code == 404
    put_mask(client, "img_004", _png((32, 32)))
    first = project.mask_path("img_004")
    (record,) = [r for r in project.records() if r.mask_path is not None]
    assert (record.id, record.mask_path) == ("img_004", first)
    assert client.get("/api/status").json()["labels"]["masks"] == 1
    export_project(project, tmp_path / "out", ("masks",))
    assert (tmp_path / "out" / "masks" / "img_004_segmentation.png").read_bytes() == first.read_bytes()
    with init_project(tmp_path / "copy", project.images_dir, CLASSES, show_progress=False) as copy:
        done = import_masks(copy, tmp_path / "out" / "masks")
        assert (done["stored"], done["unknown"]) == (1, [])
        assert np.array_equal(np.array(Image.open(copy.mask_path("img_004"))), stored)
        assert import_masks(copy, tmp_path / "out" / "masks")["unchanged"] == 1
        assert copy.store.count_annotations() == {"import": 1}
    wrong = put_mask(client, "img_004", _png((16, 16)), size=(16, 16))  # the page had another version
    assert wrong.status_code == 409 and "reload" in wrong.json()["detail"]
    assert put_mask(client, "img_004", _png((16, 16))).status_code == 422  # the PNG is not W x H
    assert put_mask(client, "img_004", b"not a png").status_code == 422
    masks = [f for f in project.masks_dir.iterdir() if f.is_file()]
    assert not list(project.masks_dir.glob("*.tmp*")) and len(masks) == 3


def test_an_oversized_upload_is_refused_before_anything_is_written(project) -> None:
    project.config = project.config.updated(max_upload_mb=0.001)
    client = client_of(project, "ana")
    response = put_mask(client, "img_004", b"\0" * 5000)
    assert response.status_code == 413
    assert not project.masks_dir.exists() or not list(project.masks_dir.iterdir())

    def chunks():  # no Content-Length: the server counts the bytes as they arrive
        for _ in range(10):
            yield b"\0" * 1000

    assert put_mask(client, "img_004", chunks()).status_code == 413
    assert project.store.count_annotations() == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/labels"),
        ("post", "/api/undo"),
        ("post", "/api/skip"),
        ("post", "/api/adjudication"),
        ("post", "/api/flags/1/review"),
        ("get", "/api/queue"),
        ("get", "/api/project"),
    ],
)
def test_every_route_refuses_a_body_above_1_mb(project, method: str, path: str) -> None:
    client = client_of(project, "boss")

    def chunks():  # streamed, no Content-Length: counted as it arrives
        for _ in range(20):
            yield b" " * 100_000

    streamed = client.request(method, path, content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and "1 MB" in streamed.json()["detail"]
    declared = client.request(method, path, content=b" " * (1024 * 1024 + 1))
    assert declared.status_code == 413
    assert project.store.count_annotations() == {}


def test_review_tab_keeps_or_changes_flagged_labels(project) -> None:
    client = client_of(project, "rev")
    project.store.save_label("img_000", 0, "ana")
    project.store.save_label("img_001", 1, "ana")
    project.store.add_flags([("img_000", 0.9, "looks like melanoma", 1), ("img_001", 0.4, "odd", 0)])
    flags = client.get("/api/flags").json()["flags"]
    assert [(f["image_id"], f["label"], f["suggested"]) for f in flags] == [
        ("img_000", "other", "melanoma"),
        ("img_001", "melanoma", "other"),
    ]
    change = client.post(
        f"/api/flags/{flags[0]['id']}/review",
        json={"outcome": "change", "label": "melanoma"},
    )
    assert change.status_code == 200
    keep = client.post(f"/api/flags/{flags[1]['id']}/review", json={"outcome": "keep"})
    assert keep.json()["outcome"] == "keep"
    assert project.store.labels() == {"img_000": 1, "img_001": 1}
    assert client.get("/api/flags").json()["flags"] == []
    again = client_of(project, "boss").post(f"/api/flags/{flags[1]['id']}/review", json={"outcome": "keep"})
    assert again.status_code == 409 and "already reviewed (keep) by 'rev'" in again.json()["detail"]
    assert client.post("/api/flags/999/review", json={"outcome": "keep"}).status_code == 404
    bad = client.post(f"/api/flags/{flags[1]['id']}/review", json={"outcome": "change", "label": "x"})
    assert bad.status_code == 422


def test_an_image_that_vanishes_while_serving_is_a_404_not_a_crash(client: TestClient, project) -> None:
    (project.images_dir / "img_002.jpg").unlink()
    assert client.get("/api/images/img_002").status_code == 404
    (project.images_dir / "img_003.jpg").write_bytes(b"\xff\xd8 overwritten, no longer an image")
    assert client.get("/api/images/img_003").status_code == 404
    for image_id in ("img_002", "img_003"):  # nothing the page could not show can be annotated
        assert label(client, image_id, 1).status_code == 404
        assert put_mask(client, image_id, _png((32, 32))).status_code == 404
    assert project.store.count_annotations() == {}
    assert client.get("/api/queue").status_code == 200
    assert client.get("/api/status").status_code == 200


def test_a_segmentation_project_refuses_class_labels_with_a_reason(tmp_path: Path) -> None:
    make_images(tmp_path / "images", n=2)
    with init_project(
        tmp_path / "seg",
        tmp_path / "images",
        ["background", "lesion"],
        task="segmentation",
        show_progress=False,
    ) as seg:
        client = TestClient(create_app(seg), headers=bearer(invite(seg, "ana")))
        response = label(client, "img_000", "lesion")
        assert response.status_code == 422 and "segmentation project" in response.json()["detail"]
        assert seg.store.count_annotations() == {}


def test_a_mask_with_transparency_is_read_by_its_alpha(client: TestClient, project) -> None:
    strokes = np.zeros((32, 32), dtype=bool)
    strokes[4:20, 6:18] = True
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[..., :3] = 255  # a white, fully transparent background
    rgba[strokes] = (255, 0, 0, 255)  # red strokes (grey level 76)
    rgba[24:28, 24:28] = (0, 0, 0, 255)  # opaque black: background too
    rgba[0:2, 0:2] = (0, 255, 0, 40)  # a faint (anti-aliased) edge: 40/255 over black, background
    rgba[30:32, 0:2] = (0, 255, 0, 200)  # a mostly opaque green pen: lesion
    expected = strokes.copy()
    expected[30:32, 0:2] = True
    la = np.zeros((32, 32, 2), dtype=np.uint8)
    la[..., 0] = 255
    la[strokes] = (90, 255)
    for image_id, pixels, mode in (("img_004", rgba, "RGBA"), ("img_005", la, "LA")):
        buf = io.BytesIO()
        Image.fromarray(pixels, mode=mode).save(buf, format="PNG")
        assert put_mask(client, image_id, buf.getvalue()).status_code == 201
        stored = np.array(Image.open(project.mask_path(image_id))) > 127
        assert np.array_equal(stored, expected if mode == "RGBA" else strokes), mode


def test_undo_takes_back_only_ones_own_expert_annotation(client: TestClient, project) -> None:
    ana = label(client, "img_000", 1).json()["annotation_id"]
    imported, _ = project.store.add_annotation("img_001", 0, "import", source="import")
    model = project.store_mask("img_002", np.ones((32, 32), dtype=bool), "model v1", source="model")
    bob = client_of(project, "bob")
    for who, annotation_id, whose in (
        (bob, ana, "'ana'"),
        (client, imported, "a import annotation"),
        (client, model, "a model annotation"),
    ):
        response = who.post("/api/undo", json={"annotation_id": annotation_id})
        assert response.status_code == 403 and whose in response.json()["detail"]
    assert project.store.labels() == {"img_000": 1, "img_001": 0}
    assert project.mask_path("img_002", model=True) is not None
    assert client.post("/api/undo", json={"annotation_id": ana}).json()["undone"] is True


@pytest.mark.parametrize("name", ["", "   ", "bob"])
def test_a_body_naming_an_annotator_is_refused(client: TestClient, project, name: str) -> None:
    assert label(client, "img_000", 1, annotator=name).status_code == 422
    assert client.post("/api/skip", json={"image_id": "img_000", "annotator": name}).status_code == 422
    assert client.post("/api/undo", json={"annotation_id": 1, "annotator": name}).status_code == 422
    assert project.store.count_annotations() == {}


def test_the_token_in_a_url_is_accepted_on_the_page_entry_only(project) -> None:
    bare = TestClient(create_app(project))
    token = project.tokens["ana"]
    for path in ("/api/project", "/api/images/img_000", "/static/app.js", "/api/queue?limit=3&"):
        sep = "&" if "?" in path else "?"
        assert bare.get(f"{path}{sep}token={token}").status_code == 401, path
    response = bare.post(
        f"/api/labels?token={token}", json={"image_id": "img_000", "label": 1, "request_id": "r-000001"}
    )
    assert response.status_code == 401 and project.store.count_annotations() == {}
    assert bare.get(f"/?token={token}").status_code == 200  # sets the cookie ...
    assert bare.get("/api/project").status_code == 200  # ... which the rest then uses
