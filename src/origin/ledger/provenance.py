"""Provenance bundles: one JSON document with which anyone can check a GGO offline.

It holds a signed checkpoint and, each with its RFC 9162 inclusion proof against it: entry 0
(the genesis, naming the issuers and the log key), the publication of the GGO's measurement,
its issue, every transfer or split from the issued GGO down to this one, and, if the GGO was
spent, the entry that spent it -- for a retirement, also the publication of the consumption
measurement it settles. docs/provenance.md describes the format.
"""

import base64

from origin.ledger.store import Store
from origin.protocol import addresses, merkle, note
from origin.protocol.canonical import parse

FORMAT = "origin-provenance/1"


def build(store: Store, ggo: str) -> dict | None:
    """The bundle of the GGO at `ggo`; None if there is none."""
    found = store.record(ggo)
    if found is None or addresses.namespace_of(ggo) != addresses.GGO:
        return None
    target, target_seq = parse(found[0]), found[1]
    seqs, address = {0}, ggo
    while True:  # from the GGO back to its measurement: each record's creating entry
        seqs.add(store.created(address))
        if addresses.namespace_of(address) != addresses.GGO:
            break
        address = parse(store.record(address)[0])["origin"]
    if target["next"] is not None:
        seqs.add(target_seq)
        if target["next"]["action"] == "RETIRE":
            settlement = parse(store.record(target["next"]["addresses"][0])[0])
            seqs.add(store.created(settlement["measurement"]))
    # Read after the records: the checkpoint covers every entry they name.
    signed = store.checkpoint()
    size = note.Checkpoint.parse(note.split(signed)[0]).size
    return {
        "format": FORMAT,
        "ggo": ggo,
        "checkpoint": signed,
        "entries": [
            {
                "seq": seq,
                "entry": parse(store.entry(seq)),
                "proof": [base64.b64encode(h).decode() for h in merkle.inclusion_proof(store.node, seq, size)],
            }
            for seq in sorted(seqs)
        ],
    }
