"""A team on one project (FastAPI test client): overlap, leases in the database, consensus for training and
export, adjudication, agreement equal to scikit-learn / statsmodels, time per image, people on the CLI,
and images served as the model sees them."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from lesionlab.cli import app as cli
from lesionlab.project import init_project, open_project
from lesionlab.project.app import create_app
from lesionlab.project.interchange import export_project
from lesionlab.project.people import invite
from project_fixtures import CLASSES, make_images

_REQUESTS = itertools.count()


def rid() -> str:
    return f"team-{next(_REQUESTS):06d}"


def team_project(tmp_path: Path, n: int = 8, overlap: int = 2, task: str = "classification", **settings):
    make_images(tmp_path / "images", n=n)
    classes = CLASSES if task == "classification" else ["background", "lesion"]
    p = init_project(
        tmp_path / "proj",
        tmp_path / "images",
        classes,
        task=task,
        show_progress=False,
        overlap=overlap,
        **settings,
    )
    ids = p.store.image_ids()
    p.store.add_round("coreset", None, n, 0, [(i, None, None) for i in ids])
    return p


def clients(project, *people: tuple[str, str]) -> dict[str, TestClient]:
    app = create_app(project)
    return {
        n: TestClient(app, headers={"Authorization": f"Bearer {invite(project, n, r, new_token=True)}"})
        for n, r in people
    }


def label(client: TestClient, image_id: str, value):
    return client.post("/api/labels", json={"image_id": image_id, "label": value, "request_id": rid()})


def first(client: TestClient) -> str | None:
    items = client.get("/api/queue").json()["items"]
    return items[0]["image_id"] if items else None


def png(mask: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_overlap_2_each_image_gets_two_different_people_and_no_third(tmp_path: Path) -> None:
    with team_project(tmp_path) as p:
        c = clients(p, ("ana", "annotator"), ("bob", "annotator"), ("cy", "annotator"))
        a, b = first(c["ana"]), first(c["bob"])
        assert a == b == "img_000"  # two slots: both may hold it
        assert first(c["cy"]) == "img_001"  # both slots leased: cy is offered the next image
        assert label(c["ana"], a, 1).status_code == 201
        assert label(c["bob"], a, 1).status_code == 201
        refused = label(c["cy"], a, 0)
        assert refused.status_code == 409 and "has its 2 annotation(s) already" in refused.json()["detail"]
        assert a not in [x["image_id"] for x in c["cy"].get("/api/queue").json()["items"]]
        assert a not in [x["image_id"] for x in c["ana"].get("/api/queue").json()["items"]]  # done by ana
        assert p.store.labels() == {a: 1} and p.store.annotated_ids() == {a}
        progress = c["cy"].get("/api/queue").json()["progress"]
        assert progress == {"proposed": 8, "complete": 1, "adjudication": 0}


def test_ten_people_eight_images_no_two_share_the_last_slot_and_leases_survive_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = [(f"p{k}", "annotator") for k in range(10)]
    with team_project(tmp_path, overlap=1) as p:
        c = clients(p, *people)
        firsts = [first(c[name]) for name, _ in people]
        assert sorted(f for f in firsts if f) == p.store.image_ids() and firsts[8:] == [None, None]
    with open_project(tmp_path / "proj") as again:  # a restarted server: the leases are in the database
        late = clients(again, ("late", "annotator"))["late"]
        assert first(late) is None
        c = clients(again, ("p0", "annotator"))  # p0 asks again: still theirs, renewed
        assert first(c["p0"]) == firsts[0]
        import lesionlab.project.leases as leases

        monkeypatch.setattr(leases, "LEASE_SECONDS", -1.0)  # every lease handed out from now has expired
        assert first(c["p0"]) == firsts[0]
        assert first(late) == firsts[0]  # ... so an expired one is offered to others


def test_time_per_image_is_recorded_and_a_mask_annotator_is_counted(tmp_path: Path) -> None:
    with team_project(tmp_path, overlap=1, task="segmentation") as p:
        c = clients(p, ("ana", "annotator"))["ana"]
        image_id = first(c)
        mask = np.zeros((32, 32), dtype=bool)
        mask[8:20, 8:20] = True
        put = c.put(
            f"/api/masks/{image_id}",
            params={"request_id": rid(), "width": 32, "height": 32},
            content=png(mask),
        )
        assert put.status_code == 201
        assert p.store.annotation(put.json()["annotation_id"]).seconds >= 0
        mine = c.get("/api/queue").json()["mine"]
        assert mine["annotations"] == 1 and mine["median_seconds"] is not None
        stats = p.store.annotators()
        assert stats == {"ana": 1}


def test_disagreements_go_to_a_reviewer_and_training_and_export_use_the_consensus(tmp_path: Path) -> None:
    with team_project(tmp_path) as p:
        c = clients(p, ("ana", "annotator"), ("bob", "annotator"), ("rev", "reviewer"))
        for image_id, (x, y) in {"img_000": (1, 1), "img_001": (0, 1), "img_002": (0, 0)}.items():
            assert label(c["ana"], image_id, x).status_code == 201
            assert label(c["bob"], image_id, y).status_code == 201
        label(c["ana"], "img_003", 1)  # incomplete: one of two
        assert {r.id: r.label for r in p.records(labelled_only=True)} == {"img_000": 1, "img_002": 0}
        assert p.consensus_counts() == {"agreed": 2, "unresolved": 1, "incomplete": 1}
        written = export_project(p, tmp_path / "out", ("isic",))
        assert written["left_out"] == {"unresolved": 1, "incomplete": 1} and written["isic"]["rows"] == 2
        (item,) = c["rev"].get("/api/adjudication").json()["items"]
        assert (item["image_id"], item["status"], item["reason"]) == (
            "img_001",
            "unresolved",
            "tie: 1 other, 1 melanoma",
        )
        assert {(a["annotator"], a["label"]) for a in item["annotations"]} == {
            ("ana", "other"),
            ("bob", "melanoma"),
        }
        assert (
            c["ana"]
            .post("/api/adjudication", json={"image_id": "img_001", "request_id": rid(), "label": 1})
            .status_code
            == 403
        )
        decided = c["rev"].post(
            "/api/adjudication", json={"image_id": "img_001", "request_id": rid(), "label": "melanoma"}
        )
        assert decided.status_code == 201
        assert c["rev"].get("/api/adjudication").json()["items"] == []
        assert {r.id: r.label for r in p.records(labelled_only=True)} == {
            "img_000": 1,
            "img_001": 1,
            "img_002": 0,
        }
        entry = p.store.label_entries()["img_001"]
        assert (entry.source, entry.annotator) == ("adjudication", "rev")


def test_masks_of_two_people_are_fused_or_adjudicated(tmp_path: Path) -> None:
    with team_project(tmp_path, task="segmentation") as p:
        c = clients(p, ("ana", "annotator"), ("bob", "annotator"), ("rev", "reviewer"))
        a, b = np.zeros((32, 32), bool), np.zeros((32, 32), bool)
        a[8:20, 8:20], b[8:20, 9:21] = True, True  # nearly the same region: Dice 0.92
        far = np.zeros((32, 32), bool)
        far[24:30, 24:30] = True  # somewhere else entirely
        for who, image_id, mask in (
            ("ana", "img_000", a),
            ("bob", "img_000", b),
            ("ana", "img_001", a),
            ("bob", "img_001", far),
        ):
            params = {"request_id": rid(), "width": 32, "height": 32}
            assert c[who].put(f"/api/masks/{image_id}", params=params, content=png(mask)).status_code == 201
        (record,) = p.records(labelled_only=True)
        assert record.id == "img_000" and record.mask_path.parent == p.masks_dir / "consensus"
        assert np.array_equal(np.array(Image.open(record.mask_path)) > 0, a & b)  # two: both drew it
        (item,) = c["rev"].get("/api/adjudication").json()["items"]
        assert item["image_id"] == "img_001" and "masks disagree" in item["reason"]
        assert item["dice"] == 0.0  # the two masks do not overlap at all
        bobs = next(x for x in item["annotations"] if x["annotator"] == "bob")
        assert np.array_equal(
            np.array(Image.open(io.BytesIO(c["rev"].get(bobs["mask_url"]).content))) > 0, far
        )
        assert c["rev"].get(item["fused_mask_url"]).status_code == 200
        assert c["ana"].get(bobs["mask_url"]).status_code == 403
        body = {"image_id": "img_001", "request_id": rid(), "annotation_id": bobs["annotation_id"]}
        assert c["rev"].post("/api/adjudication", json=body).status_code == 201
        records = {r.id: r for r in p.records(labelled_only=True)}
        assert set(records) == {"img_000", "img_001"}
        assert np.array_equal(np.array(Image.open(records["img_001"].mask_path)) > 0, far)


@pytest.mark.slow
def test_agreement_equals_scikit_learn_and_statsmodels(tmp_path: Path) -> None:
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    rng = np.random.default_rng(3)
    names = ["ana", "bob", "cy"]
    with team_project(tmp_path, n=24, overlap=3) as p:
        c = clients(p, *[(n, "annotator") for n in names], ("rev", "reviewer"))
        truth = rng.integers(0, 2, 24)
        given = {n: {} for n in names}
        for k, image_id in enumerate(p.store.image_ids()):
            for n in names:
                value = int(truth[k] if rng.random() < 0.75 else 1 - truth[k])
                assert label(c[n], image_id, value).status_code == 201
                given[n][image_id] = value
        figures = c["rev"].get("/api/agreement").json()
        ids = p.store.image_ids()
        for a, b in itertools.combinations(names, 2):
            expected = cohen_kappa_score([given[a][i] for i in ids], [given[b][i] for i in ids])
            assert figures["cohen_kappa"][f"{a}|{b}"] == {
                "kappa": pytest.approx(expected, abs=1e-12),
                "n": 24,
            }
        table, _ = aggregate_raters(np.array([[given[n][i] for n in names] for i in ids]), n_cat=2)
        assert figures["fleiss_kappa"] == pytest.approx(fleiss_kappa(table, method="fleiss"), abs=1e-12)
        assert figures["fleiss_items"] == 24 and figures["fleiss_raters"] == 3
        assert {n: v["annotations"] for n, v in figures["annotators"].items()} == {n: 24 for n in names}
        status = CliRunner().invoke(cli, ["project", "status", str(p.dir)])
        assert status.exit_code == 0 and "Fleiss' kappa" in status.output and "ana vs bob" in status.output


def test_invite_prints_a_personal_link_and_people_never_shows_tokens(tmp_path: Path) -> None:
    from lesionlab.project.server import serve

    make_images(tmp_path / "images", n=2)
    init = ["project", "init", str(tmp_path / "proj"), "--images", str(tmp_path / "images")]
    done = CliRunner().invoke(cli, [*init, "--classes", ",".join(CLASSES), "--overlap", "2"])
    assert done.exit_code == 0, done.output
    with open_project(tmp_path / "proj") as p:
        assert (p.config.overlap, p.store.overlap) == (2, 2)
    with pytest.raises(Exception, match="nobody is invited yet: lesionlab project invite"):
        serve(tmp_path / "proj", say=lambda _: None)
    runner = CliRunner()
    out = runner.invoke(
        cli,
        [
            "project",
            "invite",
            str(tmp_path / "proj"),
            "Dr Ana",
            "--role",
            "reviewer",
            "--url",
            "https://labels.example",
        ],
    )
    assert out.exit_code == 0 and "Dr Ana (reviewer): https://labels.example/?token=" in out.output
    token = out.output.split("?token=")[1].split()[0]
    again = runner.invoke(cli, ["project", "invite", str(tmp_path / "proj"), "Dr Ana"])
    assert again.exit_code != 0 and "invited already" in str(again.exception)
    listing = runner.invoke(cli, ["project", "people", str(tmp_path / "proj")])
    assert "Dr Ana  reviewer" in listing.output and token not in listing.output
    with open_project(tmp_path / "proj") as p:
        app = TestClient(create_app(p))
        assert app.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()["name"] == "Dr Ana"
        rotated = runner.invoke(cli, ["project", "invite", str(p.dir), "Dr Ana", "--new-token"])
        assert rotated.exit_code == 0
        assert app.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_images_are_served_as_the_model_sees_them_exif_applied_and_cached(tmp_path: Path) -> None:
    from lesionlab.data.preprocess import open_rgb

    folder = tmp_path / "images"
    folder.mkdir()
    pixels = np.zeros((32, 48, 3), dtype=np.uint8)  # 48 wide, 32 high as stored ...
    pixels[:, :8] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # ... shown rotated 90 degrees: 32 wide, 48 high
    Image.fromarray(pixels).save(folder / "rotated.jpg", exif=exif, quality=95)
    with init_project(tmp_path / "proj", folder, CLASSES, show_progress=False) as p:
        row = p.store.image("rotated")
        assert (row.width, row.height) == (32, 48)
        c = clients(p, ("ana", "annotator"))["ana"]
        served = c.get("/api/images/rotated")
        assert served.status_code == 200 and served.headers["content-type"] == "image/png"
        assert (served.headers["x-image-width"], served.headers["x-image-height"]) == ("32", "48")
        shown = np.array(Image.open(io.BytesIO(served.content)))
        assert np.array_equal(shown, np.array(open_rgb(folder / "rotated.jpg")))
        cached = list((p.cache_dir / "served").glob("*.png"))
        assert len(cached) == 1 and c.get("/api/images/rotated").content == cached[0].read_bytes()


def test_two_projects_in_one_process_never_share_a_fused_mask(tmp_path: Path) -> None:
    """The fused-mask memo is per project: same image keys and annotation ids, different masks."""
    fused = {}
    for name, rows in (("one", slice(4, 12)), ("two", slice(18, 26))):
        make_images(tmp_path / name / "images", n=2)
        with init_project(
            tmp_path / name / "proj",
            tmp_path / name / "images",
            ["background", "lesion"],
            task="segmentation",
            show_progress=False,
            overlap=2,
        ) as p:
            mask = np.zeros((32, 32), bool)
            mask[rows, rows] = True
            p.store_mask("img_000", mask, "ana")
            p.store_mask("img_000", mask, "bob")
            (record,) = p.records(labelled_only=True)
            assert record.mask_path.is_relative_to(p.dir)
            fused[name] = np.array(Image.open(record.mask_path)) > 0
            assert np.array_equal(fused[name], mask)
    assert not np.array_equal(fused["one"], fused["two"])
