"""Crash safety for real: the node runs as its own process and is killed with SIGKILL while
concurrent clients submit; after every restart nothing answered COMMITTED is lost, replay
agrees, and the new checkpoint is consistent with every one published before the kill."""

from harness import LEDGER, Key

from origin.ledger import data as ledger_data
from origin.ledger.soak import Soak
from origin.protocol import note

KILLS = 3


def init_ledger(backend, tmp_path) -> tuple[str | None, note.Verifier, Key]:
    """A ledger under tmp_path, on the backend; its database URL (None for SQLite)."""
    issuer = Key()
    database = None
    if backend.kind == "postgres":
        store = backend.new_store()
        database = store.dsn
        store.close()
    genesis = ledger_data.init(tmp_path, LEDGER, [issuer.public.hex()], database=database)
    return database, note.Verifier.parse(genesis["log_key"]), issuer


def test_killed_nodes_lose_nothing(backend, tmp_path):
    database, log_key, issuer = init_ledger(backend, tmp_path)
    soak = Soak(tmp_path, database, issuer.secret, LEDGER, log_key, clients=6)
    for _ in range(KILLS):
        soak.round(run_s=1.5)
    soak.final_check()
    assert soak.kills == KILLS and soak.answered > 0 and not soak.errors
    assert len(soak.checkpoints) > KILLS
