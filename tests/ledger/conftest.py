"""Ledger tests run against both storage backends: embedded SQLite and the PostgreSQL server
on this machine, each test in a database it creates and drops. PostgreSQL must be running
(`.ci/run` starts it): a missing server is an error, never a skip."""

import os
import sqlite3
import urllib.parse
import uuid

import psycopg
import pytest
from harness import World, make_node

from origin.ledger.postgres import PostgresStore
from origin.ledger.sqlite import SQLiteStore

KEYS = {"records": "address", "entries": "seq"}
POSTGRES = os.environ.get("ORIGIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


class Backend:
    """Makes empty stores of one kind, and opens them again (as a restarted node would)."""

    def __init__(self, kind: str, tmp_path):
        self.kind, self.tmp_path, self.databases = kind, tmp_path, []

    def new_store(self):
        if self.kind == "sqlite":
            return SQLiteStore(self.tmp_path / f"ledger-{uuid.uuid4().hex}.db")
        name = f"origin_test_{uuid.uuid4().hex}"
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return PostgresStore(urllib.parse.urlsplit(POSTGRES)._replace(path=f"/{name}").geturl())

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
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            for name in self.databases:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    b = Backend(request.param, tmp_path)
    yield b
    if b.databases:
        b.drop()


@pytest.fixture
def node_factory(backend):
    """Make started Nodes on new stores of the backend; stopped and closed after the test."""
    made = []

    def make(issuers=None, world: World | None = None, start=True, **settings):
        if issuers is None:
            issuers = [k.public.hex() for k in (world or World()).issuers]
        node = make_node(backend.new_store(), issuers, **settings)
        made.append(node)
        return node.start() if start else node

    yield make
    for node in made:
        node.stop()
        node.store.close()
