"""Keys in custody: each account's BIP32 master seed, encrypted at rest.

Envelope encryption, as a KMS does it:
- the seed (32 bytes from the OS's randomness) is sealed with AES-256-GCM under a data key of
  its own, with the account's id as associated data (a sealed seed moved to another account
  does not open);
- the data key is wrapped by the key-encryption key (KEK) the operator provides, through the
  one small interface `Kek` (wrap, unwrap, key_id), so a KMS can take its place;
- the database holds the wrapped data key, the sealed seed and the KEK's id: never a private
  key, a seed or a data key in the clear.

`LocalKek` is the KEK as 32 bytes, hex, in a file or an environment variable. A wrong KEK is
refused by its id before anything is tried, and by AES-GCM's tag if the id lies.
"""

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES, NONCE_BYTES = 32, 12
KEK_ENV = "ORIGIN_ACCOUNTS_KEK"


class CustodyError(Exception):
    """A key that cannot be used: the message says which and what to do."""


class Kek(Protocol):
    """A key-encryption key: what a KMS would implement."""

    @property
    def key_id(self) -> str: ...

    def wrap(self, data_key: bytes, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...


class LocalKek:
    """The KEK as 32 bytes the operator keeps (hex in a file or an environment variable)."""

    def __init__(self, key: bytes):
        if len(key) != KEY_BYTES:
            raise CustodyError(f"a key-encryption key is {KEY_BYTES} bytes (64 hex characters), not {len(key)}")
        self._aead = AESGCM(key)
        # The id names the key without revealing it: an HMAC under the key of a fixed label.
        self._id = hmac.new(key, b"origin accounts kek id", hashlib.sha256).hexdigest()[:16]

    @staticmethod
    def generate_hex() -> str:
        """A new KEK, as the hex text of its file."""
        return os.urandom(KEY_BYTES).hex()

    @classmethod
    def from_hex(cls, text: str, where: str) -> "LocalKek":
        try:
            return cls(bytes.fromhex(text.strip()))
        except ValueError:
            raise CustodyError(f"{where} must hold a key-encryption key: 64 hex characters") from None

    @classmethod
    def load(cls, path: Path | None) -> "LocalKek":
        """From `path`, or else from the environment variable ORIGIN_ACCOUNTS_KEK."""
        if path is not None:
            try:
                return cls.from_hex(Path(path).read_text(), str(path))
            except OSError as exc:
                raise CustodyError(f"cannot read the key-encryption key {path}: {exc.strerror}") from None
        text = os.environ.get(KEK_ENV)
        if text is None:
            raise CustodyError(f"no key-encryption key: give --kek FILE or set {KEK_ENV}")
        return cls.from_hex(text, KEK_ENV)

    @property
    def key_id(self) -> str:
        return self._id

    def wrap(self, data_key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context)
        except InvalidTag:
            raise CustodyError("the key-encryption key does not open this account's data key") from None


@dataclass(frozen=True)
class Sealed:
    """What the database keeps of a seed."""

    kek_id: str
    wrapped_key: bytes  # the data key, wrapped by the KEK
    sealed_seed: bytes  # nonce || AES-256-GCM(seed)


def seal_with(data_key: bytes, plaintext: bytes, context: str) -> bytes:
    """nonce || AES-256-GCM(plaintext), bound to `context`."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(data_key).encrypt(nonce, plaintext, context.encode())


def open_with(data_key: bytes, sealed: bytes, context: str) -> bytes:
    try:
        return AESGCM(data_key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode())
    except InvalidTag:
        raise CustodyError(f"a secret sealed for {context} does not open: it was altered or moved") from None


def data_key(kek: Kek, kek_id: str, wrapped: bytes, account: str) -> bytes:
    """The account's data key, unwrapped by `kek` (refused by id if it is another KEK)."""
    if kek_id != kek.key_id:
        raise CustodyError(f"account {account} is sealed under key-encryption key {kek_id}, "
                           f"and the one given is {kek.key_id}: give the KEK the accounts were made with")  # fmt: skip
    return kek.unwrap(wrapped, account.encode())


def seal(kek: Kek, seed: bytes, account: str) -> Sealed:
    key = AESGCM.generate_key(bit_length=256)
    return Sealed(kek.key_id, kek.wrap(key, account.encode()), seal_with(key, seed, account))


def open_seed(kek: Kek, sealed: Sealed, account: str) -> bytes:
    return open_with(data_key(kek, sealed.kek_id, sealed.wrapped_key, account), sealed.sealed_seed, account)


def rewrap(old: Kek, new: Kek, kek_id: str, wrapped: bytes, account: str) -> bytes:
    """The same data key wrapped under a new KEK (the sealed secrets stay as they are)."""
    return new.wrap(data_key(old, kek_id, wrapped, account), account.encode())


def new_seed() -> bytes:
    return os.urandom(KEY_BYTES)
