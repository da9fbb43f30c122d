"""`origin ledger replay`: rebuild the state from a store's log alone (protocol.log.replay) and
compare it with the store's state and its latest signed checkpoint. This is what lets anyone
verify the ledger without trusting the node."""

from dataclasses import dataclass, field

from origin.ledger.store import Store
from origin.protocol import note
from origin.protocol.canonical import canonical
from origin.protocol.log import ReplayError, replay

__all__ = ["ReplayError", "Report", "check"]


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
