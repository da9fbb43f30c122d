"""Transactions and batches on the wire (PROTOCOL.md sections 2, 5, 6 and 7).

`decode_batch` turns a request body into a Batch: the strict parse and the batch's shape are
checked first (a body that is not a batch at all is refused outright); then each transaction
is decoded on its own, so that a malformed one is reported with its index. `build` and the
per-type builders are what a client uses to make and sign transactions.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from origin.protocol import addresses, keys
from origin.protocol.canonical import canonical, parse, sha256_hex
from origin.protocol.errors import ProtocolError
from origin.protocol.limits import (
    BATCH_BODY_BYTES_MAX,
    BATCH_BYTES_MAX,
    BATCH_TRANSACTIONS_MAX,
    INT_MAX,
    SECTOR_LENGTH_MAX,
)
from origin.protocol.times import parse_time

PRODUCTION = "PRODUCTION"
CONSUMPTION = "CONSUMPTION"

_HEX_PUBLIC_KEY = re.compile(r"[0-9a-f]{66}")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{128}")
_TECH = re.compile(r"T[0-9]{6}")
_FUEL = re.compile(r"F[0-9]{8}")


def _malformed(field: str, why: str) -> ProtocolError:
    return ProtocolError("malformed", f"{field}: {why}")


def _address(field: str, value: Any) -> None:
    if not addresses.is_address(value):
        raise _malformed(field, "an address is 70 lower-case hex characters")


def _timestamp(field: str, value: Any) -> None:
    try:
        parse_time(value)
    except ProtocolError as exc:
        raise _malformed(field, exc.message) from None


def _integer(field: str, value: Any) -> None:
    if type(value) is not int or not 0 <= value <= INT_MAX:
        raise _malformed(field, "must be an integer from 0 to 2^53-1")


def _sector(field: str, value: Any) -> None:
    if type(value) is not str or not 0 < len(value) <= SECTOR_LENGTH_MAX:
        raise _malformed(field, f"must be a string of 1 to {SECTOR_LENGTH_MAX} characters")


def _measurement_type(field: str, value: Any) -> None:
    if value not in (PRODUCTION, CONSUMPTION) or type(value) is not str:
        raise _malformed(field, f"must be {PRODUCTION} or {CONSUMPTION}")


Check = Callable[[str, Any], None]  # raises `malformed`, naming the field


def _pattern(regex: re.Pattern[str], what: str) -> Check:
    def check(field: str, value: Any) -> None:
        if type(value) is not str or regex.fullmatch(value) is None:
            raise _malformed(field, f"must be {what}")

    return check


def _list_of(check_item: Check) -> Check:
    def check(field: str, value: Any) -> None:
        if type(value) is not list:
            raise _malformed(field, "must be an array")
        for i, item in enumerate(value):
            check_item(f"{field}[{i}]", item)

    return check


def _object_of(schema: dict[str, Check]) -> Check:
    def check(field: str, value: Any) -> None:
        _check_object(field, value, schema)

    return check


def _check_object(field: str, value: Any, schema: dict[str, Check]) -> None:
    if type(value) is not dict:
        raise _malformed(field, "must be an object")
    if value.keys() != schema.keys():
        missing = sorted(schema.keys() - value.keys())
        unknown = sorted(value.keys() - schema.keys())
        raise _malformed(field, f"missing fields {missing}, unknown fields {unknown}")
    for name, check in schema.items():
        check(f"{field}.{name}", value[name])


PAYLOADS: dict[str, dict[str, Check]] = {
    "publish_measurement": {
        "address": _address,
        "begin": _timestamp,
        "end": _timestamp,
        "sector": _sector,
        "type": _measurement_type,
        "amount": _integer,
    },
    "issue_ggo": {
        "measurement": _address,
        "address": _address,
        "tech_type": _pattern(_TECH, "an EECS technology code, T and 6 digits"),
        "fuel_type": _pattern(_FUEL, "an EECS fuel code, F and 8 digits"),
    },
    "transfer_ggo": {"ggo": _address, "to": _address},
    "split_ggo": {
        "ggo": _address,
        "parts": _list_of(_object_of({"address": _address, "amount": _integer})),
    },
    "retire_ggo": {"ggo": _address, "settlement": _address},
    "update_settlement": {
        "settlement": _address,
        "measurement": _address,
        "ggos": _list_of(_address),
    },
}
_TRANSACTION_FIELDS = {"ledger", "type", "signer", "payload", "signature"}


@dataclass(frozen=True, slots=True)
class Transaction:
    type: str
    signer: bytes
    payload: dict[str, Any]
    signature: bytes
    digest: bytes  # SHA-256 of the canonical signing document

    @property
    def signer_hex(self) -> str:
        return self.signer.hex()


def signing_document(ledger: str, tx_type: str, signer_hex: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"ledger": ledger, "type": tx_type, "signer": signer_hex, "payload": payload}


def decode_transaction(obj: Any, ledger: str) -> Transaction:
    """Check one transaction's shape (`malformed`) and that it is signed for this ledger."""
    if type(obj) is not dict:
        raise ProtocolError("malformed", "a transaction must be an object")
    if obj.keys() != _TRANSACTION_FIELDS:
        missing = sorted(_TRANSACTION_FIELDS - obj.keys())
        unknown = sorted(obj.keys() - _TRANSACTION_FIELDS)
        raise ProtocolError("malformed", f"transaction: missing fields {missing}, unknown fields {unknown}")
    tx_type = obj["type"]
    if type(tx_type) is not str or tx_type not in PAYLOADS:
        raise ProtocolError("malformed", f"unknown transaction type {tx_type!r}")
    signer_hex, signature_hex = obj["signer"], obj["signature"]
    if type(signer_hex) is not str or not _HEX_PUBLIC_KEY.fullmatch(signer_hex):
        raise ProtocolError("malformed", "signer must be 66 lower-case hex characters")
    signer = bytes.fromhex(signer_hex)
    if not keys.is_public_key(signer):
        raise ProtocolError("malformed", "signer is not a compressed secp256k1 public key")
    if type(signature_hex) is not str or not _HEX_SIGNATURE.fullmatch(signature_hex):
        raise ProtocolError("malformed", "signature must be 128 lower-case hex characters")
    if type(obj["ledger"]) is not str:
        raise ProtocolError("malformed", "ledger must be a string")
    _check_object("payload", obj["payload"], PAYLOADS[tx_type])
    if obj["ledger"] != ledger:
        # The signature binds the transaction to its ledger: under this ledger's id the
        # signing document differs, so the signature cannot verify here.
        raise ProtocolError("bad_signature", f"signed for ledger {obj['ledger']!r}, not {ledger!r}")
    document = signing_document(ledger, tx_type, signer_hex, obj["payload"])
    return Transaction(
        type=tx_type,
        signer=signer,
        payload=obj["payload"],
        signature=bytes.fromhex(signature_hex),
        digest=keys.sha256(canonical(document)),
    )


