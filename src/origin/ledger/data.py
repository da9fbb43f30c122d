"""A ledger's data folder: `log.key` (the log's Ed25519 signer key, readable by its owner only)
and, unless the ledger is on PostgreSQL (`database`, a postgresql:// URL), `ledger.db` (SQLite)."""

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from origin.ledger import node
from origin.ledger.postgres import PostgresStore
from origin.ledger.sqlite import SQLiteStore
from origin.ledger.store import Store
from origin.protocol import note
from origin.protocol.errors import ProtocolError
from origin.protocol.genesis import LEDGER_ID, make_genesis

DATABASE = "ledger.db"
LOG_KEY = "log.key"


class DataError(Exception):
    """A data folder that cannot be used as asked; the message says why."""


def _store(data: Path, database: str | None) -> Store:
    if database is None:
        return SQLiteStore(data / DATABASE)
    if not database.startswith(("postgresql://", "postgres://")):
        raise DataError("--database takes a postgresql:// URL")
    try:
        return PostgresStore(database)
    except psycopg.Error as exc:
        raise DataError(f"cannot use the database: {str(exc).strip().splitlines()[0]}") from None


def init(data: Path, ledger: str, issuers: list[str], clock: Callable[[], float] = time.time,
         database: str | None = None, **settings: Any) -> dict[str, Any]:  # fmt: skip
    """Create a ledger: its key in `data` (created if missing), its log in SQLite there or in
    the PostgreSQL `database`; its genesis."""
    data = Path(data)
    if (data / DATABASE).exists() or (data / LOG_KEY).exists():
        raise DataError(f"{data} already holds a ledger")
    if not LEDGER_ID.fullmatch(ledger):
        raise DataError(f"ledger id {ledger!r} must match {LEDGER_ID.pattern}")
    signer = note.Signer.generate(ledger)
    try:
        genesis = make_genesis(ledger, issuers, str(signer.verifier), **settings)
    except ProtocolError as exc:
        raise DataError(exc.message) from None
    data.mkdir(parents=True, exist_ok=True)
    store = _store(data, database)
    try:
        if store.size():
            raise DataError("the database already holds a ledger")
        fd = os.open(data / LOG_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(str(signer) + "\n")
        node.create(store, signer, genesis, int(clock()))
    finally:
        store.close()
    return genesis


def ledger_files(data: Path) -> list[Path]:
    """The files of a ledger on SQLite in `data` that exist (its key, database and journals)."""
    names = [LOG_KEY, DATABASE, f"{DATABASE}-wal", f"{DATABASE}-shm", f"{DATABASE}.writer"]
    return [Path(data) / n for n in names if (Path(data) / n).exists()]


def open_store(data: Path, database: str | None = None) -> tuple[Store, note.Signer]:
    data = Path(data)
    if not data.is_dir():
        raise DataError(f"{data} is not a folder")
    if not (data / LOG_KEY).exists() or (database is None and not (data / DATABASE).exists()):
        raise DataError(f"{data} holds no ledger (run `origin ledger init` first)")
    signer = note.Signer.parse((data / LOG_KEY).read_text().strip())
    store = _store(data, database)
    if not store.size():
        store.close()
        raise DataError("the database holds no ledger (run `origin ledger init` first)")
    return store, signer
