"""C2SP signed-note with Ed25519 keys, and the tlog-checkpoint body (PROTOCOL.md section 8).

Key hash: the first 4 bytes of SHA-256(name || "\\n" || 0x01 || public key).
Verifier key: `name+hex(key hash)+base64(0x01 || public key)`.
Signer key: `PRIVATE+KEY+name+hex(key hash)+base64(0x01 || seed)`.
A signed note is the text (ending in a newline), a blank line, then one line per signature:
`— name base64(key hash || signature)`.
"""

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
_NAME = re.compile(r"[^\s+]+")
_SIGNATURE_LINE = re.compile(r"\u2014 ([^\s+]+) ([A-Za-z0-9+/=]+)")
SIGNATURES_MAX = 100


class NoteError(ValueError):
    pass


def key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")


@dataclass(frozen=True)
class Verifier:
    name: str
    hash: bytes
    public_key: bytes

    @classmethod
    def parse(cls, vkey: str) -> "Verifier":
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise NoteError("a verifier key is name+hash+key")
        name, hash_hex, key_b64 = parts
        _check_name(name)
        try:
            raw = base64.b64decode(key_b64, validate=True)
            digest = bytes.fromhex(hash_hex)
        except (binascii.Error, ValueError):
            raise NoteError("verifier key is not well encoded") from None
        if len(raw) != 33 or raw[0] != ED25519 or len(hash_hex) != 8:
            raise NoteError("verifier key is not an Ed25519 key")
        if key_hash(name, raw[1:]) != digest:
            raise NoteError("verifier key's hash does not match its name and key")
        return cls(name, digest, raw[1:])

    def __str__(self) -> str:
        return f"{self.name}+{self.hash.hex()}+{base64.b64encode(bytes([ED25519]) + self.public_key).decode()}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Signer:
    def __init__(self, name: str, seed: bytes):
        _check_name(name)
        self.name = name
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self._seed = seed
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(name, key_hash(name, public), public)

    @classmethod
    def generate(cls, name: str) -> "Signer":
        return cls(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def parse(cls, skey: str) -> "Signer":
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signer key is PRIVATE+KEY+name+hash+key")
        try:
            raw = base64.b64decode(parts[4], validate=True)
        except binascii.Error:
            raise NoteError("signer key is not well encoded") from None
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("signer key is not an Ed25519 key")
        signer = cls(parts[2], raw[1:])
        if signer.verifier.hash.hex() != parts[3]:
            raise NoteError("signer key's hash does not match its name and key")
        return signer

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self._seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.hash.hex()}+{encoded}"

    def signature_line(self, text: str) -> str:
        signature = self._key.sign(text.encode())
        return f"\u2014 {self.name} {base64.b64encode(self.verifier.hash + signature).decode()}\n"

    def sign(self, text: str) -> str:
        """The signed note of `text`, which must end with a newline."""
        _check_text(text)
        return text + "\n" + self.signature_line(text)


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("a note's text ends with a newline and has no blank line")


@dataclass(frozen=True)
class Signature:
    name: str
    hash: bytes
    signature: bytes


def split(note: str) -> tuple[str, list[Signature]]:
    """The text of a signed note and its signature lines, without checking any."""
    text, sep, block = note.rpartition("\n\n")
    if not sep or not block.endswith("\n"):
        raise NoteError("malformed note: no signature block")
    text += "\n"
    _check_text(text)
    lines = block[:-1].split("\n")
    if len(lines) > SIGNATURES_MAX:
        raise NoteError("too many signatures")
    signatures = []
    for line in lines:
        match = _SIGNATURE_LINE.fullmatch(line)
        if match is None:
            raise NoteError(f"malformed signature line {line!r}")
        try:
            raw = base64.b64decode(match.group(2), validate=True)
        except binascii.Error:
            raise NoteError(f"signature of {match.group(1)} is not base64") from None
        if len(raw) < 5:
            raise NoteError(f"signature of {match.group(1)} is too short")
        signatures.append(Signature(match.group(1), raw[:4], raw[4:]))
    return text, signatures


def open_note(note: str, verifier: Verifier) -> str:
    """The text of a note that carries a valid signature by `verifier`; NoteError otherwise."""
    text, signatures = split(note)
    for sig in signatures:
        if sig.name == verifier.name and sig.hash == verifier.hash:
            if verifier.verify(text.encode(), sig.signature):
                return text
            raise NoteError(f"the signature of {verifier.name} does not verify")
    raise NoteError(f"the note carries no signature of {verifier.name}")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> "Checkpoint":
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("a checkpoint is origin, size and root hash, one a line")
        origin, size, root_b64 = lines[:3]
        if not size.isdigit() or (size != "0" and size.startswith("0")):
            raise NoteError(f"checkpoint size {size!r} is not a decimal number")
        try:
            root = base64.b64decode(root_b64, validate=True)
        except binascii.Error:
            raise NoteError("checkpoint root is not base64") from None
        if len(root) != 32:
            raise NoteError("checkpoint root is not a SHA-256 hash")
        return cls(origin, int(size), root)
