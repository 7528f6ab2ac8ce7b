"""The Label Studio export opens in a real Label Studio: started here, fed the export with label-studio-sdk,
read back through its own JSON export, equal to the project (labels, authors, unsure, comments, masks
pixel for pixel after the SDK's converter decodes them, the image served by its local-files URL).

Label Studio runs from its own virtualenv (LESIONLAB_LABEL_STUDIO_VENV, default
~/.cache/lesionlab/label-studio-<version>), built once by the first test that needs it: label-studio 1.23.2
and label-studio-sdk 2.1.2 pin numpy 2.2.6 (ours is newer) and bring Django, black, isort and OpenCV, which
the project's environment should not carry. The migrated SQLite database of the first start is kept beside
it as a template, so later starts skip Label Studio's migrations.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lesionlab.data.preprocess import open_mask
from lesionlab.project import brush_rle, init_project
from lesionlab.project.interchange import export_project, import_labels
from project_fixtures import free_port, make_images

LS_VERSION = "1.23.2"
TOKEN = "lesionlab-test-token-0123456789"
HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


# ---------------------------------------------------------------- the RLE, without Label Studio
def test_brush_rle_writes_the_converters_bytes_and_reads_them_back() -> None:
    mask = np.zeros((4, 5), dtype=bool)
    mask[1:3, 1:4] = True
    # label_studio_sdk.converter.brush.mask2rle(mask * 255) and encode_rle(values), label-studio-sdk 2.1.2
    assert brush_rle.encode_mask(mask) == [0, 0, 0, 80, 57, 27, 254, 23, 0, 183, 255, 56, 5, 191, 252, 46, 0]
    values = np.array([5, 5, 5, 1, *[2] * 10, 9, *[3] * 300], dtype=np.uint8)
    golden = [0, 0, 1, 59, 57, 27, 252, 64, 160, 0, 217, 2, 0, 39, 128, 149, 129, 128]
    assert brush_rle.encode(values) == golden
    assert np.array_equal(brush_rle.decode(golden), values)
    rng = np.random.default_rng(0)
    for shape in ((1, 1), (17, 40), (300, 301)):  # literal runs, every field size, runs over 2**16
        for m in (rng.random(shape) > 0.5, np.ones(shape, bool), np.zeros(shape, bool)):
            assert np.array_equal(brush_rle.decode_mask(brush_rle.encode_mask(m), shape[1], shape[0]), m)


def test_a_brush_rle_of_the_wrong_size_or_cut_short_is_one_line() -> None:
    from lesionlab.errors import DataError

    rle = brush_rle.encode_mask(np.ones((4, 5), bool))
    with pytest.raises(DataError, match=r"holds 80 values, but a 6x4 image needs 96"):
        brush_rle.decode_mask(rle, 6, 4)
    with pytest.raises(DataError, match="ends before its last value"):
        brush_rle.decode(rle[:6])


# ---------------------------------------------------------------- a real Label Studio
def _venv() -> Path:
    """Label Studio's virtualenv, built on first use under a lock (a half-built one is rebuilt)."""
    import fcntl

    default = Path.home() / ".cache" / "lesionlab" / f"label-studio-{LS_VERSION}"
    venv = Path(os.environ.get("LESIONLAB_LABEL_STUDIO_VENV", default))
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test session building it: wait for it
        done = venv / "lesionlab-complete"
        if done.is_file():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        run = subprocess.run([*pip, f"label-studio=={LS_VERSION}"], capture_output=True, text=True)
        if run.returncode != 0:
            pytest.fail(f"pip install label-studio=={LS_VERSION} failed: {run.stderr[-2000:]}")
        subprocess.run([python, "-c", "import label_studio, label_studio_sdk"], check=True)
        done.write_text(f"built in {time.monotonic() - started:.0f} s\n")
    return venv


