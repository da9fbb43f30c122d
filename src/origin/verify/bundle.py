"""The offline verifier of provenance bundles (docs/provenance.md). With no network and no trust
in the node it checks the checkpoint's signature (and witnesses' cosignatures), every inclusion
proof, every signature in the entries, that the issuers are the genesis's, and that the GGO's
history follows PROTOCOL.md's rules: it applies the very rule handlers the node runs
(`origin.protocol.rules`) to every transaction of the bundle that writes a record of that
history, entry by entry in log order, pairing rule included. It depends on the protocol alone.

A bundle that is not one (not JSON, or items not of the documented shapes) raises Unreadable;
one that is well formed but does not prove what it claims raises VerifyError naming what failed.

What a bundle cannot show: that no entry outside it spent the GGO, or added to its settlement
before it. Witnesses, who replay the whole log and cosign its checkpoints, vouch for that.
"""

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from origin.protocol import addresses, eecs, merkle, note, rules
from origin.protocol.canonical import canonical
from origin.protocol.errors import ProtocolError
from origin.protocol.genesis import Config, parse_genesis
from origin.protocol.limits import PROVENANCE_ENTRIES_MAX
from origin.protocol.log import PROVENANCE_FORMAT
from origin.protocol.times import parse_time
from origin.protocol.transactions import Transaction, decode_batch, verify_signatures


class VerifyError(Exception):
    """The bundle does not prove what it claims; the message says what failed."""


class Unreadable(Exception):
    """Not a provenance bundle at all; the message says what is wrong with it."""


@dataclass
class Hop:
    action: str  # ISSUE, TRANSFER, SPLIT or RETIRE
    address: str
    amount: int
    seq: int
    time: str


@dataclass
class Summary:
    ggo: str
    ledger: str
    checkpoint_size: int
    issuer: str
    measurement: dict[str, Any]
    tech_type: str
    fuel_type: str
    hops: list[Hop] = field(default_factory=list)
    retired_to: str | None = None
    consumption: str | None = None
    spent: str | None = None  # the action that used the GGO, if any
    witnesses: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        m = self.measurement
        out = [
            f"GGO {self.ggo}",
            f"  {m['amount']} Wh produced {m['begin']} to {m['end']} in {m['sector']}",
            f"  technology {self.tech_type} ({eecs.tech_label(self.tech_type) or 'unknown code'}), "
            f"fuel {self.fuel_type} ({eecs.fuel_label(self.fuel_type) or 'unknown code'})",
            f"  issued by {self.issuer}, an issuer of ledger {self.ledger}",
        ]
        for hop in self.hops:
            out.append(f"  {hop.time}  entry {hop.seq:>6}  {hop.action:<8} {hop.amount} Wh -> {hop.address}")
        if self.retired_to:
            out.append(f"  RETIRED to settlement {self.retired_to} of consumption {self.consumption}")
        elif self.spent:
            out.append(f"  used: {self.spent} (see the entries above)")
        else:
            out.append(f"  not used in any entry of this bundle (log size {self.checkpoint_size})")
        out.append(f"  checkpoint of size {self.checkpoint_size} signed by the log key"
                   + (f", cosigned by {', '.join(self.witnesses)}" if self.witnesses else ""))  # fmt: skip
        return out


@dataclass
class _Entry:
    seq: int
    time: str
    time_s: int
    transactions: Sequence[Transaction]


def verify_bundle(bundle: Any, log_key: note.Verifier, witness_keys: Sequence[note.Verifier] = ()) -> Summary:
    """What the bundle proves; Unreadable or VerifyError if it proves nothing."""
    target = _check_shape(bundle)
    try:
        text = note.open_note(bundle["checkpoint"], log_key, *witness_keys)
        checkpoint = note.Checkpoint.parse(text)
    except note.NoteError as exc:
        raise VerifyError(f"checkpoint: {exc}") from None
    if checkpoint.origin != log_key.name:
        raise VerifyError(f"checkpoint is of log {checkpoint.origin!r}, not {log_key.name!r}")
    proven = _proven_entries(bundle["entries"], checkpoint)
    config = _genesis(proven, log_key)
    entries = [_signed_entry(seq, proven[seq], config) for seq in sorted(proven) if seq > 0]
    return _History(target, entries, config).check(checkpoint, [k.name for k in witness_keys])


