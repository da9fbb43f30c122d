"""Crash safety for real: the node runs as its own process and is killed with SIGKILL while
concurrent clients submit; after every restart nothing answered COMMITTED is lost, replay
agrees, and the new checkpoint is consistent with every one published before the kill."""

import json
import os
import random
import time

from harness.soak import Client, NodeProcess, Soak
from origin.client import http
from origin.ledger import data as ledger_data
from origin.protocol import note
from origin.protocol.canonical import canonical
from world import LEDGER, Key

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
    assert soak.kills == KILLS and soak.answered >= KILLS and not soak.errors


def test_a_killed_nodes_verification_workers_do_not_outlive_it(backend, tmp_path):
    database, _, issuer = init_ledger(backend, tmp_path)
    node = NodeProcess(tmp_path, database)
    try:
        node.wait_role("active")
        body = canonical(Client(LEDGER, issuer.secret, random.Random(1)).batch()[0])
        assert json.loads(http("POST", f"{node.url}/v1/batches?wait=true", body)[1])["status"] == "COMMITTED"
        workers = _children(node.process.pid)
        assert len(workers) >= 2  # a verification worker (more start as needed) and their resource tracker
    finally:
        node.kill()
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") and _state(pid) != "Z" for pid in workers):
        assert time.monotonic() < deadline, f"orphaned workers outlived the node: {workers}"
        time.sleep(0.1)


def _children(pid: int) -> list[int]:
    """Processes whose parent is pid (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
