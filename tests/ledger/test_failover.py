"""Failover: two nodes on one database. The active one holds the writer lock (a PostgreSQL
advisory lock on the connection it commits through; a flock for SQLite); the standby serves
reads, refuses writes, and takes over within seconds when the active one dies -- and a node
that has lost the lock never commits again."""

import json
import random
import time

import psycopg
import pytest
from backends import POSTGRES, Backend
from test_crash import init_ledger

from harness.soak import Client, NodeProcess
from origin.client import http
from origin.ledger import replay
from origin.ledger.node import CommitFailed, Node, Standby
from origin.protocol.canonical import canonical
from world import LEDGER, LOG_SIGNER, Clock, Key, World, decode, make_node, wait_for

TAKEOVER_S_MAX = 60.0  # a liveness bound, not a speed test: bench/ledger_faults.py measures it


def test_the_standby_takes_over_when_the_active_node_is_killed(backend, tmp_path):
    database, _, issuer = init_ledger(backend, tmp_path)
    client = Client(LEDGER, issuer.secret, random.Random(1))
    active = NodeProcess(tmp_path, database)
    active.wait_role("active")
    standby = NodeProcess(tmp_path, database)
    try:
        standby.wait_role("standby")
        first = canonical(client.batch()[0])
        assert http("POST", f"{standby.url}/v1/batches?wait=true", first)[0] == 503
        status, answer = http("POST", f"{active.url}/v1/batches?wait=true", first)
        assert json.loads(answer)["status"] == "COMMITTED"
        batch_id = json.loads(answer)["id"]
        assert json.loads(http("GET", f"{standby.url}/v1/batches/{batch_id}")[1])["seq"] == 1  # reads

        active.kill()
        standby.wait_role("active", timeout_s=TAKEOVER_S_MAX)
        status, answer = http("POST", f"{standby.url}/v1/batches?wait=true", canonical(client.batch()[0]))
        assert json.loads(answer) == {**json.loads(answer), "status": "COMMITTED", "seq": 2}
    finally:
        standby.stop()
        if active.process.poll() is None:
            active.kill()


@pytest.fixture
def postgres(tmp_path):
    backend = Backend("postgres", tmp_path)
    yield backend
    backend.drop()


def writer_pids(database: str) -> list[int]:
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = %s",
            (database,),
        ).fetchall()
    return [pid for (pid,) in rows]


def test_a_node_that_lost_its_lock_never_commits_again(postgres):
    world = World()
    store = postgres.new_store()
    database = postgres.databases[-1]
    make_node(store, [world.issuer.public.hex()])
    a = Node(store, LOG_SIGNER, clock=Clock())
    a.writer_check_s = 3600  # it does not notice while idle: its next commit must fail
    a.start()
    b = Node(postgres.reopen(store), LOG_SIGNER, clock=Clock())
    b.writer_poll_s = 0.05
    b.start()
    try:
        assert (a.role, b.role) == ("active", "standby")
        assert a.submit(decode(world.publish(Key()))).result(timeout=10).seq == 1
        (pid,) = writer_pids(database)
        with psycopg.connect(POSTGRES, autocommit=True) as admin:  # as if a's network failed
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        wait_for(lambda: b.role == "active")

        # a still believes it writes; its commit fails, and it becomes a standby
        with pytest.raises(CommitFailed):
            a.submit(decode(world.publish(Key()))).result(timeout=10)
        wait_for(lambda: a.role == "standby")
        with pytest.raises(Standby):
            a.submit(decode(world.publish(Key())))
        assert b.submit(decode(world.publish(Key()))).result(timeout=10).seq == 2
        time.sleep(0.3)  # a keeps polling for the lock, and keeps not getting it
        assert a.role == "standby" and writer_pids(database) != [pid]
        assert b.store.size() == 3 and replay.check(b.store).ok
    finally:
        a.stop()
        b.stop()
        a.store.close()
        b.store.close()


def test_an_idle_writer_that_lost_its_session_steps_down_and_comes_back(postgres):
    """No batch need fail for a writer to notice: it checks its session while idle, gives the
    role up, and wins it again on a new session."""
    world = World()
    store = postgres.new_store()
    database = postgres.databases[-1]
    make_node(store, [world.issuer.public.hex()])
    node = Node(store, LOG_SIGNER, clock=Clock())
    node.writer_check_s, node.writer_poll_s = 0.05, 0.05
    node.start()
    try:
        (pid,) = writer_pids(database)
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        wait_for(lambda: writer_pids(database) not in ([], [pid]))
        wait_for(lambda: node.role == "active")
        assert node.submit(decode(world.publish(Key()))).result(timeout=10).status == "COMMITTED"
    finally:
        node.stop()
        store.close()
