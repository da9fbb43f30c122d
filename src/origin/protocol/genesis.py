"""The genesis (PROTOCOL.md section 8): a ledger's fixed configuration, entry 0 of its log."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from origin.protocol import keys, note
from origin.protocol.errors import ProtocolError
from origin.protocol.limits import INT_MAX, LEDGER_ID_LENGTH_MAX, SECTOR_LENGTH_MAX

LEDGER_ID = re.compile(f"[A-Za-z0-9][A-Za-z0-9._:/-]{{0,{LEDGER_ID_LENGTH_MAX - 1}}}")
DEFAULT_SECTORS = ("DK1", "DK2")
DEFAULT_RESOLUTIONS_S = (3600, 900)
DEFAULT_GGO_LIFETIME_S = 31_536_000
DEFAULT_AMOUNT_MAX_WH = 1_000_000_000_000
GENESIS_FIELDS = {"ledger", "issuers", "sectors", "resolutions_s", "ggo_lifetime_s",
                  "amount_max_wh", "log_key"}  # fmt: skip


@dataclass(frozen=True)
class Config:
    """The genesis, checked, in the form the rules use."""

    ledger: str
    issuers: frozenset[bytes]  # 33-byte public keys
    sectors: frozenset[str]
    resolutions_s: frozenset[int]
    ggo_lifetime_s: int
    amount_max_wh: int
    log_key: note.Verifier
    genesis: dict[str, Any]


def make_genesis(
    ledger: str,
    issuers: list[str],
    log_key: str,
    sectors: Sequence[str] = DEFAULT_SECTORS,
    resolutions_s: Sequence[int] = DEFAULT_RESOLUTIONS_S,
    ggo_lifetime_s: int = DEFAULT_GGO_LIFETIME_S,
    amount_max_wh: int = DEFAULT_AMOUNT_MAX_WH,
) -> dict[str, Any]:
    genesis = {
        "ledger": ledger,
        "issuers": list(issuers),
        "sectors": list(sectors),
        "resolutions_s": list(resolutions_s),
        "ggo_lifetime_s": ggo_lifetime_s,
        "amount_max_wh": amount_max_wh,
        "log_key": log_key,
    }
    parse_genesis(genesis)
    return genesis


def _refuse(why: str) -> ProtocolError:
    return ProtocolError("malformed", f"genesis: {why}")


def parse_genesis(genesis: Any) -> Config:
    """Check a genesis object; ProtocolError('malformed') names what is wrong."""
    if type(genesis) is not dict or genesis.keys() != GENESIS_FIELDS:
        raise _refuse(f"must be an object with exactly the fields {sorted(GENESIS_FIELDS)}")
    ledger = genesis["ledger"]
    if type(ledger) is not str or not LEDGER_ID.fullmatch(ledger):
        raise _refuse(f"ledger id {ledger!r} must match {LEDGER_ID.pattern}")
    _check_lists(genesis)
    for name in ("ggo_lifetime_s", "amount_max_wh"):
        value = genesis[name]
        if type(value) is not int or not 0 < value <= INT_MAX:
            raise _refuse(f"{name} must be an integer from 1 to 2^53-1")
    try:
        log_key = note.Verifier.parse(genesis["log_key"]) if type(genesis["log_key"]) is str else None
    except note.NoteError as exc:
        raise _refuse(f"log_key: {exc}") from None
    if log_key is None or log_key.name != ledger:
        raise _refuse("log_key must be a note verifier key named after the ledger")
    return Config(
        ledger=ledger,
        issuers=frozenset(bytes.fromhex(i) for i in genesis["issuers"]),
        sectors=frozenset(genesis["sectors"]),
        resolutions_s=frozenset(genesis["resolutions_s"]),
        ggo_lifetime_s=genesis["ggo_lifetime_s"],
        amount_max_wh=genesis["amount_max_wh"],
        log_key=log_key,
        genesis=genesis,
    )


def _check_lists(genesis: dict[str, Any]) -> None:
    """The issuers, sectors and resolutions: non-empty lists of distinct valid items."""
    issuers = genesis["issuers"]
    if type(issuers) is not list or not issuers:
        raise _refuse("issuers must be a non-empty list")
    for issuer in issuers:
        if _hex_public_key(issuer) is None:
            raise _refuse(f"issuer {str(issuer)[:80]!r} is not a compressed secp256k1 public key in hex")
    sectors = genesis["sectors"]
    if (
        type(sectors) is not list
        or not sectors
        or not all(type(s) is str and 0 < len(s) <= SECTOR_LENGTH_MAX for s in sectors)
    ):
        raise _refuse("sectors must be a non-empty list of names")
    resolutions = genesis["resolutions_s"]
    if (
        type(resolutions) is not list
        or not resolutions
        or not all(type(r) is int and 0 < r <= INT_MAX and r % 60 == 0 for r in resolutions)
    ):
        raise _refuse("resolutions_s must be a non-empty list of whole minutes in seconds")
    for name in ("issuers", "sectors", "resolutions_s"):
        if len(set(genesis[name])) != len(genesis[name]):
            raise _refuse(f"{name} has duplicates")


def _hex_public_key(text: object) -> bytes | None:
    if not isinstance(text, str) or len(text) != 66 or text != text.lower():
        return None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        return None
    return key if keys.is_public_key(key) else None