def _get(url: str, token: str | None = None, timeout: float = 5) -> tuple[int, bytes]:
    headers = {"Authorization": f"Token {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as answer:
        return answer.status, answer.read()


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A running Label Studio (SQLite, a temporary data folder, a free port, an admin and token set by
    its environment variables); local files served from a temporary document root."""
    venv = _venv()
    data = tmp_path_factory.mktemp("label_studio_data")
    root = tmp_path_factory.mktemp("documents")
    template = venv / "lesionlab-template.sqlite3"
    if template.is_file():
        shutil.copyfile(template, data / "label_studio.sqlite3")
    port = free_port()
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        "DJANGO_DB": "sqlite",
        "LABEL_STUDIO_USERNAME": "admin@lesionlab.local",
        "LABEL_STUDIO_PASSWORD": "lesionlab-test-password",
        "LABEL_STUDIO_USER_TOKEN": TOKEN,
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(root),
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
    }
    env.pop("HOST", None)
    log = data / "label_studio.log"
    command = [str(venv / "bin" / "label-studio"), "start", "--no-browser", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--enable-legacy-api-token"]
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"Label Studio exited with {proc.returncode}: {log.read_text()[-3000:]}")
            if time.monotonic() - started > 900:
                pytest.fail(f"Label Studio did not answer /health in 900 s: {log.read_text()[-3000:]}")
            try:
                if _get(url + "/api/projects/", TOKEN)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(1)
        seconds = time.monotonic() - started
        if not template.is_file():  # keep the migrated database for the next start (sqlite's backup)
            with sqlite3.connect(data / "label_studio.sqlite3") as src, sqlite3.connect(template) as dst:
                src.backup(dst)
        yield {"url": url, "root": root, "venv": venv, "startup_seconds": seconds}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _push_and_read_back(ls: dict, export_dir: Path, images: Path, out: Path) -> dict:
    run = subprocess.run(
        [
            *(str(ls["venv"] / "bin" / "python"), str(HERE / "label_studio_client.py"), ls["url"], TOKEN),
            *(str(export_dir), str(images), str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads((out / "read_back.json").read_text())


def _expected(project, emails: dict[str, str]) -> dict[str, list[dict]]:
    """What Label Studio must hold: per image, per person standing on it (or deciding it), their answer."""
    out: dict[str, dict[tuple[str, bool], dict]] = {}
    for kind in ("label", "mask"):
        for iid, st in project.store.standing(kind).items():
            rows = [(name, False, a) for name, a in st.raters.items()]
            if st.adjudication is not None:
                rows.append((st.adjudication.annotator, True, st.adjudication))
            for name, gt, a in rows:
                item = out.setdefault(iid, {}).setdefault(
                    (name, gt), {"email": emails[name], "ground_truth": gt}
                )
                if a.label is not None:
                    item["label"] = [project.classes[a.label]]
                if a.mask_path is not None:
                    item["mask"] = open_mask(project.dir / a.mask_path)
                if a.unsure:
                    item["unsure"] = ["unsure"]
                if a.comment:
                    item["comment"] = [a.comment]
    return {iid: list(people.values()) for iid, people in out.items()}


def _assert_equal(read: dict, expected: dict[str, list[dict]]) -> None:
    assert sorted(read["images"]) == sorted(expected)
    for iid, want in expected.items():
        got = sorted(read["images"][iid], key=lambda a: (a["ground_truth"], a["email"]))
        want = sorted(want, key=lambda a: (a["ground_truth"], a["email"]))
        assert [(a["email"], a["ground_truth"]) for a in got] == [
            (a["email"], a["ground_truth"]) for a in want
        ]
        for g, w in zip(got, want, strict=True):
            for key in ("label", "unsure", "comment"):
                assert g.get(key) == w.get(key), (iid, g["email"], key)
            assert ("mask" in g) == ("mask" in w), (iid, g["email"])
            if "mask" in w:
                decoded = np.load(g["mask"]) > 127  # the converter's alpha layer
                assert np.array_equal(decoded, w["mask"]), (iid, g["email"])


@pytest.mark.slow
def test_the_export_opens_in_a_running_label_studio_with_every_annotation(
    label_studio, tmp_path: Path
) -> None:
    images = label_studio["root"] / "images"
    make_images(images, n=4)
    make_images(images / "site b", n=2, start=4)
    mask = np.zeros((32, 32), dtype=bool)
    with init_project(tmp_path / "cls", images, ["other", "melanoma"], overlap=2, show_progress=False) as p:
        p.store.add_annotation("img_000", 1, "Ana Lima", overlap=2, unsure=True, comment="border unclear")
        p.store.add_annotation("img_000", 1, "bob", overlap=2)
        p.store.add_annotation("img_001", 0, "Ana Lima", overlap=2)
        p.store.add_annotation("img_001", 1, "bob", overlap=2)
        p.store.add_annotation("img_001", 1, "rev", source="adjudication")  # a reviewer's decision
        p.store.add_annotation("site b/img_004", 0, "bob", overlap=2)  # one of two: incomplete
        version = p.store.add_model_version("models/v0001/model.pt", 2, "2-fold cv", {})
        p.store.add_round(
            "entropy", version, 2, 2, [("img_000", 0.5, [0.3, 0.7]), ("img_002", 0.4, [0.9, 0.1])]
        )
        written = export_project(
            p, tmp_path / "cls_out", ("labelstudio",), {"local_root": label_studio["root"]}
        )
        emails = {
            e["name"]: e["email"] for e in json.loads(Path(written["labelstudio"]["people"]).read_text())
        }
        cls_expected = _expected(p, emails)
    read = _push_and_read_back(label_studio, tmp_path / "cls_out", images, tmp_path / "cls_back")
    _assert_equal(read, cls_expected)
    assert read["predictions"] == {"img_000": ["v1", [["melanoma"]]]}  # img_002 has no annotation: no task
    assert read["images"]["img_001"][0]["email"] in emails.values()
    fetched = read["fetched"]  # the first task's image, through Label Studio's local-files URL
    assert fetched["status"] == 200
    assert (
        fetched["sha256"] == hashlib.sha256((images / f"{fetched['image_id']}.jpg").read_bytes()).hexdigest()
    )
    with init_project(tmp_path / "back", images, ["other", "melanoma"], show_progress=False) as back:
        done = import_labels(back, tmp_path / "cls_back" / "label_studio_export.json")  # Label Studio's own
        assert back.store.labels() == {"img_000": 1, "img_001": 1, "site b/img_004": 0}  # agreed / decided
        assert done["disagree"] == []

    with init_project(
        tmp_path / "seg",
        images,
        ["background", "lesion"],
        task="segmentation",
        overlap=2,
        show_progress=False,
    ) as s:
        for k, (name, iid) in enumerate([("ana", "img_000"), ("bob", "img_000"), ("ana", "site b/img_005")]):
            m = mask.copy()
            m[3 + k : 20 + 2 * k, 5 : 28 - k] = True
            m[25, 1::3] = True  # single pixels: the RLE's literal runs
            s.save_mask(iid, m, name, overlap=2, unsure=k == 1, comment="two lobes" if k == 2 else None)
        s.save_mask("img_001", mask, "bob", overlap=2)  # "no lesion": an empty mask
        written = export_project(
            s, tmp_path / "seg_out", ("labelstudio",), {"local_root": label_studio["root"]}
        )
        assert written["labelstudio"]["tasks"] == 3
        emails = {
            e["name"]: e["email"] for e in json.loads(Path(written["labelstudio"]["people"]).read_text())
        }
        seg_expected = _expected(s, emails)
    read = _push_and_read_back(label_studio, tmp_path / "seg_out", images, tmp_path / "seg_back")
    _assert_equal(read, seg_expected)
    assert {tuple(a["brushlabels"]) for anns in read["images"].values() for a in anns} == {("lesion",)}
    with init_project(
        tmp_path / "seg_back", images, ["background", "lesion"], task="segmentation", show_progress=False
    ) as back:
        done = import_labels(back, tmp_path / "seg_back" / "label_studio_export.json")
        assert (done["stored"], done["disagree"]) == (2, ["img_000"])  # ana's and bob's masks differ
        for iid in ("site b/img_005", "img_001"):
            assert np.array_equal(open_mask(back.mask_path(iid)), seg_expected[iid][0]["mask"])
    print(f"Label Studio {LS_VERSION} answered after {label_studio['startup_seconds']:.0f} s")
