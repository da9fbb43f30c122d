"""The ledger's storage on PostgreSQL (psycopg 3). A group is durable when `commit` returns
(fsync on, synchronous_commit on). Each thread has its own connection; only the sequencer
writes. The schema is created and changed by the numbered migrations below, in order."""

import contextlib
import hashlib
import json
import threading
import urllib.parse
import uuid
from collections.abc import Iterator

import psycopg

from origin.ledger.store import Group, Outcome, Store, group_statements

MIGRATIONS = [
    # 1: the ledger's tables, as SQLite has them
    """
    CREATE TABLE entries (seq BIGINT PRIMARY KEY, body BYTEA NOT NULL);
    CREATE TABLE records (address BYTEA PRIMARY KEY, record BYTEA NOT NULL, seq BIGINT NOT NULL,
                          created BIGINT NOT NULL);
    CREATE TABLE nodes (level INTEGER NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL,
                        PRIMARY KEY (level, idx));
    CREATE TABLE checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL);
    CREATE TABLE batches (id BYTEA PRIMARY KEY, status TEXT NOT NULL, seq BIGINT, error TEXT);
    """,
]


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str = "origin_scratch") -> Iterator[str]:
    """The URL of a new, empty database on the server of `admin_url`, dropped afterwards
    (connections and all): for tests and benchmarks."""
    name = f"{prefix}_{uuid.uuid4().hex}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urllib.parse.urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(db: psycopg.Connection) -> int:
    """Apply the migrations this database has not had; the schema version it is at."""
    with db.transaction():
        db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
        db.execute("LOCK TABLE schema_migrations IN EXCLUSIVE MODE")
        (current,) = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
        for version, sql in enumerate(MIGRATIONS[current:], start=current + 1):
            db.execute(sql)
            db.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
    return len(MIGRATIONS)


class PostgresStore(Store):
    def __init__(self, dsn: str):
        self.dsn = dsn
        self._local = threading.local()
        self._connections: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        migrate(self._db)

    @property
    def _db(self) -> psycopg.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = psycopg.connect(self.dsn, autocommit=True)
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def acquire_writer(self, ledger: str) -> bool:
        """A session advisory lock, held on the connection the writer commits through: while
        it commits, it holds the lock; when it dies, PostgreSQL releases the lock."""
        key = int.from_bytes(hashlib.sha256(f"origin ledger {ledger}".encode()).digest()[:8], "big", signed=True)
        try:
            (acquired,) = self._one("SELECT pg_try_advisory_lock(%s)", (key,))
        except psycopg.OperationalError:
            self._drop_connection()
            return False
        return acquired

    def release_writer(self) -> None:
        self._drop_connection()  # the session ends, and its advisory lock with it

    def _drop_connection(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            self._local.db = None
            with self._lock:
                self._connections.remove(db)
            db.close()

    def commit(self, group: Group) -> None:
        db = self._db
        with db.transaction(), db.cursor() as cur:
            for sql, rows in group_statements(group, "%s"):
                if rows:
                    cur.executemany(sql, rows)

    def _one(self, sql: str, params=()):
        return self._db.execute(sql, params).fetchone()

    def size(self) -> int:
        (count,) = self._one("SELECT COALESCE(MAX(seq) + 1, 0) FROM entries")
        return count

    def entry(self, seq: int) -> bytes | None:
        row = self._one("SELECT body FROM entries WHERE seq = %s", (seq,))
        return bytes(row[0]) if row else None

    def entries(self, start: int = 0) -> Iterator[bytes]:
        with self._db.cursor() as cur:
            cur.execute("SELECT body FROM entries WHERE seq >= %s ORDER BY seq", (start,))
            for (body,) in cur:
                yield bytes(body)

    def record(self, address: str) -> tuple[bytes, int] | None:
        row = self._one("SELECT record, seq FROM records WHERE address = %s", (bytes.fromhex(address),))
        return (bytes(row[0]), row[1]) if row else None

    def created(self, address: str) -> int | None:
        row = self._one("SELECT created FROM records WHERE address = %s", (bytes.fromhex(address),))
        return row[0] if row else None

    def records_at(self, addresses: list[str]) -> dict[str, bytes]:
        rows = self._db.execute(
            "SELECT address, record FROM records WHERE address = ANY(%s)",
            ([bytes.fromhex(a) for a in addresses],),
        )
        return {bytes(address).hex(): bytes(record) for address, record in rows}

    def records(self) -> Iterator[tuple[str, bytes, int, int]]:
        with self._db.cursor() as cur:
            cur.execute("SELECT address, record, seq, created FROM records ORDER BY address")
            for address, record, seq, created in cur:
                yield bytes(address).hex(), bytes(record), seq, created

    def node(self, level: int, index: int) -> bytes:
        row = self._one("SELECT hash FROM nodes WHERE level = %s AND idx = %s", (level, index))
        if row is None:
            raise KeyError(f"no tree node at level {level}, index {index}")
        return bytes(row[0])

    def checkpoint(self) -> str | None:
        row = self._one("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1")
        return row[0] if row else None

    def outcome(self, batch_id: str) -> Outcome | None:
        row = self._one("SELECT status, seq, error FROM batches WHERE id = %s", (bytes.fromhex(batch_id),))
        if row is None:
            return None
        return Outcome(batch_id, row[0], row[1], json.loads(row[2]) if row[2] else None)

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()
