"""The HTTP API of PROTOCOL.md section 9, through the real app."""

import base64
import json

import pytest
from fastapi.testclient import TestClient

from origin.ledger.api import create_app
from origin.protocol import merkle, note
from origin.protocol import transactions as tx
from origin.protocol.canonical import canonical, parse
from origin.protocol.limits import BATCH_BODY_BYTES_MAX, BATCH_BYTES_MAX, BATCH_TRANSACTIONS_MAX
from world import LOG_SIGNER, Key, World, exact_batch, hold_commits, wait_for


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


def test_a_batch_at_the_size_limit_commits_and_one_byte_more_is_413(client, world):
    r = client.post("/v1/batches?wait=true", content=exact_batch(world, BATCH_BYTES_MAX))
    assert r.status_code == 200 and r.json()["status"] == "COMMITTED"
    r = client.post("/v1/batches?wait=true", content=exact_batch(world, BATCH_BYTES_MAX + 1))
    assert r.status_code == 413 and r.json()["error"]["code"] == "invalid_batch"


def test_a_body_over_its_limit_is_413_before_it_is_read_whole(client):
    assert client.post("/v1/batches", content=b" " * BATCH_BODY_BYTES_MAX).status_code == 400
    r = client.post("/v1/batches", content=b" " * (BATCH_BODY_BYTES_MAX + 1))
    assert r.status_code == 413 and r.json()["error"]["code"] == "invalid_batch"
    chunks = (b" " * 65536 for _ in range(64))  # chunked, no Content-Length: counted as it streams
    r = client.post("/v1/batches", content=chunks)
    assert r.status_code == 413 and r.json()["error"]["code"] == "invalid_batch"
    r = client.post("/v1/batches", content=b"{}", headers={"content-length": "9" * 30})
    assert r.status_code == 413


def test_a_full_queue_is_503_with_retry_after(node_factory, world):
    node = node_factory(world=world)
    wait_for(lambda: node.role == "active")
    release = hold_commits(node)
    node._queue.maxsize = 1
    client = TestClient(create_app(node))
    assert post(client, world.publish(Key()), wait=False).status_code == 202
    wait_for(node._queue.empty)
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


@pytest.mark.parametrize("path", ["/v1/entries/" + "9" * 4301, "/v1/entries/9223372036854775808", "/v1/entries/-1",
                                  "/v1/entries/x", "/v1/proofs/inclusion?seq=0&size=" + "9" * 5000,
                                  "/v1/proofs/consistency?from=1&to=" + "1" * 30])  # fmt: skip
def test_numbers_of_any_length_are_400(client, path):
    r = client.get(path)
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed"


@pytest.mark.parametrize("path", ["/tile/0/001.p/" + "9" * 5000, "/tile/0/" + "x999/" * 2000 + "999",
                                  "/tile/" + "9" * 5000 + "/000", "/tile/entries/x999/x999/x999/x999/x999/x999/999"])  # fmt: skip
def test_tile_paths_of_any_length_are_404(client, path):
    r = client.get(path)
    assert r.status_code == 404 and len(r.json()["error"]["message"]) < 200


def test_an_integer_of_any_length_in_a_batch_is_400(client, world):
    body = canonical(tx.batch(world.publish(Key()))).replace(b'"amount":1000', b'"amount":' + b"9" * 4301)
    r = client.post("/v1/batches", content=body)
    assert r.status_code == 400 and "outside 0..2^53-1" in r.json()["error"]["message"]


def test_405_says_what_is_allowed(client):
    r = client.delete("/v1/batches")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_the_openapi_document_declares_the_refusals(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"400", "408", "413", "503"} <= set(paths["/v1/batches"]["post"]["responses"])
    assert {"400", "404", "503"} <= set(paths["/v1/entries/{seq}"]["get"]["responses"])
    maximum = paths["/v1/batches"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert maximum["properties"]["transactions"]["maxItems"] == BATCH_TRANSACTIONS_MAX


def test_unknown_path_is_a_json_404(client):
    r = client.get("/v2/nothing")
    assert r.status_code == 404 and json.loads(r.text)["error"]["code"] == "not_found"
