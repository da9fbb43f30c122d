"""Storage backends for the ledger tests: embedded SQLite and the PostgreSQL server on this
machine, each test in a database it creates and drops. PostgreSQL must be running
(`.ci/run` starts it): a missing server is an error, never a skip."""

import contextlib
import os
import sqlite3
import urllib.parse
import uuid

import psycopg

from harness.scratch import scratch_database
from origin.ledger.postgres import PostgresStore
from origin.ledger.sqlite import SQLiteStore

KEYS = {"records": "address", "entries": "seq"}
POSTGRES = os.environ.get("ORIGIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


class Backend:
    """Makes empty stores of one kind, and opens them again (as a restarted node would)."""

    def __init__(self, kind: str, tmp_path):
        self.kind, self.tmp_path = kind, tmp_path
        self.databases: list[str] = []  # names of the PostgreSQL databases it made
        self._scratch = contextlib.ExitStack()

    def new_store(self):
        if self.kind == "sqlite":
            return SQLiteStore(self.tmp_path / f"ledger-{uuid.uuid4().hex}.db")
        url = self._scratch.enter_context(scratch_database(POSTGRES, "origin_test"))
        self.databases.append(urllib.parse.urlsplit(url).path.lstrip("/"))
        return PostgresStore(url)

    def reopen(self, store):
        return SQLiteStore(store.path) if self.kind == "sqlite" else PostgresStore(store.dsn)

    def rewrite(self, store, table: str, column: str, change) -> None:
        """Change every stored value of a column behind the node's back, as an attacker or a
        broken disk would: `change` maps old bytes to new."""
        if self.kind == "sqlite":
            db, mark = sqlite3.connect(store.path), "?"
        else:
            db, mark = psycopg.connect(store.dsn), "%s"
        key = KEYS[table]
        for k, value in db.execute(f"SELECT {key}, {column} FROM {table}").fetchall():
            db.execute(f"UPDATE {table} SET {column} = {mark} WHERE {key} = {mark}", (change(bytes(value)), k))
        db.commit()
        db.close()

    def drop(self):
        self._scratch.close()
