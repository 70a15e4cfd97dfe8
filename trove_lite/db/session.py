"""Engine and sessions for the control-plane database, and schema migration.

SQLite (embedded default) and MariaDB/MySQL through PyMySQL are both supported.
SQLite runs in WAL mode with a busy timeout so the API, taskmanager and
conductor threads of the all-in-one can write concurrently.
"""

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "migrations")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30,
                                                  "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        # pysqlite's own transaction handling defers BEGIN; make writes take the
        # lock up front so concurrent read-then-write transactions serialise
        # instead of failing with "database is locked" on upgrade.
        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
        return engine
    return create_engine(url, pool_pre_ping=True, pool_recycle=3600, pool_size=10,
                         max_overflow=20, isolation_level="READ COMMITTED")


class Database:
    """The control-plane database: ``with db.session() as s:`` commits on success."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        session = self._sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def sync(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        db_sync(self.url, engine=self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", MIGRATIONS_DIR)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def db_sync(url: str, revision: str = "head", engine: Engine | None = None) -> None:
    cfg = alembic_config(url)
    if engine is not None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    else:
        command.upgrade(cfg, revision)
