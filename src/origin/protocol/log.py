"""The log (PROTOCOL.md section 8): the canonical form of its entries -- entry 0 the genesis,
entry n >= 1 the n-th committed batch with its sequencing time -- and replay, which applies
entries under the rules to rebuild the state from the log alone. Pure: the node, the witness
and the offline verifier all use these very functions."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from origin.protocol import merkle, rules
from origin.protocol.canonical import canonical, parse
from origin.protocol.errors import ProtocolError
from origin.protocol.genesis import Config, parse_genesis
from origin.protocol.times import format_time, parse_time
from origin.protocol.transactions import decode_batch, verify_signatures

# A provenance bundle (docs/provenance.md): a checkpoint and the entries of one GGO's history,
# each with its inclusion proof. Built by the node, checked by the offline verifier.
PROVENANCE_FORMAT = "origin-provenance/1"


def genesis_entry(genesis: dict[str, Any], time_s: int) -> bytes:
    return canonical({"seq": 0, "time": format_time(time_s), "genesis": genesis})


def batch_entry(seq: int, time_s: int, batch_canonical: bytes) -> bytes:
    """canonical({"seq", "time", "batch"}), assembled around the batch's canonical bytes
    (keys in code point order: batch, seq, time) so the batch is not encoded twice."""
    return b'{"batch":%s,"seq":%d,"time":"%s"}' % (batch_canonical, seq, format_time(time_s).encode())


def time_of(entry: bytes) -> int:
    """The sequencing time of a stored (trusted, canonical) entry."""
    return parse_time(parse(entry)["time"])


class ReplayError(Exception):
    def __init__(self, seq: int, message: str):
        super().__init__(f"entry {seq}: {message}")
        self.seq = seq


@dataclass
class Replayed:
    config: Config
    records: dict[str, tuple[dict[str, Any], int, int]]  # address -> (record, seq last written, seq created)
    frontier: merkle.Frontier


def _entry(raw: bytes, seq: int, fields: set[str]) -> dict[str, Any]:
    try:
        entry = parse(raw)
    except ProtocolError as exc:
        raise ReplayError(seq, exc.message) from None
    if type(entry) is not dict or entry.keys() != fields or entry["seq"] != seq:
        raise ReplayError(seq, f"an entry is an object {sorted(fields)} with seq {seq}")
    if canonical(entry) != raw:
        raise ReplayError(seq, "the entry is not in canonical form")
    try:
        parse_time(entry["time"])
    except ProtocolError as exc:
        raise ReplayError(seq, exc.message) from None
    return entry


def genesis_of(raw: bytes) -> tuple[Config, int]:
    """The config and time of entry 0."""
    entry0 = _entry(raw, 0, {"seq", "time", "genesis"})
    try:
        return parse_genesis(entry0["genesis"]), parse_time(entry0["time"])
    except ProtocolError as exc:
        raise ReplayError(0, exc.message) from None


def apply_entry(
    raw: bytes, seq: int, config: Config, read: rules.Read, last_time_s: int
) -> tuple[dict[str, rules.Record], int]:
    """The records entry `seq` (>= 1) writes, and its time; ReplayError if it breaks a rule."""
    entry = _entry(raw, seq, {"seq", "time", "batch"})
    time_s = parse_time(entry["time"])
    if time_s < last_time_s:
        raise ReplayError(seq, "its time is before the previous entry's")
    try:
        batch = decode_batch(canonical(entry["batch"]), config.ledger)
        writes = rules.apply_batch(batch, verify_signatures(batch.transactions), config, read, time_s)
    except ProtocolError as exc:
        where = "" if exc.transaction is None else f" (transaction {exc.transaction})"
        raise ReplayError(seq, f"the batch breaks the rules: {exc.code}{where}: {exc.message}") from None
    return writes, time_s


def replay(entries: Iterable[bytes]) -> Replayed:
    """Apply every entry under the rules; ReplayError names the first one that breaks them."""
    it = iter(entries)
    first = next(it, None)
    if first is None:
        raise ReplayError(0, "the log is empty")
    config, last_time_s = genesis_of(first)
    frontier = merkle.Frontier()
    frontier.append(first)
    records: dict[str, tuple[dict[str, Any], int, int]] = {}

    def read(address: str) -> dict[str, Any] | None:
        found = records.get(address)
        return None if found is None else found[0]

    for seq, raw in enumerate(it, start=1):
        writes, last_time_s = apply_entry(raw, seq, config, read, last_time_s)
        for address, record in writes.items():
            created = records[address][2] if address in records else seq
            records[address] = (record, seq, created)
        frontier.append(raw)
    return Replayed(config, records, frontier)
