"""The ledger's storage on PostgreSQL (psycopg 3). A group is durable when `commit` returns
(fsync on, synchronous_commit on). The schema is created and changed by the numbered
migrations below, in order.

Each thread has its own connection. A reader whose connection was dropped (a database restart,
a failover, an idle timeout, an administrator's terminate) opens a new one and asks again,
once; if that fails too, the store raises Unavailable. The writer never reconnects silently:
its writer role is the advisory lock held by its session, so a writer whose session is gone has
lost the role and must win it again (`Node` steps down and does). TCP keepalives make a
partitioned session fail within about KEEPALIVE_S instead of the kernel's two hours.
"""

import hashlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, LiteralString, TypeVar

import psycopg

from origin.ledger.store import Group, Outcome, Store, Unavailable, group_statements

T = TypeVar("T")

CONNECT_TIMEOUT_S = 5
# Keepalives: first probe after 5 s idle, then every 2 s, 3 unanswered end it; sent data
# unacknowledged for 10 s ends it too.
KEEPALIVE_S = 11
_CONNECTION: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S, "keepalives": 1,
                               "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
                               "tcp_user_timeout": 10_000}  # fmt: skip

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
    # 2: refusals are kept in the node's memory only; the table holds committed batches
    """
    DELETE FROM batches WHERE status <> 'COMMITTED';
    """,
]


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def migrate(db: psycopg.Connection) -> int:
    """Apply the migrations this database has not had; the schema version it is at."""
    with db.transaction():
        db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
        db.execute("LOCK TABLE schema_migrations IN EXCLUSIVE MODE")
        row = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
        current = row[0] if row else 0
        for version, sql in enumerate(MIGRATIONS[current:], start=current + 1):
            db.execute(sql.encode())
            db.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
    return len(MIGRATIONS)


def writer_key(ledger: str) -> int:
    """The advisory lock key of a ledger's writer role."""
    return int.from_bytes(hashlib.sha256(f"origin ledger {ledger}".encode()).digest()[:8], "big", signed=True)


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
            if getattr(self._local, "writer", False):
                raise Unavailable("the writer's database session was lost")
            try:
                db = psycopg.connect(self.dsn, **_CONNECTION)
            except psycopg.OperationalError as exc:
                raise Unavailable(_first_line(exc)) from None
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def _drop_connection(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            self._local.db = None
            with self._lock:
                if db in self._connections:
                    self._connections.remove(db)
            db.close()

    def _ask(self, query: Callable[[psycopg.Connection], T]) -> T:
        """Run a read; on a dropped connection, once more on a new one (never the writer's)."""
        for attempt in (1, 2):
            try:
                return query(self._db)
            except psycopg.OperationalError as exc:
                self._drop_connection()
                if attempt == 2 or getattr(self._local, "writer", False):
                    raise Unavailable(_first_line(exc)) from None
        raise AssertionError("unreachable")

    def _one(self, sql: LiteralString, params: tuple[Any, ...] = ()) -> Any:
        return self._ask(lambda db: db.execute(sql, params).fetchone())

    def acquire_writer(self, ledger: str) -> bool:
        """A session advisory lock, held on the connection the writer commits through: while
        it commits, it holds the lock; when its session ends, PostgreSQL releases the lock."""
        (acquired,) = self._one("SELECT pg_try_advisory_lock(%s)", (writer_key(ledger),))
        self._local.writer = bool(acquired)
        return bool(acquired)

    def holds_writer(self) -> bool:
        try:
            self._one("SELECT 1")
        except Unavailable:
            return False
        return True

    def release_writer(self) -> None:
        self._drop_connection()  # the session ends, and its advisory lock with it
        self._local.writer = False

    def commit(self, group: Group) -> None:
        db = self._db
        with db.transaction(), db.cursor() as cur:
            for sql, rows in group_statements(group, "%s"):
                if rows:
                    cur.executemany(sql.encode(), rows)

    def size(self) -> int:
        (count,) = self._one("SELECT COALESCE(MAX(seq) + 1, 0) FROM entries")
        return int(count)

    def entry(self, seq: int) -> bytes | None:
        row = self._one("SELECT body FROM entries WHERE seq = %s", (seq,))
        return bytes(row[0]) if row else None

    def _rows(self, sql: LiteralString, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        """A long read, streamed: it cannot be asked again halfway, so a drop is Unavailable."""
        try:
            with self._db.cursor() as cur:
                cur.execute(sql, params)
                yield from cur
        except psycopg.OperationalError as exc:
            self._drop_connection()
            raise Unavailable(_first_line(exc)) from None

    def entries(self, start: int = 0) -> Iterator[bytes]:
        for (body,) in self._rows("SELECT body FROM entries WHERE seq >= %s ORDER BY seq", (start,)):
            yield bytes(body)

    def record(self, address: str) -> tuple[bytes, int] | None:
        row = self._one("SELECT record, seq FROM records WHERE address = %s", (bytes.fromhex(address),))
        return (bytes(row[0]), row[1]) if row else None

    def created(self, address: str) -> int | None:
        row = self._one("SELECT created FROM records WHERE address = %s", (bytes.fromhex(address),))
        return row[0] if row else None

    def records_at(self, addresses: list[str]) -> dict[str, bytes]:
        keys = [bytes.fromhex(a) for a in addresses]
        rows = self._ask(lambda db: db.execute("SELECT address, record FROM records WHERE address = ANY(%s)",
                                               (keys,)).fetchall())  # fmt: skip
        return {bytes(address).hex(): bytes(record) for address, record in rows}

    def records(self) -> Iterator[tuple[str, bytes, int, int]]:
        for address, record, seq, created in self._rows(
            "SELECT address, record, seq, created FROM records ORDER BY address", ()
        ):
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
        return self.outcomes([batch_id]).get(batch_id)

    def outcomes(self, batch_ids: list[str]) -> dict[str, Outcome]:
        keys = [bytes.fromhex(i) for i in batch_ids]
        rows = self._ask(lambda db: db.execute("SELECT id, status, seq FROM batches WHERE id = ANY(%s)",
                                               (keys,)).fetchall())  # fmt: skip
        return {bytes(i).hex(): Outcome(bytes(i).hex(), status, seq) for i, status, seq in rows}

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()
