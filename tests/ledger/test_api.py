"""The HTTP API of PROTOCOL.md section 9, through the real app."""

import base64
import json

import pytest
from fastapi.testclient import TestClient
from harness import LOG_SIGNER, Key, World
from test_node import hold_commits, wait_for

from origin.ledger.api import create_app
from origin.protocol import merkle, note
from origin.protocol import transactions as tx
from origin.protocol.canonical import canonical, parse


@pytest.fixture
def world():
    return World()


@pytest.fixture
def node(node_factory, world):
    return node_factory(world=world)


@pytest.fixture
def client(node):
    return TestClient(create_app(node))


def post(client, *transactions, wait=True):
    return client.post(f"/v1/batches?wait={str(wait).lower()}", content=canonical(tx.batch(*transactions)))


def test_commit_and_read_back(client, world):
    owner = Key()
    r = post(client, world.publish(owner), world.issue(owner))
    assert r.status_code == 200
    body = r.json()
    assert body == {"id": body["id"], "status": "COMMITTED", "seq": 1}
    assert client.get(f"/v1/batches/{body['id']}").json() == body
    state = client.get(f"/v1/state/{owner.ggo}")
    assert state.status_code == 200
    assert state.json() == {"address": owner.ggo, "record": state.json()["record"], "seq": 1}
    assert state.json()["record"]["origin"] == owner.measurement


def test_submit_without_waiting(client, node, world):
    r = post(client, world.publish(Key()), wait=False)
    assert r.status_code in (200, 202)
    batch_id = r.json()["id"]
    node.submit(tx.decode_batch(canonical(tx.batch(world.publish(Key()))), node.ledger)).result(timeout=10)
    assert client.get(f"/v1/batches/{batch_id}").json()["status"] == "COMMITTED"


def test_invalid_batch_names_code_and_transaction(client, world):
    r = post(client, world.publish(Key()), world.publish(Key(), signer=Key()))
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "INVALID"
    assert body["error"]["code"] == "unauthorized" and body["error"]["transaction"] == 1
    assert client.get(f"/v1/batches/{body['id']}").json() == body


def test_resubmitting_answers_the_same(client, world):
    t = world.publish(Key())
    first, again = post(client, t), post(client, t, wait=False)
    assert again.status_code == 200 and again.json() == first.json()


@pytest.mark.parametrize("body", [b"nope", b"[]", b'{"transactions": 5}', b'{"a":1,"a":1}'])
def test_not_a_batch_is_400(client, body):
    r = client.post("/v1/batches", content=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed"


def test_too_many_transactions_is_invalid_batch(client, world):
    r = client.post("/v1/batches?wait=true", content=canonical({"transactions": []}))
    assert r.json()["status"] == "INVALID" and r.json()["error"] == {
        "code": "invalid_batch", "message": r.json()["error"]["message"], "transaction": None}  # fmt: skip


def test_over_the_size_limit_is_413(client):
    r = client.post("/v1/batches", content=b" " * (tx.BATCH_BYTES_MAX + 1))
    assert r.status_code == 413 and r.json()["error"]["code"] == "invalid_batch"


def test_a_full_queue_is_503_with_retry_after(node_factory, world):
    node = node_factory(world=world)
    wait_for(lambda: node.role == "active")
    release = hold_commits(node)
    node._queue.maxsize = 1
    client = TestClient(create_app(node))
    assert post(client, world.publish(Key()), wait=False).status_code == 202
    wait_for(lambda: node._queue.empty())
    assert post(client, world.publish(Key()), wait=False).status_code == 202
    r = post(client, world.publish(Key()), wait=False)
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json()["error"]["code"] == "invalid_batch"
    release.set()


def test_a_standby_serves_reads_and_refuses_writes(node_factory, world):
    node = node_factory(world=world, start=False)
    client = TestClient(create_app(node))
    assert client.get("/healthz").json() == {"ledger": node.ledger, "role": "standby", "size": 1}
    assert client.get("/v1/genesis").status_code == 200
    r = post(client, world.publish(Key()))
    assert r.status_code == 503 and "standby" in r.json()["error"]["message"]


def test_state_errors(client):
    assert client.get("/v1/state/" + Key().ggo).status_code == 404
    assert client.get("/v1/state/" + Key().ggo).json()["error"]["code"] == "not_found"
    assert client.get("/v1/state/xyz").status_code == 400
    assert client.get("/v1/batches/xyz").status_code == 400
    assert client.get("/v1/batches/" + "ab" * 32).json()["status"] == "UNKNOWN"


def test_entries_checkpoint_and_proofs(client, world):
    for _ in range(4):
        post(client, world.publish(Key()))
    entry = client.get("/v1/entries/3")
    assert entry.headers["content-type"] == "application/json"
    assert parse(entry.content)["seq"] == 3
    assert client.get("/v1/entries/9").status_code == 404
    checkpoint = client.get("/v1/checkpoint")
    assert checkpoint.headers["content-type"].startswith("text/plain")
    cp = note.Checkpoint.parse(note.open_note(checkpoint.text, LOG_SIGNER.verifier))
    assert cp.size == 5

    proof = client.get("/v1/proofs/inclusion", params={"seq": 3, "size": 5}).json()
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    assert proof["seq"] == 3 and proof["size"] == 5
    assert merkle.verify_inclusion(merkle.leaf_hash(entry.content), 3, 5, hashes, cp.root)

    first_root = merkle.leaf_hash(client.get("/v1/entries/0").content)
    proof = client.get("/v1/proofs/consistency", params={"from": 1, "to": 5}).json()
    assert proof["from"] == 1 and proof["to"] == 5
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    assert merkle.verify_consistency(1, 5, first_root, cp.root, hashes)


@pytest.mark.parametrize("path", ["/v1/proofs/inclusion?seq=5&size=5", "/v1/proofs/inclusion?seq=0&size=99",
                                  "/v1/proofs/inclusion?seq=-1&size=1", "/v1/proofs/inclusion?seq=x&size=1",
                                  "/v1/proofs/consistency?from=0&to=1", "/v1/proofs/consistency?from=2&to=1",
                                  "/v1/proofs/consistency?from=1"])  # fmt: skip
def test_bad_proof_requests(client, path):
    r = client.get(path)
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed"


def test_genesis_and_docs(client, node):
    assert client.get("/v1/genesis").json() == node.config.genesis
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/v1/batches" in spec["paths"] and "/v1/proofs/consistency" in spec["paths"]


def test_unknown_path_is_a_json_404(client):
    r = client.get("/v2/nothing")
    assert r.status_code == 404 and json.loads(r.text)["error"]["code"] == "not_found"