def _check_shape(bundle: Any) -> str:
    """The bundle's GGO, if the bundle has the documented shape."""
    if type(bundle) is not dict or bundle.get("format") != PROVENANCE_FORMAT:
        raise Unreadable(f"not a provenance bundle of format {PROVENANCE_FORMAT}")
    if bundle.keys() != {"format", "ggo", "checkpoint", "entries"}:
        raise Unreadable("a bundle has exactly format, ggo, checkpoint and entries")
    if not addresses.is_address(bundle["ggo"]) or type(bundle["checkpoint"]) is not str:
        raise Unreadable("a bundle's ggo is an address and its checkpoint a signed note")
    items = bundle["entries"]
    if type(items) is not list or len(items) > PROVENANCE_ENTRIES_MAX:
        raise Unreadable(f"a bundle's entries are a list of at most {PROVENANCE_ENTRIES_MAX}")
    for item in items:
        if (type(item) is not dict or item.keys() != {"seq", "entry", "proof"} or type(item["seq"]) is not int
                or type(item["entry"]) is not dict or type(item["proof"]) is not list
                or not all(type(h) is str for h in item["proof"])):  # fmt: skip
            raise Unreadable("an entry item is {seq: integer, entry: object, proof: [base64 strings]}")
    return str(bundle["ggo"])


def _proven_entries(items: list[dict[str, Any]], checkpoint: note.Checkpoint) -> dict[int, dict[str, Any]]:
    """Every entry, by seq, once its inclusion in the checkpoint's tree is proven."""
    entries: dict[int, dict[str, Any]] = {}
    for item in items:
        seq = item["seq"]
        if item["entry"].get("seq") != seq or seq in entries:
            raise VerifyError(f"entry {seq}: its seq does not match, or it appears twice")
        try:
            proof = [base64.b64decode(h, validate=True) for h in item["proof"]]
            leaf = merkle.leaf_hash(canonical(item["entry"]))
        except (ValueError, ProtocolError):  # binascii.Error is a ValueError, and so is non-ASCII
            raise VerifyError(f"entry {seq}: not well encoded") from None
        if not merkle.verify_inclusion(leaf, seq, checkpoint.size, proof, checkpoint.root):
            raise VerifyError(f"entry {seq}: its inclusion proof does not verify against the checkpoint")
        entries[seq] = item["entry"]
    return entries


def _genesis(entries: dict[int, dict[str, Any]], log_key: note.Verifier) -> Config:
    """The genesis's configuration: the issuers, and the log key the caller trusts."""
    if 0 not in entries or "genesis" not in entries[0]:
        raise VerifyError("entry 0, the genesis, is missing")
    try:
        config = parse_genesis(entries[0]["genesis"])
    except ProtocolError as exc:
        raise VerifyError(f"entry 0: {exc.message}") from None
    if config.genesis["log_key"] != str(log_key):
        raise VerifyError("the genesis names another log key than the one given")
    return config


def _signed_entry(seq: int, entry: dict[str, Any], config: Config) -> _Entry:
    """A batch entry whose every transaction is well formed and signed by its signer."""
    try:
        batch = decode_batch(canonical(entry["batch"]), config.ledger)
        time_s = parse_time(entry["time"])
    except (ProtocolError, KeyError):
        raise VerifyError(f"entry {seq}: not a batch entry") from None
    if batch.error is not None:
        raise VerifyError(f"entry {seq}: {batch.error.message}")
    signed = []
    for index, (tx, valid) in enumerate(zip(batch.transactions, verify_signatures(batch.transactions), strict=True)):
        if not isinstance(tx, Transaction) or not valid:
            raise VerifyError(f"entry {seq}, transaction {index}: its signature does not verify")
        signed.append(tx)
    return _Entry(seq, entry["time"], time_s, signed)


_SPENDS = ("transfer_ggo", "split_ggo", "retire_ggo")


