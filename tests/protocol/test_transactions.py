"""Decoding batches and transactions: what is malformed, and where it is reported."""

import json

import pytest

from origin.protocol import transactions as tx
from origin.protocol.canonical import canonical, sha256_hex
from origin.protocol.errors import ProtocolError
from origin.protocol.limits import (
    BATCH_BODY_BYTES_MAX,
    BATCH_BYTES_MAX,
    BATCH_TRANSACTIONS_MAX,
    ENTRY_BYTES_MAX,
    INT_MAX,  # fmt: skip
)
from origin.protocol.log import batch_entry
from world import LEDGER, Key, World, decode


def good():
    w = World()
    return w.publish(Key())


def decode_error(transaction: dict):
    (result,) = decode(transaction).transactions
    assert isinstance(result, ProtocolError)
    return result.code


def test_batch_id_is_sha256_of_the_canonical_batch():
    body = tx.batch(good())
    spaced = json.dumps(body, indent=2).encode()
    batch = tx.decode_batch(spaced, LEDGER)
    assert batch.id == sha256_hex(canonical(body)) and batch.canonical == canonical(body)


@pytest.mark.parametrize("body", [b"[]", b'{"transactions": {}}', b'{"transactions": [], "x": 1}', b"{}",
                                  b"not json", b'{"transactions": [1.5]}'])  # fmt: skip
def test_not_a_batch_at_all(body):
    with pytest.raises(ProtocolError) as exc:
        tx.decode_batch(body, LEDGER)
    assert exc.value.code == "malformed"


@pytest.mark.parametrize("count,ok", [(0, False), (1, True), (BATCH_TRANSACTIONS_MAX, True),
                                      (BATCH_TRANSACTIONS_MAX + 1, False)])  # fmt: skip
def test_batch_sizes(count, ok):
    """1024 real transactions are far over 65,000 bytes: the count is tested with empty ones."""
    batch = tx.decode_batch(canonical({"transactions": [{}] * count}), LEDGER)
    assert (batch.error is None) == ok
    if not ok:
        assert batch.error.code == "invalid_batch"


def padded_batch(canonical_bytes: int) -> dict:
    """A batch of one transaction whose canonical form is exactly `canonical_bytes` long."""
    t = good()
    t["payload"]["sector"] = ""
    bare = len(canonical(tx.batch(t)))
    t["payload"]["sector"] = "x" * (canonical_bytes - bare)
    assert len(canonical(tx.batch(t))) == canonical_bytes
    return tx.batch(t)


def test_65000_bytes_of_canonical_json_at_most():
    at_limit = canonical(padded_batch(BATCH_BYTES_MAX))
    assert tx.decode_batch(at_limit, LEDGER).canonical == at_limit
    with pytest.raises(tx.BatchTooLarge) as exc:
        tx.decode_batch(canonical(padded_batch(BATCH_BYTES_MAX + 1)), LEDGER)
    assert exc.value.code == "invalid_batch"


def test_whitespace_does_not_count_but_the_body_is_bounded():
    body = canonical(tx.batch(good()))
    at_limit = body + b" " * (BATCH_BODY_BYTES_MAX - len(body))  # JSON allows trailing space
    assert tx.decode_batch(at_limit, LEDGER).id == sha256_hex(body)
    with pytest.raises(tx.BatchTooLarge):
        tx.decode_batch(at_limit + b" ", LEDGER)


def test_the_largest_batch_fits_an_entry_bundle():
    """Section 7: a batch's log entry always fits the uint16 frame of a tlog-tiles bundle."""
    batch = tx.decode_batch(canonical(padded_batch(BATCH_BYTES_MAX)), LEDGER)
    assert len(batch_entry(INT_MAX, 253402300799, batch.canonical)) <= ENTRY_BYTES_MAX


def mutate(transaction, path, value):
    t = json.loads(json.dumps(transaction))
    target = t
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return t


DELETE = object()


