"""Scratch PostgreSQL databases for tests and benchmarks: created empty, dropped afterwards."""

import contextlib
import urllib.parse
import uuid
from collections.abc import Iterator

import psycopg


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str = "origin_scratch") -> Iterator[str]:
    """The URL of a new, empty database on the server of `admin_url`, dropped afterwards
    (connections and all)."""
    name = f"{prefix}_{uuid.uuid4().hex}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield urllib.parse.urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def terminate_sessions(admin_url: str, database: str) -> int:
    """End every session on `database` (as a database restart or an administrator would); how
    many there were."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        rows = admin.execute(
            b"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return len(rows)
