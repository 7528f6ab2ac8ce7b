"""The annotation project's store on SQLite and PostgreSQL: schema, labels, history, images, interchange."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

from lesionlab.errors import ConfigError, DataError, LesionlabError
from lesionlab.project import init_project, open_project
from lesionlab.project.exceptions import Conflict
from lesionlab.project.interchange import export_project, import_labels
from lesionlab.project.status import format_status, project_status
from lesionlab.runner.oracles import LabelStore, MemoryLabelStore, StoreOracle
from project_fixtures import BACKENDS, CLASSES, database_url, make_images, tiny_project_settings


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def project(tmp_path: Path, backend: str):
    truth = make_images(tmp_path / "images", n=12)
    with database_url(backend) as url:
        p = init_project(
            tmp_path / "proj",
            tmp_path / "images",
            CLASSES,
            database=url,
            show_progress=False,
            **tiny_project_settings(),
        )
        p.truth = truth
        yield p
        p.close()


def test_migrations_build_exactly_the_models_schema(project) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from lesionlab.project.models import Base

    with project.store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert project.store.revision == "0004"


def test_a_database_from_a_newer_lesionlab_is_refused(project) -> None:
    with project.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    project.close()
    with pytest.raises(LesionlabError, match="9999"):
        open_project(project.dir)


def test_the_store_behaves_like_the_reference_label_store(project) -> None:
    store = project.store
    assert isinstance(store, LabelStore)
    ids = sorted(project.truth)
    reference = MemoryLabelStore(ids)
    for image_id, label in [(ids[0], 1), (ids[3], 0), (ids[0], 0), (ids[7], 1)]:
        store.save_label(image_id, label, "ann")
        reference.save_label(image_id, label, "ann")
    assert store.image_ids() == reference.image_ids()
    assert store.labeled_ids() == reference.labeled_ids()
    assert store.unlabeled_ids() == reference.unlabeled_ids()
    assert [store.get_label(i) for i in ids] == [reference.get_label(i) for i in ids]
    oracle = StoreOracle(store)
    assert oracle.query([ids[0], ids[1], ids[7]]) == {ids[0]: 0, ids[7]: 1}
    assert oracle.pending([ids[0], ids[1]]) == [ids[1]]


def test_a_retried_request_is_stored_once_and_each_persons_label_is_kept(project) -> None:
    store = project.store
    first, new1 = store.add_annotation("img_001", 1, "ana", request_id="req-000001")
    again, new2 = store.add_annotation("img_001", 1, "ana", request_id="req-000001")
    assert (first, new1, new2) == (again, True, False)
    second, _ = store.add_annotation("img_001", 0, "bob", request_id="req-000002")
    # bob's label does not replace ana's: both stand, they disagree, so the image has no label yet
    assert set(store.standing()["img_001"].raters) == {"ana", "bob"}
    assert store.get_label("img_001") is None
    assert store.label_consensus()["img_001"][0].status == "unresolved"
    assert store.retract(second, "bob") is True
    assert store.retract(second, "bob") is False  # undone already
    assert store.get_label("img_001") == 1
    store.add_annotation("img_001", 0, "ana")  # ana's newer label supersedes her own
    assert store.get_label("img_001") == 0 and list(store.standing()["img_001"].raters) == ["ana"]
    assert store.retract(first, "ana") is False  # superseded: no longer standing
    assert store.count_annotations() == {"expert": 3}  # history kept: the undone rows are still there
    assert store.annotators() == {"ana": 1}
    with pytest.raises(Conflict, match="request id 'req-000001' was used by someone else"):
        store.add_annotation("img_002", 1, "bob", request_id="req-000001")


def test_overlap_refuses_a_save_once_k_other_people_stand_on_the_image(project) -> None:
    store = project.store
    store.add_annotation("img_003", 1, "ana", overlap=2)
    store.add_annotation("img_003", 1, "bob", overlap=2)
    with pytest.raises(Conflict, match="has its 2 annotation"):
        store.add_annotation("img_003", 0, "cy", overlap=2)
    store.add_annotation("img_003", 0, "ana", overlap=2)  # one of the two may change their own answer
    assert store.count_annotations() == {"expert": 3}


def test_unknown_classes_and_images_are_refused(project) -> None:
    with pytest.raises(DataError, match="not a class"):
        project.store.add_annotation("img_001", 2, "ana")
    with pytest.raises(DataError, match="not an image of this project"):
        project.store.add_annotation("../../etc/passwd", 0, "ana")
    with pytest.raises(DataError, match="unknown class 'naevus'"):
        project.class_index("naevus")
    assert project.class_index(" Melanoma ") == 1


def test_corrupt_and_missing_images_are_reported_and_skipped(tmp_path: Path) -> None:
    make_images(tmp_path / "images", n=4)
    (tmp_path / "images" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with init_project(tmp_path / "proj", tmp_path / "images", CLASSES, show_progress=False) as p:
        assert [r["image_id"] for r in p.scan.problems] == ["broken"]
        assert "broken" not in p.store.image_ids()
        (tmp_path / "images" / "img_002.jpg").unlink()
        status = project_status(p)
        assert {(q["image_id"], q["status"]) for q in status["images"]["problems"]} == {
            ("broken", "corrupt"),
            ("img_002", "missing"),
        }
        assert "skipped img_002: missing" in format_status(status)
        assert p.image_path("img_002") is None and p.image_path("img_001") is not None
        assert len(p.store.image_ids()) == 3


def test_init_refuses_an_existing_project_and_a_project_inside_its_images(tmp_path: Path) -> None:
    make_images(tmp_path / "images", n=2)
    init_project(tmp_path / "proj", tmp_path / "images", CLASSES, show_progress=False).close()
    with pytest.raises(ConfigError, match="already holds a project"):
        init_project(tmp_path / "proj", tmp_path / "images", CLASSES, show_progress=False)
    with pytest.raises(ConfigError, match="outside the images folder"):
        init_project(tmp_path / "images" / "proj", tmp_path / "images", CLASSES, show_progress=False)


def test_export_then_import_into_a_new_project_gives_the_same_labels(project, tmp_path: Path) -> None:
    given = {"img_000": 1, "img_001": 0, "img_004": 1, "img_009": 0}
    for image_id, label in given.items():
        project.store.save_label(image_id, label, "ana")
    written = export_project(project, tmp_path / "out", ("isic", "labelstudio"))
    assert written["isic"]["rows"] == 4 and written["labelstudio"]["tasks"] == 4
    lines = Path(written["isic"]["path"]).read_text().splitlines()
    assert lines[0] == "image_id,other,melanoma" and lines[1] == "img_000,0.0,1.0"
    for fmt, name in (("isic", "labels_isic.csv"), ("labelstudio", "labels_labelstudio.json")):
        copy_dir = tmp_path / f"copy_{fmt}"
        with init_project(copy_dir, tmp_path / "images", CLASSES, show_progress=False) as copy:
            done = import_labels(copy, tmp_path / "out" / name)
            assert done["stored"] == 4 and done["unknown"] == []
            assert copy.store.labels() == given
            assert {e.source for e in copy.store.label_entries().values()} == {"import"}
            again = import_labels(copy, tmp_path / "out" / name)  # importing twice changes nothing
            assert again["stored"] == 0 and copy.store.count_annotations() == {"import": 4}


def test_import_reads_a_plain_label_csv_and_names_a_bad_line(project, tmp_path: Path) -> None:
    good = tmp_path / "labels.csv"
    good.write_text("image_id,label\nimg_002,melanoma\nimg_003,Other\nunknown_id,other\nimg_005,\n")
    done = import_labels(project, good)
    assert project.store.labels() == {"img_002": 1, "img_003": 0}
    assert done["unknown"] == ["unknown_id"]
    bad = tmp_path / "bad.csv"
    bad.write_text("image_id,label\nimg_002,melanoma\nimg_003,melanomma\n")  # a typo: no catch-all
    with pytest.raises(DataError, match=r"bad\.csv, line 3: unknown class 'melanomma'"):
        import_labels(project, bad)


def test_a_database_url_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_images(tmp_path / "images", n=2)
    monkeypatch.setenv("MY_PROJECT_DB", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    init_project(
        tmp_path / "proj", tmp_path / "images", CLASSES, database="env:MY_PROJECT_DB", show_progress=False
    ).close()
    assert (tmp_path / "elsewhere.db").is_file() and not (tmp_path / "proj" / "project.db").exists()
    monkeypatch.delenv("MY_PROJECT_DB")
    with pytest.raises(ConfigError, match="MY_PROJECT_DB, which is not set"):
        open_project(tmp_path / "proj")


def test_a_strategy_of_the_other_task_is_refused_before_any_work(tmp_path: Path) -> None:
    from lesionlab.project.propose import propose

    make_images(tmp_path / "images", n=4)
    with (
        init_project(
            tmp_path / "seg", tmp_path / "images", CLASSES, task="segmentation", show_progress=False
        ) as p,
        pytest.raises(ConfigError, match="pixel"),
    ):
        propose(p, 2, strategy="entropy", show_progress=False)
    with init_project(tmp_path / "cls", tmp_path / "images", CLASSES, show_progress=False) as p:
        with pytest.raises(ConfigError, match="pixel_entropy"):
            propose(p, 2, strategy="pixel_entropy", show_progress=False)
        assert p.store.rounds() == []


def test_what_counts_as_done_is_the_tasks_and_a_segmentation_project_refuses_class_labels(
    tmp_path: Path, backend: str
) -> None:
    import numpy as np

    make_images(tmp_path / "images", n=4)
    labels_csv = tmp_path / "labels.csv"
    labels_csv.write_text("image_id,label\nimg_000,lesion\n")
    mask = np.zeros((32, 32), dtype=bool)
    mask[8:20, 8:20] = True
    proposed = [("img_000", None, None), ("img_001", None, None), ("img_002", None, None)]
    with database_url(backend) as seg_url, database_url(backend) as cls_url:
        with init_project(
            tmp_path / "seg",
            tmp_path / "images",
            ["background", "lesion"],
            task="segmentation",
            database=seg_url,
            show_progress=False,
        ) as seg:
            with pytest.raises(DataError, match="segmentation project, its annotations are masks"):
                seg.store.add_annotation("img_000", 1, "ana")
            with pytest.raises(DataError, match="segmentation project"):
                import_labels(seg, labels_csv)
            assert seg.store.count_annotations() == {}
            seg.store.add_round("coreset", None, 3, 0, proposed)
            seg.store_mask("img_001", mask, "ana")
            seg.store_mask("img_002", mask, "model v1", source="model")  # a proposal, not an annotation
            assert seg.store.annotated_ids() == {"img_001"}
            assert [i for _, i in seg.store.queue(None)] == ["img_000", "img_002"]
        with init_project(
            tmp_path / "cls", tmp_path / "images", CLASSES, database=cls_url, show_progress=False
        ) as cls:
            cls.store.add_round("coreset", None, 3, 0, proposed)
            cls.store_mask("img_000", mask, "ana")  # a mask is not a class label
            cls.store.save_label("img_001", 1, "ana")
            assert cls.store.annotated_ids() == {"img_001"}
            assert [i for _, i in cls.store.queue(None)] == ["img_000", "img_002"]


def test_reviewing_a_flag_is_one_transaction_and_happens_once(project) -> None:
    from sqlalchemy import event

    from lesionlab.project.models import AuditFlag
    from lesionlab.project.store import AlreadyReviewed

    store = project.store
    store.save_label("img_000", 0, "ana")
    store.add_flags([("img_000", 0.9, "looks like melanoma", 1)])
    ((flag, _),) = store.flags()

    def crash_on_the_decision(session, _context, _instances) -> None:
        if any(isinstance(obj, AuditFlag) for obj in session.dirty):
            raise RuntimeError("crash between the new label and the decision")

    event.listen(store._sessions, "before_flush", crash_on_the_decision)
    try:
        with pytest.raises(RuntimeError, match="crash"):
            store.review_flag(flag.id, "change", "rev", 1)
    finally:
        event.remove(store._sessions, "before_flush", crash_on_the_decision)
    assert store.count_annotations() == {"expert": 1} and store.get_label("img_000") == 0  # all or nothing
    assert [f.outcome for f, _ in store.flags()] == [None]
    reviewed = store.review_flag(flag.id, "change", "rev", 1)
    assert (reviewed.outcome, store.get_label("img_000")) == ("change", 1)
    with pytest.raises(AlreadyReviewed, match=r"already reviewed \(change\) by 'rev'"):
        store.review_flag(flag.id, "keep", "other")
    with pytest.raises(AlreadyReviewed):
        store.review_flag(flag.id, "change", "rev", 1)  # a retried request writes nothing
    assert store.count_annotations() == {"expert": 1, "adjudication": 1}  # the change is a decision
    ((after, _),) = store.flags()
    assert (after.outcome, after.reviewed_by, after.new_annotation_id) == (
        "change",
        "rev",
        reviewed.new_annotation_id,
    )


def test_masks_and_label_studio_tasks_round_trip_images_in_sub_folders(tmp_path: Path, backend: str) -> None:
    import json

    import numpy as np
    from PIL import Image

    from lesionlab.project.interchange import import_masks

    make_images(tmp_path / "images", n=2)
    make_images(tmp_path / "images" / "site_b", n=2, start=2)
    out = tmp_path / "out"
    with database_url(backend) as url_a, database_url(backend) as url_b:
        with init_project(
            tmp_path / "a", tmp_path / "images", CLASSES, database=url_a, show_progress=False
        ) as a:
            ids = a.store.image_ids()
            assert ids == ["img_000", "img_001", "site_b/img_002", "site_b/img_003"]
            masks = {}
            for k, image_id in enumerate(ids):
                masks[image_id] = np.zeros((32, 32), dtype=bool)
                masks[image_id][k : k + 10, 4:20] = True
                a.store_mask(image_id, masks[image_id], "ana")
                a.store.save_label(image_id, k % 2, "ana")
            given = a.store.labels()
            written = export_project(a, out, ("labelstudio", "masks"))
        assert (
            written["masks"]["files"] == 4
            and (out / "masks" / "site_b" / "img_002_segmentation.png").is_file()
        )
        (out / "masks" / "notes.txt").write_text("not a mask")
        (out / "masks" / "site_c").mkdir()
        (out / "masks" / "site_c" / "img_009_segmentation.png").write_bytes(
            (out / "masks" / "img_000_segmentation.png").read_bytes()
        )
        tasks = json.loads(Path(written["labelstudio"]["path"]).read_text())
        for task in tasks:  # Label Studio's own export names the image by its path only
            del task["data"]["image_id"]
        tasks.append(
            {
                "data": {"image": "/data/local-files/?d=elsewhere/x.jpg"},
                "annotations": tasks[0]["annotations"],
            }
        )
        (out / "by_path.json").write_text(json.dumps(tasks))
        with init_project(
            tmp_path / "b", tmp_path / "images", CLASSES, database=url_b, show_progress=False
        ) as b:
            done = import_masks(b, out / "masks")
            assert (done["stored"], done["unknown"], done["ignored"]) == (
                4,
                ["site_c/img_009"],
                ["notes.txt"],
            )
            for image_id in ids:
                assert np.array_equal(np.array(Image.open(b.mask_path(image_id))) > 127, masks[image_id])
            labels = import_labels(b, out / "by_path.json")
            assert (labels["stored"], labels["unknown"]) == (4, ["elsewhere/x.jpg"])
            assert b.store.labels() == given


def test_an_unreadable_mask_stops_the_import_with_its_name_and_nothing_is_stored(
    project, tmp_path: Path
) -> None:
    import io

    import numpy as np
    from PIL import Image

    from lesionlab.project.interchange import import_masks

    folder = tmp_path / "masks"
    folder.mkdir()
    buf = io.BytesIO()
    Image.fromarray(np.full((32, 32), 255, dtype=np.uint8)).save(buf, format="PNG")
    (folder / "img_000_segmentation.png").write_bytes(buf.getvalue())
    (folder / "img_001_segmentation.png").write_bytes(buf.getvalue()[:60])  # truncated
    (folder / "img_002_segmentation.png").write_bytes(b"not an image at all")
    with pytest.raises(
        DataError, match=r"img_001_segmentation\.png: the mask does not decode.*nothing was imported"
    ):
        import_masks(project, folder)
    assert project.store.count_annotations() == {} and not list(project.masks_dir.glob("*.png"))
    (folder / "img_001_segmentation.png").write_bytes(buf.getvalue())
    with pytest.raises(DataError, match=r"img_002_segmentation\.png: the mask does not decode"):
        import_masks(project, folder)
    (folder / "img_002_segmentation.png").unlink()
    assert import_masks(project, folder)["stored"] == 2


def test_a_project_of_the_first_schema_upgrades_with_its_labels(tmp_path: Path) -> None:
    """A database written before people and overlap (revision 0001) opens at the newest revision with every
    label kept."""
    from alembic import command

    from lesionlab.project.database import _alembic_config, make_engine

    make_images(tmp_path / "images", n=2)
    init_project(tmp_path / "proj", tmp_path / "images", CLASSES, show_progress=False).close()
    db = tmp_path / "proj" / "project.db"
    db.unlink()
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0001")
        conn.exec_driver_sql(
            "INSERT INTO images (key, image_id, path, status, added_at) "
            "VALUES (1, 'img_000', 'img_000.jpg', 'ok', '2026-01-01 00:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO annotations (image_key, label, annotator, source, created_at) "
            "VALUES (1, 1, 'old hand', 'expert', '2026-01-01 00:00:00')"
        )
    engine.dispose()
    with open_project(tmp_path / "proj") as project:
        assert project.store.revision == "0004"
        assert project.store.labels() == {"img_000": 1} and project.store.annotators() == {"old hand": 1}


def test_eight_people_saving_one_image_at_once_leave_exactly_overlap_standing(project) -> None:
    """The overlap check and the insert are one transaction under the image row's lock: of 8 people
    saving the same image at the same moment with overlap 2, exactly 2 are stored, 6 refused."""
    import threading

    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def save(n: int) -> None:
        barrier.wait()
        try:
            project.store.add_annotation("img_005", n % 2, f"person{n}", overlap=2)
            outcomes.append("stored")
        except Conflict:
            outcomes.append("refused")

    threads = [threading.Thread(target=save, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused"] * 6 + ["stored"] * 2
    assert len(project.store.standing()["img_005"].raters) == 2


def test_ten_people_asking_at_once_for_eight_images_never_share_one(project) -> None:
    """Handing out a queue's first image leases it in the same transaction, under the image row's lock."""
    import threading

    ids = project.store.image_ids()[:8]
    project.store.add_round("coreset", None, 8, 0, [(i, None, None) for i in ids])
    barrier = threading.Barrier(10)
    firsts: list[str | None] = [None] * 10

    def take(n: int) -> None:
        barrier.wait()
        items = project.store.take(f"person{n}")
        firsts[n] = items[0][1] if items else None

    threads = [threading.Thread(target=take, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    given = [f for f in firsts if f is not None]
    assert sorted(given) == sorted(ids) and firsts.count(None) == 2