@pytest.mark.parametrize(
    "path,value",
    [
        (("type",), "mint_ggo"),
        (("type",), 1),
        (("signer",), "02" + "00" * 32),  # not on the curve
        (("signer",), "04" + "11" * 32),
        (("signer",), ("02" + "AB" * 32)),  # upper-case hex
        (("signature",), "00" * 63),
        (("signature",), "ZZ" * 64),
        (("ledger",), 5),
        (("extra",), 1),
        (("signature",), DELETE),
        (("payload", "extra"), 1),
        (("payload", "amount"), DELETE),
        (("payload", "amount"), True),
        (("payload", "amount"), "10"),
        (("payload", "address"), "fbb4f9" + "A" * 64),
        (("payload", "address"), "fbb4f9" + "0" * 63),
        (("payload", "begin"), "2026-01-01T10:00:00+00:00"),
        (("payload", "begin"), "2026-01-01 10:00:00Z"),
        (("payload", "begin"), "2026-02-30T10:00:00Z"),
        (("payload", "begin"), "2026-01-01T10:00:60Z"),
        (("payload", "begin"), "1969-12-31T23:00:00Z"),
        (("payload", "type"), "production"),
        (("payload", "sector"), ""),
        (("payload", "sector"), "D" * 65),
        (("payload",), []),
    ],
)
def test_malformed_transactions(path, value):
    assert decode_error(mutate(good(), path, value)) == "malformed"


@pytest.mark.parametrize("field,value", [("tech_type", "T02000"), ("tech_type", "t020000"),
                                         ("fuel_type", "F0105010"), ("fuel_type", "X01050100")])  # fmt: skip
def test_malformed_codes(field, value):
    owner = Key()
    w = World()
    assert decode_error(mutate(w.issue(owner), ("payload", field), value)) == "malformed"


def test_split_parts_are_objects_of_address_and_amount():
    w, owner = World(), Key()
    t = w.split(owner, [(Key().ggo, 1), (Key().ggo, 2)])
    assert decode_error(mutate(t, ("payload", "parts", 0, "extra"), 1)) == "malformed"
    assert decode_error(mutate(t, ("payload", "parts", 1), "x")) == "malformed"


def test_another_ledgers_transaction_is_a_bad_signature():
    t = tx.build("other.ledger", "transfer_ggo", Key().secret, {"ggo": Key().ggo, "to": Key().ggo})
    assert decode_error(t) == "bad_signature"


def test_malformed_is_reported_at_its_index():
    t = good()
    batch = decode(t, mutate(t, ("payload", "amount"), "x"))
    assert isinstance(batch.transactions[0], tx.Transaction)
    assert batch.transactions[1].transaction == 1


def test_transaction_id():
    t = good()
    assert tx.transaction_id(t) == sha256_hex(canonical(t))


@pytest.mark.parametrize("path,value", [(("payload", "begin"), "２０２６-01-01T10:00:00Z"),
                                        (("payload", "begin"), "2026-01-01T1０:00:00Z")])  # fmt: skip
def test_only_ascii_digits_in_timestamps(path, value):
    assert decode_error(mutate(good(), path, value)) == "malformed"


def test_only_ascii_digits_in_codes():
    w, owner = World(), Key()
    assert decode_error(mutate(w.issue(owner), ("payload", "tech_type"), "T０２００００")) == "malformed"
    assert decode_error(mutate(w.issue(owner), ("payload", "fuel_type"), "F０1050100")) == "malformed"


@pytest.mark.parametrize("type_,amount,issued", [("CONSUMPTION", 500, False), ("PRODUCTION", 0, False),
                                                 ("PRODUCTION", 1, True)])  # fmt: skip
def test_publish_and_issue(type_, amount, issued):
    w, owner = World(), Key()
    txs = tx.publish_and_issue(LEDGER, w.issuer.secret, address=owner.measurement, begin="2026-01-01T10:00:00Z",
                               end="2026-01-01T11:00:00Z", sector="DK1", type=type_, amount=amount,
                               tech_type="T020000", fuel_type="F01050100")  # fmt: skip
    assert [t["type"] for t in txs] == ["publish_measurement"] + (["issue_ggo"] if issued else [])
    if issued:
        assert txs[1]["payload"]["address"] == owner.ggo and txs[1]["payload"]["measurement"] == owner.measurement
    w.run(*txs)


def test_a_packed_body_is_the_canonical_batch():
    world, packer = World(), tx.BatchPacker(transactions_max=5)
    units = [[world.publish(Key())], [world.publish(Key()), world.publish(Key())], [world.publish(Key())] * 3]
    assert [packer.add(u) for u in units] == [True, True, False]
    assert packer.body() == canonical(packer.batch()) and len(packer.body()) == packer.size
