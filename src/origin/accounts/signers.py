"""Who signs an account's transactions. A held account's keys are derived from its sealed seed,
in memory, at the moment of signing. A self-custody account's are the owner's: the service
derives only the public keys (every key it needs is a non-hardened child of an xpub the owner
gave: m/1'/i'/t of the meter xpub, m/0'/n of the receive xpub) and leaves each signature for
the owner to make over the digest it shows."""

from typing import Any, Protocol

from bip32 import BIP32

from origin.protocol import keys
from origin.protocol import transactions as tx
from origin.protocol.canonical import canonical
from origin.protocol.wallet import Wallet

H = 2**31


def show_path(path: list[int]) -> str:
    return "m/" + "/".join(f"{p - H}'" if p >= H else str(p) for p in path)


class Signer(Protocol):
    def transaction(self, tx_type: str, path: list[int], payload: dict[str, Any]) -> dict[str, Any]: ...


class HeldSigner:
    """Signs with the account's own keys, derived from its seed."""

    def __init__(self, ledger: str, wallet: Wallet):
        self.ledger, self.wallet = ledger, wallet

    def transaction(self, tx_type: str, path: list[int], payload: dict[str, Any]) -> dict[str, Any]:
        return tx.build(self.ledger, tx_type, self.wallet.private_key(path), payload)


class OwnerSigner:
    """Prepares transactions for the owner to sign: the signature is left empty, and what to
    sign (the path, its public key and the SHA-256 of the signing document) is listed."""

    def __init__(self, ledger: str, meter_xpubs: dict[int, str], receive_xpub: str):
        self.ledger = ledger
        self._meters = {i: BIP32.from_xpub(x) for i, x in meter_xpubs.items()}
        self._receive = BIP32.from_xpub(receive_xpub)

    def public_key(self, path: list[int]) -> bytes:
        if len(path) == 3 and path[0] == H + 1 and path[1] - H in self._meters:
            return bytes(self._meters[path[1] - H].get_pubkey_from_path([path[2]]))
        if len(path) == 2 and path[0] == H + 0:
            return bytes(self._receive.get_pubkey_from_path([path[1]]))
        raise ValueError(f"no xpub of the account's gives {show_path(path)}")

    def transaction(self, tx_type: str, path: list[int], payload: dict[str, Any]) -> dict[str, Any]:
        document = tx.signing_document(self.ledger, tx_type, self.public_key(path).hex(), payload)
        return {**document, "signature": "", "path": show_path(path)}


def to_sign(transaction: dict[str, Any]) -> dict[str, Any]:
    """What the owner signs for a prepared transaction."""
    document = {k: transaction[k] for k in ("ledger", "type", "signer", "payload")}
    return {"path": transaction["path"], "public_key": transaction["signer"],
            "digest": keys.sha256(canonical(document)).hex(), "document": document}  # fmt: skip


def signed(transaction: dict[str, Any], signature_hex: str) -> dict[str, Any] | None:
    """The prepared transaction with the owner's signature, if it verifies; else None."""
    try:
        signature = bytes.fromhex(signature_hex)
    except (TypeError, ValueError):
        return None
    document = {k: transaction[k] for k in ("ledger", "type", "signer", "payload")}
    if len(signature) != 64 or not keys.verify(bytes.fromhex(document["signer"]), signature,
                                                keys.sha256(canonical(document))):  # fmt: skip
        return None
    return {**document, "signature": signature_hex}