class BatchTooLarge(ProtocolError):
    """Over the size a batch may have (HTTP 413): refused before it has an id."""

    def __init__(self, message: str):
        super().__init__("invalid_batch", message)


@dataclass(frozen=True, slots=True)
class Batch:
    id: str  # hex SHA-256 of the canonical batch
    canonical: bytes
    transactions: tuple[Transaction | ProtocolError, ...]  # a ProtocolError for one that is malformed
    error: ProtocolError | None  # invalid_batch: refused as a whole

    @property
    def size(self) -> int:
        return len(self.transactions)


def decode_batch(body: bytes, ledger: str) -> Batch:
    """A Batch from a request body. Raises ProtocolError('malformed') if it is not a batch at
    all; a batch whose transactions are wrong is returned, to be refused with their index."""
    if len(body) > BATCH_BODY_BYTES_MAX:
        raise BatchTooLarge(f"a request body is at most {BATCH_BODY_BYTES_MAX} bytes")
    obj = parse(body)
    if type(obj) is not dict or obj.keys() != {"transactions"}:
        raise ProtocolError("malformed", 'a batch is an object {"transactions": [...]}')
    items = obj["transactions"]
    if type(items) is not list:
        raise ProtocolError("malformed", "transactions must be an array")
    data = canonical(obj)
    if len(data) > BATCH_BYTES_MAX:
        raise BatchTooLarge(f"a batch is at most {BATCH_BYTES_MAX} bytes of canonical JSON, not {len(data)}")
    error = None
    if not 1 <= len(items) <= BATCH_TRANSACTIONS_MAX:
        error = ProtocolError(
            "invalid_batch",
            f"a batch has 1 to {BATCH_TRANSACTIONS_MAX} transactions, not {len(items)}",
        )
    decoded: list[Transaction | ProtocolError] = []
    for index, item in enumerate(items):
        try:
            decoded.append(decode_transaction(item, ledger))
        except ProtocolError as exc:
            decoded.append(exc.at(index))
    return Batch(id=sha256_hex(data), canonical=data, transactions=tuple(decoded), error=error)


SignatureCheck = tuple[bytes, bytes, bytes]  # (public key, signature, digest)


def signature_checks(transactions: Sequence[Transaction | ProtocolError]) -> list[SignatureCheck | None]:
    """(public key, signature, digest) of each decoded transaction, None for a malformed one:
    plain bytes, to be verified in another thread or process."""
    return [(tx.signer, tx.signature, tx.digest) if isinstance(tx, Transaction) else None for tx in transactions]


def verify_checks(checks: Sequence[SignatureCheck | None]) -> list[bool]:
    return [check is not None and keys.verify(*check) for check in checks]


