"""The project database's engine and schema: SQLite tuned for safe concurrent writes, or PostgreSQL, and
the Alembic migrations that bring either to the newest schema.

On SQLite each transaction starts with `BEGIN IMMEDIATE` (a writer never has to upgrade a read lock, the
cause of "database is locked" under concurrent writers) and commits with `synchronous=FULL`, so an
acknowledged label survives a killed process and a power cut.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

from lesionlab.errors import LesionlabError

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_S = 60


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, full sync, foreign keys and immediate transactions."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _alembic_config(connection: Any) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest migration (a no-op when it is there); returns that revision.

    A database written by a newer lesionlab (a revision this one does not know) is refused, not guessed at.
    """
    head = ScriptDirectory.from_config(_alembic_config(None)).get_current_head()
    with engine.begin() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return head
        known = {s.revision for s in ScriptDirectory.from_config(_alembic_config(None)).walk_revisions()}
        if current is not None and current not in known:
            raise LesionlabError(
                f"the project database is at schema revision {current!r}, which this lesionlab does not "
                "know (written by a newer version?); upgrade lesionlab"
            )
        command.upgrade(_alembic_config(conn), "head")
    return head
