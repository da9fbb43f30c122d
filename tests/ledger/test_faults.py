"""A node whose PostgreSQL connections are dropped while it serves (a database restart, a
failover, an administrator's terminate, a partition): submissions commit again, nothing
answered COMMITTED is lost or doubled, reads carry on, and /healthz tells the truth."""

import json
import urllib.parse

import pytest
from backends import POSTGRES, Backend
from fastapi.testclient import TestClient
from test_crash import init_ledger

from harness.proxy import Proxy
from harness.scratch import terminate_sessions
from harness.soak import Load, NodeProcess
from origin.client import http
from origin.ledger.api import create_app
from origin.ledger.node import Node
from origin.ledger.postgres import PostgresStore
from origin.protocol.canonical import canonical, parse, sha256_hex
from world import LEDGER, LOG_SIGNER, Clock, Key, World, decode, make_node, wait_for

RECOVERY_S_MAX = 60.0  # a liveness bound, far above what it takes (docs/ledger.md has the figure)


@pytest.fixture
def postgres(tmp_path):
    backend = Backend("postgres", tmp_path)
    yield backend
    backend.drop()


def test_terminated_connections_cost_nothing_committed(postgres, tmp_path):
    database_url, _, issuer = init_ledger(postgres, tmp_path)
    database = urllib.parse.urlsplit(database_url).path.lstrip("/")
    node = NodeProcess(tmp_path, database_url)
    load = None
    try:
        node.wait_role("active")
        load = Load(node.url, LEDGER, issuer.secret)
        for _ in range(3):
            load.wait_for_more(load.count() + 5, RECOVERY_S_MAX)
            assert terminate_sessions(POSTGRES, database) >= 1
            load.wait_for_more(load.count() + 5, RECOVERY_S_MAX)  # commits resume
        load.end()
        assert load.reads > 0
        status, body = http("GET", f"{node.url}/healthz")
        assert status == 200 and json.loads(body)["role"] == "active"
        size = json.loads(body)["size"]
        in_log = {}
        for seq in range(1, size):
            entry = parse(http("GET", f"{node.url}/v1/entries/{seq}")[1])
            batch_id = sha256_hex(canonical(entry["batch"]))
            assert batch_id not in in_log, f"batch {batch_id} is in the log twice"
            in_log[batch_id] = seq
        assert all(in_log.get(i) == seq for i, seq in load.committed.items()), "a COMMITTED batch was lost"
    finally:
        if load is not None:
            load.end()
        node.stop()
    done = node.replay()
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_node_cut_off_from_its_database_is_unhealthy_until_it_is_back(postgres):
    world = World()
    store = postgres.new_store()
    make_node(store, [world.issuer.public.hex()])
    dsn = urllib.parse.urlsplit(store.dsn)
    store.close()
    proxy = Proxy(dsn.hostname or "127.0.0.1", dsn.port or 5432)
    through = dsn._replace(netloc=f"{dsn.username}@127.0.0.1:{proxy.port}").geturl()
    node = Node(PostgresStore(through), LOG_SIGNER, clock=Clock())
    node.writer_check_s = node.writer_poll_s = 0.05
    node.start()
    client = TestClient(create_app(node))
    try:
        assert client.get("/healthz").status_code == 200
        proxy.cut()
        wait_for(lambda: node.role == "standby")  # its session, and its writer role, are gone
        r = client.get("/healthz")
        assert r.status_code == 503 and "cannot be reached" in r.json()["error"]["message"]
        assert client.get("/v1/checkpoint").status_code == 503
        r = client.post("/v1/batches?wait=true", content=canonical({"transactions": [world.publish(Key())]}))
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        proxy.restore()
        wait_for(lambda: node.role == "active", RECOVERY_S_MAX)
        assert client.get("/healthz").status_code == 200
        assert node.submit(decode(world.publish(Key()))).result(timeout=10).status == "COMMITTED"
    finally:
        node.stop()
        node.store.close()
        proxy.close()
