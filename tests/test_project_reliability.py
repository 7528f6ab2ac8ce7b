"""The annotation server under load and under kill -9, as a real server process over HTTP.

8 clients submit 1,000 labels in total (every tenth is sent twice, as a client does that lost the reply):
every acknowledged label must be stored exactly once. Then the server is killed with SIGKILL while 8
clients write: every acknowledged label must be in the database, SQLite must pass `PRAGMA
integrity_check`, and a restarted server must serve and accept labels. Both run on SQLite and PostgreSQL.
The figures (labels per second, labels acknowledged before the kill) are printed (`pytest -s`).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("httpx")
pytest.importorskip("sqlalchemy")

import httpx
from sqlalchemy import select

from lesionlab.project import init_project, open_project
from lesionlab.project.models import Annotation
from project_fixtures import BACKENDS, CLASSES, Server, auth, database_url, make_images

CLIENTS = 8
TOTAL = 1000


@pytest.fixture(params=BACKENDS)
def project_dir(request, tmp_path: Path):
    make_images(tmp_path / "images", n=40)
    (tmp_path / "images" / "broken.jpg").write_bytes(b"\xff\xd8 cut off")  # reported, skipped, never fatal
    with database_url(request.param) as url:
        init_project(
            tmp_path / "proj", tmp_path / "images", CLASSES, database=url, show_progress=False
        ).close()
        yield tmp_path / "proj"


def stored_request_ids(project_dir: Path) -> list[str]:
    with open_project(project_dir) as project, project.store.session() as s:
        return list(s.scalars(select(Annotation.request_id)))


def submit(client, ids: list[str], client_no: int, j: int) -> dict:
    return {
        "image_id": ids[(client_no * 7 + j) % len(ids)],
        "label": (client_no + j) % len(CLASSES),
        "annotator": f"annotator{client_no}",
        "request_id": f"c{client_no}-r{j:05d}",
    }


def test_8_clients_1000_labels_every_acknowledged_label_stored_exactly_once(
    project_dir: Path, tmp_path: Path
):
    server = Server(project_dir, tmp_path / "server.log")
    ids = [f"img_{k:03d}" for k in range(40)]
    acknowledged: list[list[str]] = [[] for _ in range(CLIENTS)]
    replays = [0] * CLIENTS
    errors: list[str] = []

    def worker(n: int) -> None:
        with httpx.Client(base_url=server.url, headers=auth(), timeout=60) as client:
            for j in range(TOTAL // CLIENTS):
                body = submit(client, ids, n, j)
                for attempt in range(2 if j % 10 == 0 else 1):  # every tenth: the reply "was lost", resend
                    for _ in range(5):
                        try:
                            response = client.post("/api/labels", json=body)
                            break
                        except httpx.TransportError:
                            time.sleep(0.2)
                    else:
                        errors.append(f"client {n}: gave up on {body['request_id']}")
                        break
                    if response.status_code != 201:
                        errors.append(f"client {n}: {response.status_code} {response.text}")
                        break
                    if attempt == 0:
                        acknowledged[n].append(body["request_id"])
                    else:
                        replays[n] += not response.json()["new"]

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    server.stop()
    assert errors == []
    acked = [r for per in acknowledged for r in per]
    stored = stored_request_ids(project_dir)
    assert len(acked) == TOTAL
    assert len(stored) == TOTAL and sorted(stored) == sorted(acked)  # each exactly once
    resent = CLIENTS * len(range(0, TOTAL // CLIENTS, 10))
    assert sum(replays) == resent  # every resent request was recognised, none stored again
    with open_project(project_dir) as project:
        assert project.store.integrity_check() == "ok"
        backend = project.store.engine.dialect.name
    print(
        f"\n[figure] {backend}: {CLIENTS} clients, {TOTAL} labels (+{sum(replays)} resent) "
        f"in {seconds:.1f} s = {TOTAL / seconds:.0f} labels/s; stored exactly once: {len(stored)}/{TOTAL}"
    )


def test_kill_9_while_clients_write_keeps_every_acknowledged_label(project_dir: Path, tmp_path: Path):
    server = Server(project_dir, tmp_path / "server.log")
    assert "skipped broken: corrupt" in (tmp_path / "server.log").read_text()
    ids = [f"img_{k:03d}" for k in range(40)]
    acknowledged: list[list[str]] = [[] for _ in range(CLIENTS)]
    attempted: list[list[str]] = [[] for _ in range(CLIENTS)]

    def worker(n: int) -> None:
        with httpx.Client(base_url=server.url, headers=auth(), timeout=30) as client:
            for j in range(100_000):
                body = submit(client, ids, n, j)
                attempted[n].append(body["request_id"])
                try:
                    response = client.post("/api/labels", json=body)
                except httpx.TransportError:
                    return  # the server is gone
                if response.status_code == 201:
                    acknowledged[n].append(body["request_id"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120  # generous: a busy shared machine can be slow to answer
    while sum(map(len, acknowledged)) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.proc.kill()  # SIGKILL, mid-write
    server.proc.wait(timeout=30)
    for t in threads:
        t.join(timeout=60)
    server.stop()
    acked = {r for per in acknowledged for r in per}
    sent = {r for per in attempted for r in per}
    assert len(acked) >= 150
    with open_project(project_dir) as project:
        assert project.store.integrity_check() == "ok"
        backend = project.store.engine.dialect.name
    stored = stored_request_ids(project_dir)
    assert len(stored) == len(set(stored))
    assert acked <= set(stored)  # nothing acknowledged is lost
    assert set(stored) <= sent and len(set(stored) - acked) <= CLIENTS  # at most the in-flight ones extra
    restarted = Server(project_dir, tmp_path / "server2.log")
    try:
        status = httpx.get(f"{restarted.url}/api/status", headers=auth(), timeout=30).json()
        assert status["labels"]["total"] > 0
        again = httpx.post(
            f"{restarted.url}/api/labels",
            headers=auth(),
            timeout=30,
            json={"image_id": "img_000", "label": 1, "annotator": "after", "request_id": "after-restart"},
        )
        assert again.status_code == 201
    finally:
        restarted.stop()
    print(
        f"\n[figure] {backend}: kill -9 after {len(acked)} acknowledged labels from {CLIENTS} clients: "
        f"{len(acked)}/{len(acked)} present after restart, {len(set(stored) - acked)} in-flight also stored, "
        "integrity_check ok"
    )