def verify_signatures(transactions: Sequence[Transaction | ProtocolError]) -> list[bool]:
    """Whether each decoded transaction's signature verifies (False for a malformed one)."""
    return verify_checks(signature_checks(transactions))


# Builders: what a client uses to make and sign each transaction type.

Tx = dict[str, Any]  # a signed transaction on the wire


def build(ledger: str, tx_type: str, private_key: bytes, payload: dict[str, Any]) -> Tx:
    """A signed transaction, ready for a batch."""
    signer_hex = keys.public_key(private_key).hex()
    document = signing_document(ledger, tx_type, signer_hex, payload)
    signature = keys.sign(private_key, keys.sha256(canonical(document)))
    return {**document, "signature": signature.hex()}


class BatchPacker:
    """One batch's transactions, unit by unit (a unit: transactions that must share a batch),
    within section 7's bytes of canonical JSON and a number of transactions. Each transaction
    is encoded once: the batch's canonical form is its transactions' joined."""

    def __init__(self, bytes_max: int = BATCH_BYTES_MAX, transactions_max: int = BATCH_TRANSACTIONS_MAX):
        self.bytes_max, self.transactions_max = bytes_max, transactions_max
        self.size = len(b'{"transactions":[]}') - 1  # each transaction adds itself and a separator
        self.transactions: list[Tx] = []
        self._encoded: list[bytes] = []

    def add(self, unit: list[Tx]) -> bool:
        """Take the unit if it fits (the first always does); whether it did."""
        encoded = [canonical(t) for t in unit]
        size = self.size + sum(len(e) + 1 for e in encoded)
        if self.transactions and (size > self.bytes_max or len(self.transactions) + len(unit) > self.transactions_max):
            return False
        self.size = size
        self.transactions.extend(unit)
        self._encoded.extend(encoded)
        return True

    def batch(self) -> dict[str, list[Tx]]:
        return batch(*self.transactions)

    def body(self) -> bytes:
        """canonical(self.batch()), from the transactions' own encodings."""
        return b'{"transactions":[' + b",".join(self._encoded) + b"]}"


def transaction_id(tx: Tx) -> str:
    return sha256_hex(canonical(tx))


def batch(*transactions: Tx) -> dict[str, list[Tx]]:
    return {"transactions": list(transactions)}


def publish_measurement(ledger: str, issuer_key: bytes, *, address: str, begin: str, end: str, sector: str, type: str,
                        amount: int) -> Tx:  # fmt: skip
    payload = {"address": address, "begin": begin, "end": end, "sector": sector,
               "type": type, "amount": amount}  # fmt: skip
    return build(ledger, "publish_measurement", issuer_key, payload)


def issue_ggo(ledger: str, issuer_key: bytes, *, measurement: str, address: str, tech_type: str | None,
              fuel_type: str | None) -> Tx:  # fmt: skip
    payload = {"measurement": measurement, "address": address,
               "tech_type": tech_type, "fuel_type": fuel_type}  # fmt: skip
    return build(ledger, "issue_ggo", issuer_key, payload)


def publish_and_issue(ledger: str, issuer_key: bytes, *, address: str, begin: str, end: str, sector: str, type: str,
                      amount: int, tech_type: str | None = None, fuel_type: str | None = None) -> list[Tx]:  # fmt: skip
    """What an issuing body submits for one measurement: its publication and, for production
    of more than 0 Wh, the GGO issued from it at the same key part."""
    txs = [publish_measurement(ledger, issuer_key, address=address, begin=begin, end=end, sector=sector,
                               type=type, amount=amount)]  # fmt: skip
    if type == PRODUCTION and amount > 0:
        txs.append(issue_ggo(ledger, issuer_key, measurement=address, tech_type=tech_type, fuel_type=fuel_type,
                             address=addresses.in_namespace(addresses.GGO, address)))  # fmt: skip
    return txs


def transfer_ggo(ledger: str, ggo_key: bytes, *, ggo: str, to: str) -> Tx:
    return build(ledger, "transfer_ggo", ggo_key, {"ggo": ggo, "to": to})


def split_ggo(ledger: str, ggo_key: bytes, *, ggo: str, parts: Sequence[tuple[str, int]]) -> Tx:
    """`parts` is a list of (address, amount)."""
    payload = {"ggo": ggo, "parts": [{"address": a, "amount": n} for a, n in parts]}
    return build(ledger, "split_ggo", ggo_key, payload)


def retire_ggo(ledger: str, ggo_key: bytes, *, ggo: str, settlement: str) -> Tx:
    return build(ledger, "retire_ggo", ggo_key, {"ggo": ggo, "settlement": settlement})


def update_settlement(ledger: str, measurement_key: bytes, *, settlement: str, measurement: str,
                      ggos: Sequence[str]) -> Tx:  # fmt: skip
    payload = {"settlement": settlement, "measurement": measurement, "ggos": list(ggos)}
    return build(ledger, "update_settlement", measurement_key, payload)
