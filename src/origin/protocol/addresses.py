"""Addresses and namespaces (PROTOCOL.md section 3).

An address is a 3-byte namespace prefix and the SHA-256 of a public key, 70 lower-case hex
characters. A measurement, the GGO issued from it and the settlement of a consumption
measurement share the last 64 characters, the key part.
"""

import hashlib
import re

MEASUREMENT = "measurement"
GGO = "ggo"
SETTLEMENT = "settlement"

PREFIX = {
    namespace: hashlib.sha256(f"origin:{namespace}".encode()).hexdigest()[:6]
    for namespace in (MEASUREMENT, GGO, SETTLEMENT)
}
_NAMESPACE_OF_PREFIX = {prefix: namespace for namespace, prefix in PREFIX.items()}
ADDRESS_LENGTH = 70
_ADDRESS = re.compile(r"[0-9a-f]{70}")


def address(namespace: str, public_key: bytes) -> str:
    return PREFIX[namespace] + hashlib.sha256(public_key).hexdigest()


def is_address(text: object) -> bool:
    """True for 70 lower-case hex characters (the namespace is checked by the rules)."""
    return isinstance(text, str) and _ADDRESS.fullmatch(text) is not None


def namespace_of(addr: str) -> str | None:
    return _NAMESPACE_OF_PREFIX.get(addr[:6])


def key_part(addr: str) -> str:
    return addr[6:]


def in_namespace(namespace: str, addr: str) -> str:
    """The address with the same key part in another namespace."""
    return PREFIX[namespace] + addr[6:]
