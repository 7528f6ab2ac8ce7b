"""Helpers for the annotation-project tests: a folder of tiny lesion images and a database per backend.

`database_url(backend)` yields None for SQLite (the project's default file) or a fresh, empty PostgreSQL
database on the server at $LESIONLAB_TEST_POSTGRES_URL (dropped afterwards). Without that variable the
PostgreSQL cases skip with the reason; with it set and the server unreachable they fail (`.ci/run` sets it
after starting Debian's PostgreSQL, so CI can never skip them silently).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fake_isic import lesion_image, tiny_train_config

POSTGRES_ENV = "LESIONLAB_TEST_POSTGRES_URL"
# PostgreSQL: a server and a fresh database per test, so its variants are `slow` (skipped by -m "not slow")
BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.slow))
CLASSES = ["other", "melanoma"]


def make_images(folder: Path, n: int = 24, start: int = 0, size: int = 32) -> dict[str, int]:
    """`n` JPEGs (`size` px), every other one a melanoma; returns {image id: true label}."""
    folder.mkdir(parents=True, exist_ok=True)
    labels = {}
    for k in range(start, start + n):
        melanoma = k % 2 == 0
        lesion_image(1000 + k, melanoma, size=size).save(folder / f"img_{k:03d}.jpg", quality=95)
        labels[f"img_{k:03d}"] = int(melanoma)
    return labels


@contextmanager
def database_url(backend: str) -> Iterator[str | None]:
    if backend == "sqlite":
        yield None
        return
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(f"PostgreSQL store tests need ${POSTGRES_ENV} (a server URL; .ci/run sets it)")
    import sqlalchemy as sa

    name = f"lesionlab_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        pytest.fail(f"${POSTGRES_ENV} is set but the PostgreSQL server is unreachable: {exc.orig}")
    url = sa.engine.make_url(admin_url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def tiny_project_settings(**overrides: object) -> dict:
    """ProjectConfig fields sized for the tiny images (32 px, 2 epochs, one thread, 2 folds)."""
    return {"train": tiny_train_config(epochs=3), "folds": 2, **overrides}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def invite(project_dir: Path, name: str, role: str = "annotator") -> str:
    """Invite `name` to the project at `project_dir` (as `lesionlab project invite` does); their token."""
    from lesionlab.project import open_project
    from lesionlab.project.people import invite as run

    with open_project(project_dir) as project:
        return run(project, name, role)


class Server:
    """`lesionlab project serve` in its own process (so SIGKILL hits the server alone).

    Invite people first (`invite`): a server nobody is invited to does not start."""

    def __init__(self, project_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        cmd = [
            sys.executable,
            "-c",
            "from lesionlab.cli import main; main()",
            "project",
            "serve",
            str(project_dir),
            "--port",
            str(self.port),
        ]
        self.log = open(log, "ab")  # noqa: SIM115 (open while the server runs; closed by stop)
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready(log)

    def _wait_ready(self, log: Path, timeout: float = 120) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited: {log.read_text()}")
            try:  # any answer (401 without a token) means it is listening
                httpx.get(f"{self.url}/api/project", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"the server did not start within {timeout} s: {log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.log.close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
