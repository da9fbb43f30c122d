"""The ledger's storage on embedded SQLite, in WAL mode with synchronous=FULL: a group is
durable when `commit` returns. Each thread has its own connection; only the sequencer writes."""

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from origin.ledger.store import Group, Outcome, Store, group_statements
from origin.protocol.limits import SQL_PARAMETERS_MAX  # SQLite allows 32,766; smaller statements cache better

# Numbered migrations; the database's PRAGMA user_version is how many it has had.
MIGRATIONS = [
    # 1: the ledger's tables; a record keeps the seq of the entry that created it and of the
    # one that last wrote it
    """
    CREATE TABLE entries (seq INTEGER PRIMARY KEY, body BLOB NOT NULL);
    CREATE TABLE records (address BLOB PRIMARY KEY, record BLOB NOT NULL, seq INTEGER NOT NULL,
                          created INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
                        PRIMARY KEY (level, idx)) WITHOUT ROWID;
    CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
    CREATE TABLE batches (id BLOB PRIMARY KEY, status TEXT NOT NULL, seq INTEGER, error TEXT)
        WITHOUT ROWID;
    """,
    # 2: refusals are kept in the node's memory only; the table holds committed batches
    """
    DELETE FROM batches WHERE status <> 'COMMITTED';
    """,
]


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations this database has not had; the schema version it is at."""
    db.execute("BEGIN IMMEDIATE")
    try:
        (current,) = db.execute("PRAGMA user_version").fetchone()
        for version, sql in enumerate(MIGRATIONS[current:], start=current + 1):
            for statement in filter(str.strip, sql.split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)


class SQLiteStore(Store):
    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer_lock: int | None = None
        migrate(self._db)

    @property
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=10000")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def acquire_writer(self, ledger: str) -> bool:
        """An exclusive flock on `<database>.writer`: one writer across processes."""
        if self._writer_lock is None:
            fd = os.open(f"{self.path}.writer", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._writer_lock = fd
        return True

    def holds_writer(self) -> bool:
        return self._writer_lock is not None  # a flock lasts as long as its descriptor

    def release_writer(self) -> None:
        if self._writer_lock is not None:
            os.close(self._writer_lock)  # closing the descriptor releases the flock
            self._writer_lock = None

    def commit(self, group: Group) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in group_statements(group, "?"):
                if rows:
                    db.executemany(sql, rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def size(self) -> int:
        (count,) = self._db.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM entries").fetchone()
        return int(count)

    def entry(self, seq: int) -> bytes | None:
        row = self._db.execute("SELECT body FROM entries WHERE seq = ?", (seq,)).fetchone()
        return row[0] if row else None

    def entries(self, start: int = 0) -> Iterator[bytes]:
        cursor = self._db.execute("SELECT body FROM entries WHERE seq >= ? ORDER BY seq", (start,))
        for (body,) in cursor:
            yield body

    def record(self, address: str) -> tuple[bytes, int] | None:
        row = self._db.execute(
            "SELECT record, seq FROM records WHERE address = ?", (bytes.fromhex(address),)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def created(self, address: str) -> int | None:
        row = self._db.execute("SELECT created FROM records WHERE address = ?", (bytes.fromhex(address),)).fetchone()
        return row[0] if row else None

    def _rows_in(self, sql: str, keys: list[bytes]) -> Iterator[tuple[Any, ...]]:
        """Rows of `sql` (its `IN (%s)` filled with marks) for every key, a chunk at a time."""
        for i in range(0, len(keys), SQL_PARAMETERS_MAX):
            chunk = keys[i : i + SQL_PARAMETERS_MAX]
            yield from self._db.execute(sql % ",".join("?" * len(chunk)), chunk)

    def records_at(self, addresses: list[str]) -> dict[str, bytes]:
        keys = [bytes.fromhex(a) for a in addresses]
        return {a.hex(): r for a, r in self._rows_in("SELECT address, record FROM records WHERE address IN (%s)", keys)}

    def records(self) -> Iterator[tuple[str, bytes, int, int]]:
        for address, record, seq, created in self._db.execute(
            "SELECT address, record, seq, created FROM records ORDER BY address"
        ):
            yield address.hex(), record, seq, created

    def node(self, level: int, index: int) -> bytes:
        row = self._db.execute("SELECT hash FROM nodes WHERE level = ? AND idx = ?", (level, index)).fetchone()
        if row is None:
            raise KeyError(f"no tree node at level {level}, index {index}")
        return bytes(row[0])

    def checkpoint(self) -> str | None:
        row = self._db.execute("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def outcome(self, batch_id: str) -> Outcome | None:
        return self.outcomes([batch_id]).get(batch_id)

    def outcomes(self, batch_ids: list[str]) -> dict[str, Outcome]:
        keys = [bytes.fromhex(i) for i in batch_ids]
        rows = self._rows_in("SELECT id, status, seq FROM batches WHERE id IN (%s)", keys)
        return {i.hex(): Outcome(i.hex(), status, seq) for i, status, seq in rows}

    def close(self) -> None:
        self.release_writer()
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()
