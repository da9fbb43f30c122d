"""A client written from PROTOCOL.md alone -- hashlib, json and coincurve directly, none of
Origin's builders -- is accepted by the node over HTTP."""

import hashlib
import json

from coincurve import PrivateKey
from fastapi.testclient import TestClient

from origin.ledger.api import create_app


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def address(namespace: str, public: bytes) -> str:
    prefix = hashlib.sha256(f"origin:{namespace}".encode()).hexdigest()[:6]
    return prefix + hashlib.sha256(public).hexdigest()


def sign(ledger: str, key: PrivateKey, tx_type: str, payload: dict) -> dict:
    signer = key.public_key.format(compressed=True).hex()
    document = {"ledger": ledger, "type": tx_type, "signer": signer, "payload": payload}
    digest = hashlib.sha256(canonical(document)).digest()
    sig = key.sign_recoverable(digest, hasher=None)[:64]  # compact r || s, low-S, RFC 6979
    return {**document, "signature": sig.hex()}


def test_client_from_the_protocol_page(node_factory):
    issuer = PrivateKey()
    node = node_factory(issuers=[issuer.public_key.format().hex()])
    ledger = node.ledger
    client = TestClient(create_app(node))
    meter, receiver, consumer = PrivateKey(), PrivateKey(), PrivateKey()
    m = address("measurement", meter.public_key.format())
    ggo = address("ggo", meter.public_key.format())
    period = {"begin": "2026-01-01T10:00:00Z", "end": "2026-01-01T11:00:00Z", "sector": "DK1"}
    c = address("measurement", consumer.public_key.format())
    batch = {"transactions": [
        sign(ledger, issuer, "publish_measurement", {"address": m, "type": "PRODUCTION", "amount": 5000, **period}),
        sign(ledger, issuer, "issue_ggo", {"measurement": m, "address": ggo, "tech_type": "T010000", "fuel_type": "F01040100"}),
        sign(ledger, issuer, "publish_measurement", {"address": c, "type": "CONSUMPTION", "amount": 4000, **period}),
    ]}  # fmt: skip
    r = client.post("/v1/batches?wait=true", content=canonical(batch))
    assert r.status_code == 200 and r.json()["status"] == "COMMITTED", r.text
    assert r.json()["id"] == hashlib.sha256(canonical(batch)).hexdigest()

    part_a = address("ggo", receiver.public_key.format())
    part_b = address("ggo", PrivateKey().public_key.format())
    settlement = address("settlement", consumer.public_key.format())
    batch = {"transactions": [
        sign(ledger, meter, "split_ggo", {"ggo": ggo, "parts": [{"address": part_a, "amount": 3000},
                                                                {"address": part_b, "amount": 2000}]}),
        sign(ledger, receiver, "retire_ggo", {"ggo": part_a, "settlement": settlement}),
        sign(ledger, consumer, "update_settlement", {"settlement": settlement, "measurement": c, "ggos": [part_a]}),
    ]}  # fmt: skip
    r = client.post("/v1/batches?wait=true", content=json.dumps(batch))
    assert r.json()["status"] == "COMMITTED", r.text
    state = client.get(f"/v1/state/{settlement}").json()
    assert state["record"] == {"measurement": c, "parts": [{"ggo": part_a, "amount": 3000}]}
    assert state["seq"] == r.json()["seq"]
