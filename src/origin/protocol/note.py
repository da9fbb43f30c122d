"""C2SP signed-note with Ed25519 keys, the tlog-checkpoint body (PROTOCOL.md section 8), and
C2SP tlog-cosignature (the witnesses' cosignature/v1).

A key has a type: 0x01 signs notes (Ed25519 over the text), 0x04 cosigns checkpoints
(cosignature/v1: Ed25519 over "cosignature/v1\\ntime T\\n" + the checkpoint text; the signature
carries T as 8 bytes, big-endian, before the 64 of Ed25519).
Key hash: the first 4 bytes of SHA-256(name || "\\n" || type || public key).
Verifier key: `name+hex(key hash)+base64(type || public key)`.
Signer key: `PRIVATE+KEY+name+hex(key hash)+base64(type || seed)`.
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
COSIGNATURE_V1 = 0x04
KEY_TYPES = (ED25519, COSIGNATURE_V1)
_NAME = re.compile(r"[^\s+]+")
_SIGNATURE_LINE = re.compile(r"\u2014 ([^\s+]+) ([A-Za-z0-9+/=]+)")
SIGNATURES_MAX = 100


class NoteError(ValueError):
    pass


def key_hash(name: str, public_key: bytes, kind: int = ED25519) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public_key).digest()[:4]


def cosigned_message(text: str, time_s: int) -> bytes:
    return f"cosignature/v1\ntime {time_s}\n{text}".encode()


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")


@dataclass(frozen=True)
class Verifier:
    name: str
    hash: bytes
    public_key: bytes
    kind: int = ED25519

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
        if len(raw) != 33 or raw[0] not in KEY_TYPES or len(hash_hex) != 8:
            raise NoteError("verifier key is not an Ed25519 or cosignature/v1 key")
        if key_hash(name, raw[1:], raw[0]) != digest:
            raise NoteError("verifier key's hash does not match its name and key")
        return cls(name, digest, raw[1:], raw[0])

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([self.kind]) + self.public_key).decode()
        return f"{self.name}+{self.hash.hex()}+{encoded}"

    def verify(self, text: str, signature: bytes) -> bool:
        """Whether a note signature line's bytes (after the key hash) sign `text`."""
        message = text.encode()
        if self.kind == COSIGNATURE_V1:
            if len(signature) != 72:
                return False
            message = cosigned_message(text, int.from_bytes(signature[:8], "big"))
            signature = signature[8:]
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Signer:
    def __init__(self, name: str, seed: bytes, kind: int = ED25519):
        _check_name(name)
        self.name, self.kind = name, kind
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self._seed = seed
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(name, key_hash(name, public, kind), public, kind)

    @classmethod
    def generate(cls, name: str, kind: int = ED25519) -> "Signer":
        return cls(name, Ed25519PrivateKey.generate().private_bytes_raw(), kind)

    @classmethod
    def parse(cls, skey: str) -> "Signer":
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signer key is PRIVATE+KEY+name+hash+key")
        try:
            raw = base64.b64decode(parts[4], validate=True)
        except binascii.Error:
            raise NoteError("signer key is not well encoded") from None
        if len(raw) != 33 or raw[0] not in KEY_TYPES:
            raise NoteError("signer key is not an Ed25519 or cosignature/v1 key")
        signer = cls(parts[2], raw[1:], raw[0])
        if signer.verifier.hash.hex() != parts[3]:
            raise NoteError("signer key's hash does not match its name and key")
        return signer

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([self.kind]) + self._seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.hash.hex()}+{encoded}"

    def signature_line(self, text: str, time_s: int | None = None) -> str:
        """A note signature line over `text`; a cosigner also signs the time it cosigns at."""
        if self.kind == COSIGNATURE_V1:
            assert time_s is not None, "a cosignature signs its time"
            stamp = time_s.to_bytes(8, "big")
            signature = stamp + self._key.sign(cosigned_message(text, time_s))
        else:
            signature = self._key.sign(text.encode())
        return f"\u2014 {self.name} {base64.b64encode(self.verifier.hash + signature).decode()}\n"

    def sign(self, text: str) -> str:
        """The signed note of `text`, which must end with a newline."""
        _check_text(text)
        return text + "\n" + self.signature_line(text)

    def cosign(self, note: str, time_s: int) -> str:
        """`note` with this cosigner's cosignature/v1 line added."""
        text, _ = split(note)
        return note + self.signature_line(text, time_s)


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


def open_note(note: str, verifier: Verifier, *cosigners: Verifier) -> str:
    """The text of a note that carries a valid signature by `verifier` and by every one of
    `cosigners`; NoteError naming the first that is missing or does not verify."""
    text, signatures = split(note)
    for key in (verifier, *cosigners):
        sig = next((s for s in signatures if s.name == key.name and s.hash == key.hash), None)
        if sig is None:
            raise NoteError(f"the note carries no signature of {key.name}")
        if not key.verify(text, sig.signature):
            raise NoteError(f"the signature of {key.name} does not verify")
    return text


def cosigned_at(note: str, cosigner: Verifier) -> int:
    """The time a valid cosignature/v1 of `cosigner` on the note says it was made."""
    _, signatures = split(note)
    open_note(note, cosigner)
    sig = next(s for s in signatures if s.name == cosigner.name and s.hash == cosigner.hash)
    return int.from_bytes(sig.signature[:8], "big")


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
        if not re.fullmatch(r"0|[1-9][0-9]*", size):
            raise NoteError(f"checkpoint size {size!r} is not a decimal number")
        try:
            root = base64.b64decode(root_b64, validate=True)
        except binascii.Error:
            raise NoteError("checkpoint root is not base64") from None
        if len(root) != 32:
            raise NoteError("checkpoint root is not a SHA-256 hash")
        return cls(origin, int(size), root)
