"""Replay: rebuild the state from the log alone (PROTOCOL.md section 8), and compare it with a
store's state and its latest signed checkpoint. This is what lets anyone verify the ledger
without trusting the node."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from origin.ledger import rules
from origin.ledger.genesis import Config, parse_genesis
from origin.ledger.store import Store
from origin.protocol import merkle, note
from origin.protocol.canonical import canonical, parse
from origin.protocol.errors import ProtocolError
from origin.protocol.times import parse_time
from origin.protocol.transactions import decode_batch, verify_signatures


class ReplayError(Exception):
    def __init__(self, seq: int, message: str):
        super().__init__(f"entry {seq}: {message}")
        self.seq = seq


@dataclass
class Replayed:
    config: Config
    records: dict[str, tuple[dict, int, int]]  # address -> (record, seq last written, seq created)
    frontier: merkle.Frontier


def _entry(raw: bytes, seq: int, fields: set) -> dict:
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


def apply_entry(raw: bytes, seq: int, config: Config, read, last_time_s: int) -> tuple[dict, int]:
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
    records: dict[str, tuple[dict, int, int]] = {}

    def read(address: str) -> dict | None:
        found = records.get(address)
        return None if found is None else found[0]

    for seq, raw in enumerate(it, start=1):
        writes, last_time_s = apply_entry(raw, seq, config, read, last_time_s)
        for address, record in writes.items():
            created = records[address][2] if address in records else seq
            records[address] = (record, seq, created)
        frontier.append(raw)
    return Replayed(config, records, frontier)


@dataclass
class Report:
    entries: int
    records: int
    state_matches: bool
    checkpoint_matches: bool
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state_matches and self.checkpoint_matches


PROBLEMS_SHOWN_MAX = 20


def check(store: Store) -> Report:
    """Replay a store's log and compare the result with its state and latest checkpoint."""
    replayed = replay(store.entries())
    problems: list[str] = []
    stored_addresses = set()
    for address, record, seq, created in store.records():
        stored_addresses.add(address)
        expected = replayed.records.get(address)
        if expected is None:
            problems.append(f"{address}: stored, but no entry writes it")
        elif (canonical(expected[0]), expected[1], expected[2]) != (record, seq, created):
            problems.append(f"{address}: stored record differs from the replayed one")
    for address in replayed.records.keys() - stored_addresses:
        problems.append(f"{address}: written by entry {replayed.records[address][1]}, not stored")
    state_matches = not problems

    checkpoint_matches = False
    signed = store.checkpoint()
    if signed is None:
        problems.append("no checkpoint is stored")
    else:
        try:
            cp = note.Checkpoint.parse(note.open_note(signed, replayed.config.log_key))
        except note.NoteError as exc:
            problems.append(f"latest checkpoint: {exc}")
        else:
            size = replayed.frontier.size
            if cp.origin != replayed.config.ledger or cp.size != size:
                problems.append(f"latest checkpoint is of {cp.origin} size {cp.size}, the log has {size} entries")
            elif cp.root != replayed.frontier.root():
                problems.append("latest checkpoint's root differs from the replayed root")
            else:
                checkpoint_matches = True
    return Report(
        entries=replayed.frontier.size,
        records=len(replayed.records),
        state_matches=state_matches,
        checkpoint_matches=checkpoint_matches,
        problems=problems[:PROBLEMS_SHOWN_MAX],
    )
