"""What every service's own database shares: an engine for SQLite (WAL, full sync, foreign
keys, a busy timeout) or PostgreSQL from one URL, and Alembic migrations run in one transaction."""

import contextlib
import logging
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Connection, Engine


def engine_for(url: str) -> Engine:
    """An engine for sqlite:///PATH or postgresql://... (psycopg 3)."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(connection: sqlite3.Connection, _):
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("PRAGMA busy_timeout=10000")

    return engine


def migrate(engine: Engine, migrations: Path, legacy: tuple[str, str] | None = None) -> str:
    """Bring the schema to the newest numbered migration under `migrations`; the revision it is
    at. `legacy` (a table, a revision): a database that has the table but predates migrations
    is stamped at that revision first."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its steps are no news to an operator
    config = AlembicConfig()
    config.set_main_option("script_location", str(migrations))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        tables = set(inspect(connection).get_table_names())
        if legacy is not None and legacy[0] in tables and "alembic_version" not in tables:
            command.stamp(config, legacy[1])
        command.upgrade(config, "head")
        revision = MigrationContext.configure(connection).get_current_revision()
    assert revision is not None, "the migrations ran"
    return revision


_WRITERS: "weakref.WeakKeyDictionary[Engine, threading.RLock]" = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


@contextlib.contextmanager
def writes(engine: Engine) -> Iterator[Connection]:
    """A write transaction. SQLite has one writer at a time and makes the others wait in sleeps
    of up to 100 ms: the writers of this process queue on a lock instead, so none waits longer
    than the writes ahead of it. PostgreSQL's writers run side by side."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with _WRITERS_LOCK:
        lock = _WRITERS.setdefault(engine, threading.RLock())
    with lock, engine.begin() as conn:
        yield conn


def connect(url: str, migrations: Path) -> Engine:
    """An engine for sqlite:///PATH or postgresql://..., with the schema of `migrations` in place."""
    engine = engine_for(url)
    migrate(engine, migrations)
    return engine
