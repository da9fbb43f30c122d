"""secp256k1 keys and signatures (PROTOCOL.md section 2), on libsecp256k1 through coincurve.

A signature is ECDSA with RFC 6979 nonces, low-S, as 64-byte compact r || s, over a 32-byte
SHA-256 digest. libsecp256k1 signs low-S and its verify refuses high-S, so malleated
signatures never verify. Signing and verification call the library directly on the compact
form: coincurve's own `verify` takes DER only, and the conversion costs as much as the check;
its `PrivateKey` derives a key pair and a public key on construction, three times the cost of
the signature itself.
"""

import functools
import hashlib

from coincurve import PrivateKey
from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

_CTX = GLOBAL_CONTEXT.ctx
PUBLIC_KEYS_CACHED = 64


@functools.lru_cache(maxsize=PUBLIC_KEYS_CACHED)
def public_key(private_key: bytes) -> bytes:
    """The 33-byte compressed public key of a 32-byte private key (an issuer signs with one key
    all day: it is derived once, and remembered)."""
    return bytes(PrivateKey(private_key).public_key.format(compressed=True))


def new_private_key() -> bytes:
    return PrivateKey().secret


def sign(private_key: bytes, digest: bytes) -> bytes:
    """64-byte compact low-S signature (RFC 6979 nonce) of a 32-byte digest."""
    if len(private_key) != 32 or len(digest) != 32:
        raise ValueError("a private key and a digest are 32 bytes")
    sig = ffi.new("secp256k1_ecdsa_signature *")
    if not lib.secp256k1_ecdsa_sign(_CTX, sig, digest, private_key, ffi.NULL, ffi.NULL):
        raise ValueError("not a valid private key")
    compact = ffi.new("unsigned char[64]")
    lib.secp256k1_ecdsa_signature_serialize_compact(_CTX, compact, sig)
    return bytes(ffi.buffer(compact, 64))


def is_public_key(data: bytes) -> bool:
    """True for a 33-byte compressed encoding of a point on the curve."""
    if len(data) != 33 or data[0] not in (2, 3):
        return False
    point = ffi.new("secp256k1_pubkey *")
    return bool(lib.secp256k1_ec_pubkey_parse(_CTX, point, data, 33))


def verify(public: bytes, signature: bytes, digest: bytes) -> bool:
    """True when `signature` (64-byte compact, low-S) signs `digest` under `public` (33 bytes)."""
    if len(signature) != 64 or len(digest) != 32 or len(public) != 33:
        return False
    sig = ffi.new("secp256k1_ecdsa_signature *")
    if not lib.secp256k1_ecdsa_signature_parse_compact(_CTX, sig, signature):
        return False
    point = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_parse(_CTX, point, public, 33):
        return False
    return bool(lib.secp256k1_ecdsa_verify(_CTX, sig, digest, point))


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