class _History:
    """The GGO's history in the bundle's entries, replayed under the rules."""

    def __init__(self, target: str, entries: list[_Entry], config: Config):
        self.target, self.entries, self.config = target, entries, config
        self.creators: dict[str, tuple[str | None, _Entry, Transaction]] = {}
        for entry in entries:
            for tx in entry.transactions:
                for address in rules.written(tx) - {tx.payload.get("ggo")}:
                    origin = tx.payload.get("ggo") or tx.payload.get("measurement")
                    self.creators.setdefault(address, (origin, entry, tx))
        self.chain = self._ancestry(target)
        self.state = rules.State(lambda address: None)

    def _ancestry(self, ggo: str) -> list[str]:
        """[measurement, issued GGO, ..., ggo], from the transactions that create each."""
        chain, address = [ggo], ggo
        while addresses.namespace_of(address) == addresses.GGO:
            if address not in self.creators:
                raise VerifyError(f"no entry in the bundle creates {address}: an entry is missing")
            origin, entry, _ = self.creators[address]
            if origin is None:
                raise VerifyError(f"entry {entry.seq}: a publication writes GGO {address}")
            if origin in chain:
                raise VerifyError("the chain of origins loops")
            chain.append(address := origin)
        if address not in self.creators:
            raise VerifyError(f"the publication of measurement {address} is missing from the bundle")
        chain.reverse()
        return chain

    def _relevant(self) -> set[str]:
        """The chain's addresses and, for a retirement, what its settlement rule reads; then
        the history of every GGO that a transaction writing one of those spends."""
        relevant = set(self.chain)
        spend = self._spend()
        if spend is not None and spend[1].type == "retire_ggo":
            relevant |= self._settlement_reads(spend[1].payload["settlement"], spend[0].seq)
        grown = True
        while grown:  # each round adds an address, or ends
            grown = False
            for entry in self.entries:
                for tx in entry.transactions:
                    spent = tx.payload.get("ggo", "")
                    if tx.type in _SPENDS and spent not in relevant and rules.written(tx) & relevant:
                        relevant.update(self._ancestry(spent))
                        grown = True
        return relevant

    def _settlement_reads(self, settlement: str, spent_seq: int) -> set[str]:
        """The settlement, its consumption, and the chains of the GGOs retired into it up to
        the entry at `spent_seq`."""
        reads = {settlement}
        for entry in self.entries:
            for tx in entry.transactions:
                if entry.seq <= spent_seq and tx.type == "update_settlement" and tx.payload["settlement"] == settlement:
                    measurement = tx.payload["measurement"]
                    if measurement not in self.creators:
                        raise VerifyError(f"the publication of consumption measurement {measurement} is missing")
                    reads.add(measurement)
                    for ggo in tx.payload["ggos"]:
                        reads.update(self._ancestry(ggo))
        return reads

    def _spend(self) -> tuple[_Entry, Transaction] | None:
        for entry in self.entries:
            for tx in entry.transactions:
                if tx.type in _SPENDS and tx.payload["ggo"] == self.target:
                    return entry, tx
        return None

    def _apply(self, relevant: set[str]) -> list[Hop]:
        """Every transaction that writes a relevant record, under the node's own handlers."""
        hops = []
        chain = set(self.chain)
        for entry in self.entries:
            pairing = rules.Pairing()
            for index, tx in enumerate(entry.transactions):
                writes = rules.written(tx)
                if not writes & relevant:
                    continue
                try:
                    rules.apply_transaction(tx, index, self.state, self.config, entry.time_s, pairing)
                except ProtocolError as exc:
                    raise VerifyError(f"entry {entry.seq}, transaction {index}: {tx.type} breaks the rule "
                                      f"{exc.code}: {exc.message}") from None  # fmt: skip
                for child in sorted(writes & chain - {self.chain[0], tx.payload.get("ggo")}):
                    action = "ISSUE" if tx.type == "issue_ggo" else tx.type.split("_")[0].upper()
                    hops.append(Hop(action, child, self.state.get(child)["amount"], entry.seq, entry.time))  # type: ignore[index]
            try:
                rules.check_pairing(pairing)
            except ProtocolError as exc:
                raise VerifyError(f"entry {entry.seq}, transaction {exc.transaction}: the rule {exc.code}: "
                                  f"{exc.message}") from None  # fmt: skip
        return hops

    def check(self, checkpoint: note.Checkpoint, witnesses: list[str]) -> Summary:
        hops = self._apply(self._relevant())
        record = self.state.get(self.target)
        assert record is not None, "the chain's creators were applied"
        _, entry, issue = self.creators[self.chain[1]]
        if issue.type != "issue_ggo":
            raise VerifyError(f"entry {entry.seq}: GGO {self.chain[1]} is not issued from its measurement")
        summary = Summary(
            ggo=self.target, ledger=self.config.ledger, checkpoint_size=checkpoint.size, issuer=issue.signer_hex,
            measurement=self.state.get(self.chain[0]) or {}, tech_type=record["tech_type"],
            fuel_type=record["fuel_type"], hops=hops, witnesses=witnesses)  # fmt: skip
        if record["next"] is not None:
            summary.spent = {"TRANSFER": "transfer_ggo", "SPLIT": "split_ggo", "RETIRE": "retire_ggo"}[
                record["next"]["action"]
            ]
            if record["next"]["action"] == "RETIRE":
                summary.retired_to = record["next"]["addresses"][0]
                settlement = self.state.get(summary.retired_to)
                assert settlement is not None, "the pairing rule held: the settlement was written"
                summary.consumption = settlement["measurement"]
        return summary
