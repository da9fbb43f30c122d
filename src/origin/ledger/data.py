"""A ledger's data folder for the embedded deployment: `ledger.db` (SQLite) and `log.key`
(the log's Ed25519 signer key, readable by its owner only)."""

import os
import time
from pathlib import Path

from origin.ledger import node
from origin.ledger.genesis import LEDGER_ID, make_genesis
from origin.ledger.sqlite import SQLiteStore
from origin.protocol import note
from origin.protocol.errors import ProtocolError

DATABASE = "ledger.db"
LOG_KEY = "log.key"


class DataError(Exception):
    """A data folder that cannot be used as asked; the message says why."""


def init(data: Path, ledger: str, issuers: list[str], clock=time.time, **settings) -> dict:
    """Create a ledger in `data` (created if missing); its genesis."""
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
    key_path = data / LOG_KEY
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(str(signer) + "\n")
    store = SQLiteStore(data / DATABASE)
    try:
        node.create(store, signer, genesis, int(clock()))
    finally:
        store.close()
    return genesis


def open_store(data: Path) -> tuple[SQLiteStore, note.Signer]:
    data = Path(data)
    if not data.is_dir():
        raise DataError(f"{data} is not a folder")
    if not (data / DATABASE).exists() or not (data / LOG_KEY).exists():
        raise DataError(f"{data} holds no ledger (run `origin ledger init` first)")
    signer = note.Signer.parse((data / LOG_KEY).read_text().strip())
    return SQLiteStore(data / DATABASE), signer

