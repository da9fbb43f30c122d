"""A witness: follows a node's log, replays every entry under the rules, checks each new
checkpoint against what it has seen, and cosigns it (C2SP tlog-cosignature, cosignature/v1)
only if all agrees. It stops cosigning for good, and says so loudly, when the node shows two
different trees of one size, rewrites its history, or commits a batch that breaks a rule.

Its folder holds `witness.key` (its cosignature/v1 signer key), `witness.db` (a replica of the
log: entries, tree, records, and the checkpoints it cosigned) and, once it has seen
misbehaviour, `ALARM` (what it saw; a restarted witness stays alarmed).
"""

import base64
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from origin.ledger.sqlite import SQLiteStore
from origin.ledger.store import Group
from origin.protocol import merkle, note
from origin.protocol.canonical import canonical, parse
from origin.protocol.genesis import Config
from origin.protocol.limits import WITNESS_ENTRIES_PER_SYNC_MAX
from origin.protocol.log import ReplayError, apply_entry, genesis_of, time_of
from origin.protocol.rules import Record

log = logging.getLogger("origin.witness")

Fetch = Callable[[str], tuple[int, bytes]]  # path -> (HTTP status, body)
KEY_FILE, DATABASE, ALARM_FILE = "witness.key", "witness.db", "ALARM"


class Alarm(Exception):
    """The node misbehaved: the witness will not cosign its log again."""


class Witness:
    def __init__(self, data: Path, fetch: Fetch, name: str | None = None, log_key: str | None = None,
                 clock: Callable[[], float] = time.time):  # fmt: skip
        self.data, self.fetch, self.clock = Path(data), fetch, clock
        self.data.mkdir(parents=True, exist_ok=True)
        key_path = self.data / KEY_FILE
        if not key_path.exists():
            signer = note.Signer.generate(name or "origin-witness", note.COSIGNATURE_V1)
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(str(signer) + "\n")
        self.signer = note.Signer.parse(key_path.read_text().strip())
        self.pinned_log_key = log_key
        self.store = SQLiteStore(self.data / DATABASE)
        size = self.store.size()
        self.frontier = merkle.Frontier.load(self.store.node, size)
        self.config: Config | None = None
        self.last_time_s = 0
        if size:
            self.config, self.last_time_s = genesis_of(self._stored(0))
            self.last_time_s = time_of(self._stored(size - 1))
        alarm_path = self.data / ALARM_FILE
        self.alarm = json.loads(alarm_path.read_text()) if alarm_path.exists() else None

    @property
    def verifier_key(self) -> str:
        return str(self.signer.verifier)

    def latest(self) -> str | None:
        """The latest checkpoint it cosigned, with the node's signature and its own."""
        return self.store.checkpoint()

    def sync(self) -> str | None:
        """Catch up with the node and cosign its checkpoint; Alarm if the node misbehaved."""
        if self.alarm is not None:
            raise Alarm(self.alarm["message"])
        try:
            return self._sync()
        except Alarm as exc:
            self.alarm = {"message": str(exc), "time": int(self.clock()), "size": self.frontier.size}
            (self.data / ALARM_FILE).write_text(json.dumps(self.alarm))
            log.critical("ALARM: %s -- this witness no longer cosigns the log", exc)
            raise

    def _get(self, path: str) -> bytes:
        status, body = self.fetch(path)
        if status != 200:
            raise ConnectionError(f"GET {path}: HTTP {status}")
        return body

    def _sync(self) -> str | None:
        signed = self._get("/v1/checkpoint").decode()
        if self.config is None:
            self._adopt_genesis(self._get("/v1/entries/0"))
        config = self.config
        assert config is not None, "a genesis was adopted"
        try:
            checkpoint = note.Checkpoint.parse(note.open_note(signed, config.log_key))
        except note.NoteError as exc:
            raise Alarm(f"the node's checkpoint is not signed by its log key: {exc}") from None
        size, root = self.frontier.size, self.frontier.root()
        if checkpoint.origin != config.ledger:
            raise Alarm(f"the checkpoint is of log {checkpoint.origin!r}, not {config.ledger!r}")
        if checkpoint.size < size:
            raise Alarm(f"the log shrank from {size} to {checkpoint.size} entries: history was rewritten")
        if checkpoint.size == size:
            if checkpoint.root != root:
                raise Alarm(f"two different trees of size {size}: the node forked its log")
            return self.latest()
        hashes = _hashes(self._get(f"/v1/proofs/consistency?from={size}&to={checkpoint.size}"))
        if not merkle.verify_consistency(size, checkpoint.size, root, checkpoint.root, hashes):
            raise Alarm(f"checkpoint {checkpoint.size} is not consistent with checkpoint {size}: "
                        "history was rewritten")  # fmt: skip
        if checkpoint.size - size > WITNESS_ENTRIES_PER_SYNC_MAX:  # catch up in steps; cosign when level
            return self._replicate(config, size, size + WITNESS_ENTRIES_PER_SYNC_MAX, None, signed)
        return self._replicate(config, size, checkpoint.size, checkpoint, signed)

    def _adopt_genesis(self, raw: bytes) -> None:
        try:
            config, time_s = genesis_of(raw)
        except ReplayError as exc:
            raise Alarm(f"entry 0 is not a genesis: {exc}") from None
        if self.pinned_log_key is not None and config.genesis["log_key"] != self.pinned_log_key:
            raise Alarm("the node's genesis names another log key than the one this witness follows")
        self.config, self.last_time_s = config, time_s
        nodes = self.frontier.append(raw)
        self.store.commit(Group(entries=[(0, raw)], nodes=nodes))

    def _stored(self, seq: int) -> bytes:
        entry = self.store.entry(seq)
        assert entry is not None, f"the replica lacks entry {seq} below its size"
        return entry

    def _replicate(self, config: Config, start: int, end: int, checkpoint: note.Checkpoint | None,
                   signed: str) -> str | None:  # fmt: skip
        group, written = Group(), dict[str, Record]()
        frontier = self.frontier.copy()
        last_time_s = self.last_time_s

        def read(address: str) -> Record | None:
            if address in written:
                return written[address]
            found = self.store.record(address)
            return None if found is None else dict(parse(found[0]))

        for seq in range(max(start, 1), end):
            raw = self._get(f"/v1/entries/{seq}")
            try:
                writes, last_time_s = apply_entry(raw, seq, config, read, last_time_s)
            except ReplayError as exc:
                raise Alarm(f"the node committed {exc}") from None
            for address, record in writes.items():
                written[address] = record
                first = group.records[address][2] if address in group.records else seq
                group.records[address] = (canonical(record), seq, first)
            group.entries.append((seq, raw))
            group.nodes.extend(frontier.append(raw))
        cosigned = None
        if checkpoint is not None:
            if frontier.root() != checkpoint.root:
                raise Alarm(f"the entries the node serves do not hash to its checkpoint of size {checkpoint.size}")
            cosigned = self.signer.cosign(signed, int(self.clock()))
            group.checkpoint = (checkpoint.size, cosigned)
        self.store.commit(group)
        self.frontier, self.last_time_s = frontier, last_time_s
        if checkpoint is not None:
            log.info("cosigned %s at size %d", config.ledger, checkpoint.size)
        return cosigned or self.latest()

    def close(self) -> None:
        self.store.close()


def _hashes(answer: bytes) -> list[bytes]:
    """The hashes of a proof answer; ValueError if it is not one (the node is asked again)."""
    try:
        hashes = json.loads(answer)["hashes"]
        return [base64.b64decode(h, validate=True) for h in hashes]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"the node's proof is not {{'hashes': [base64, ...]}}: {exc!r}") from None
