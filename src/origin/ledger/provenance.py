"""Provenance bundles: one JSON document with which anyone can check a GGO offline.

It holds a signed checkpoint and, each with its RFC 9162 inclusion proof against it: entry 0
(the genesis, naming the issuers and the log key), the publication of the GGO's measurement,
its issue, every transfer or split from the issued GGO down to this one, and, if the GGO was
spent, the entry that spent it. For a retirement also what the settlement rule reads: the
publication of the consumption measurement, every entry that added to the settlement up to
this retirement, and the chain of each GGO retired into it there. docs/provenance.md describes
the format; at most PROVENANCE_ENTRIES_MAX entries (TooLong past that).
"""

import base64
from typing import Any

from origin.ledger.store import Store
from origin.protocol import addresses, merkle, note
from origin.protocol.canonical import parse
from origin.protocol.limits import PROVENANCE_ENTRIES_MAX
from origin.protocol.log import PROVENANCE_FORMAT


class TooLong(Exception):
    """The GGO's history has more entries than a bundle holds."""


class _Walk:
    """The entries a bundle needs, gathered from the store, bounded."""

    def __init__(self, store: Store):
        self.store = store
        self.seqs: set[int] = {0}

    def add(self, seq: int | None) -> None:
        assert seq is not None, "a stored record has no creating entry"
        self.seqs.add(seq)
        if len(self.seqs) > PROVENANCE_ENTRIES_MAX:
            raise TooLong(f"this GGO's provenance spans more than {PROVENANCE_ENTRIES_MAX} log entries")

    def record(self, address: str) -> tuple[dict[str, Any], int]:
        found = self.store.record(address)
        assert found is not None, f"a record names {address}, which holds nothing"
        return parse(found[0]), found[1]

    def chain(self, ggo: str) -> None:
        """From a GGO back to its measurement: each record's creating entry."""
        address = ggo
        while True:
            self.add(self.store.created(address))
            if addresses.namespace_of(address) != addresses.GGO:
                return
            address = self.record(address)[0]["origin"]

    def retirement(self, settlement_address: str, spent_seq: int) -> None:
        """What the settlement rule read when the GGO was retired at `spent_seq`."""
        settlement, _ = self.record(settlement_address)
        self.add(self.store.created(settlement["measurement"]))
        for part in settlement["parts"]:
            _, retired_seq = self.record(part["ggo"])  # its last write: its retirement
            if retired_seq <= spent_seq:
                self.add(retired_seq)
                self.chain(part["ggo"])


def build(store: Store, ggo: str) -> dict[str, Any] | None:
    """The bundle of the GGO at `ggo`; None if there is none."""
    found = store.record(ggo)
    if found is None or addresses.namespace_of(ggo) != addresses.GGO:
        return None
    target, target_seq = parse(found[0]), found[1]
    walk = _Walk(store)
    walk.chain(ggo)
    if target["next"] is not None:
        walk.add(target_seq)
        if target["next"]["action"] == "RETIRE":
            walk.retirement(target["next"]["addresses"][0], target_seq)
    # Read after the records: the checkpoint covers every entry they name.
    signed = store.checkpoint()
    assert signed is not None, "a ledger always has a checkpoint"
    size = note.Checkpoint.parse(note.split(signed)[0]).size
    entries = []
    for seq in sorted(walk.seqs):
        entry = store.entry(seq)
        assert entry is not None, f"entry {seq} is below the checkpoint but not stored"
        proof = merkle.inclusion_proof(store.node, seq, size)
        entries.append({"seq": seq, "entry": parse(entry), "proof": [base64.b64encode(h).decode() for h in proof]})
    return {"format": PROVENANCE_FORMAT, "ggo": ggo, "checkpoint": signed, "entries": entries}
