"""The inventory, built from the ledger's log as a witness follows it: every entry in order, each
committed transaction's effect on the addresses the service's accounts can derive. So it is
complete after a restart, a lost notification or a sender that never tells; a notification only
makes it look sooner. The entries' Merkle frontier is kept beside the position, and its root
must equal the signed checkpoint's whenever the inventory reaches one.

Which addresses are an account's:
- measurements of its meters: for a measurement of time t in the log, the addresses
  CKDpub(meter xpub, t) of its meters of that type, derived one at a time until one matches, the
  meter that matched last first (so a meter's run of measurements costs one derivation each, and
  an hourly meter none at a quarter past), and all of them before a measurement is called not
  ours; kept for the latest times in a small cache;
- GGOs issued from those measurements (same key part);
- GGOs at its receive addresses m/0'/n: n below `watched_receive`, which runs RECEIVE_GAP
  ahead of the highest index used or handed out (the gap limit of BIP44 wallets).
"""

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bip32 import BIP32
from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from origin import database
from origin.accounts import db
from origin.accounts.ledger import LedgerAlarm, LedgerClient
from origin.protocol import merkle, note, wallet
from origin.protocol.canonical import canonical, parse
from origin.protocol.limits import SQL_PARAMETERS_MAX
from origin.protocol.times import parse_time

ENTRIES_PER_STEP = 32  # entries applied in one database transaction: memory stays small, whatever the backlog
RECEIVE_GAP = 100  # receive indices watched past the highest used or handed out
ADDRESSES_CACHED = 20_000  # measurement addresses kept derived, of the latest periods (a few MiB at most)

Event = tuple[str, str, dict[str, Any]]  # (account, event name, payload)


def meter_path(meter: int, begin_s: int) -> str:
    return f"1'/{meter}'/{wallet.minute_index(begin_s)}"


def receive_path(n: int) -> str:
    return f"0'/{n}"


def parse_path(path: str) -> list[int]:
    return [int(p[:-1]) + 2**31 if p.endswith("'") else int(p) for p in path.split("/")]


def watch_receive(conn: Connection, account: str, receive_xpub: str, up_to: int) -> None:
    """Watch the account's receive addresses below `up_to` (derive and list the new ones)."""
    watched = conn.execute(select(db.accounts.c.watched_receive).where(db.accounts.c.id == account)).scalar_one()
    if up_to <= watched:
        return
    view = BIP32.from_xpub(receive_xpub)
    conn.execute(insert(db.receive_keys), [{"address": wallet.receive_address(view, n), "account": account, "n": n}
                                           for n in range(watched, up_to)])  # fmt: skip
    conn.execute(update(db.accounts).where(db.accounts.c.id == account).values(watched_receive=up_to))


def enqueue_periods(conn: Connection, periods: set[tuple[str, int, int, str]]) -> None:
    """Periods (account, begin, end, sector) with something new for the automation to route;
    one already queued stays as it is."""
    if not periods:
        return
    rows = [{"account": a, "begin_s": b, "end_s": e, "sector": s} for a, b, e, s in sorted(periods)]
    if conn.dialect.name == "postgresql":
        conn.execute(pg_insert(db.automation_queue).on_conflict_do_nothing(), rows)
    else:
        conn.execute(sqlite_insert(db.automation_queue).on_conflict_do_nothing(), rows)


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), SQL_PARAMETERS_MAX):
        yield items[i : i + SQL_PARAMETERS_MAX]


def _touched(tx: dict[str, Any]) -> list[str]:
    p = tx["payload"]
    kind = tx["type"]
    if kind == "publish_measurement":
        return [p["address"]]
    if kind == "issue_ggo":
        return [p["measurement"], p["address"]]
    if kind == "transfer_ggo":
        return [p["ggo"], p["to"]]
    if kind == "split_ggo":
        return [p["ggo"], *(part["address"] for part in p["parts"])]
    if kind == "retire_ggo":
        return [p["ggo"]]
    return [p["measurement"], *p["ggos"]]  # update_settlement


MeterKey = tuple[str, int]  # (account, meter index)


@dataclass
class _Time:
    """The measurement addresses derived so far for one time and meter type, and the meters not yet
    derived for it, next first."""

    found: dict[str, MeterKey]
    pending: list[tuple[MeterKey, BIP32]]


@dataclass
class _Chunk:
    """What one chunk of entries reads and changes, in memory until it is written."""

    measurements: dict[str, dict[str, Any]] = field(default_factory=dict)
    ggos: dict[str, dict[str, Any]] = field(default_factory=dict)
    receive: dict[str, dict[str, Any]] = field(default_factory=dict)
    new_measurements: list[str] = field(default_factory=list)
    new_ggos: list[str] = field(default_factory=list)
    changed_measurements: set[str] = field(default_factory=set)
    changed_ggos: set[str] = field(default_factory=set)
    used_receive: dict[str, int] = field(default_factory=dict)
    retirements: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


class Inventory:
    def __init__(self, engine: Engine, ledger: LedgerClient, record: Callable[[Connection, list[Event]], None]):
        self.engine, self.ledger = engine, ledger
        self._record_events = record
        self._lock = threading.Lock()  # one follower at a time
        self._times: OrderedDict[tuple[int, str], _Time] = OrderedDict()
        self._meters: dict[str, OrderedDict[MeterKey, BIP32]] = {}  # by type, the last matched first
        self._meter_count = -1

    def size(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(db.follower.c.size).where(db.follower.c.id == 1)).scalar() or 0)

    def follow(self, until: int | None = None, progress: Callable[[int, int], None] = lambda done, total: None) -> int:
        """Apply the log's new entries to the inventory, up to the signed checkpoint (or at least
        to `until` entries, when the caller knows of a newer one); the size followed."""
        if until is not None and (size := self.size()) >= until:
            return size
        with self._lock:
            if until is not None and (size := self.size()) >= until:  # another follow took it there meanwhile
                return size
            checkpoint = self.ledger.checkpoint()
            size, frontier = self._position()
            if checkpoint.size < size:
                raise LedgerAlarm(f"the log shrank from {size} to {checkpoint.size} entries")
            target = checkpoint.size
            if size == target and size and frontier.root() != checkpoint.root:
                raise LedgerAlarm(f"two different trees of size {size}: the ledger forked its log")
            while size < target:
                entries = self.ledger.entries(size, target)
                read = frontier.copy()
                for entry in entries:
                    read.append(entry)
                self._check(read, checkpoint)  # the whole bundle is the signed tree's: apply it in steps
                for at in range(0, len(entries), ENTRIES_PER_STEP):
                    step = entries[at : at + ENTRIES_PER_STEP]
                    for entry in step:
                        frontier.append(entry)
                    with database.writes(self.engine) as conn:
                        self._apply(conn, size, step)
                        conn.execute(update(db.follower).where(db.follower.c.id == 1).values(
                            size=frontier.size, edge=json.dumps([[lv, h.hex()] for lv, h in frontier.edge])))  # fmt: skip
                    size = frontier.size
                    progress(size, target)
            if until is not None and size < until:
                raise LedgerAlarm(f"the ledger's checkpoint has {size} entries; entry {until - 1} was promised")
            return size

    def _check(self, frontier: merkle.Frontier, checkpoint: note.Checkpoint) -> None:
        """The entries read so far are the signed tree, or a prefix of it (RFC 9162's
        consistency proof): else nothing of them is applied."""
        if frontier.size == checkpoint.size:
            if frontier.root() != checkpoint.root:
                raise LedgerAlarm(f"the entries up to {frontier.size} do not hash to the signed checkpoint's root")
            return
        proof = self.ledger.consistency(frontier.size, checkpoint.size)
        if not merkle.verify_consistency(frontier.size, checkpoint.size, frontier.root(), checkpoint.root, proof):
            raise LedgerAlarm(f"the entries up to {frontier.size} are not a prefix of the signed checkpoint's tree")

    def _position(self) -> tuple[int, merkle.Frontier]:
        with database.writes(self.engine) as conn:
            row = conn.execute(select(db.follower).where(db.follower.c.id == 1)).mappings().first()
            if row is None:
                conn.execute(insert(db.follower).values(id=1, size=0, edge="[]"))
                return 0, merkle.Frontier()
        edge = [(int(level), bytes.fromhex(h)) for level, h in json.loads(row["edge"])]
        return int(row["size"]), merkle.Frontier(int(row["size"]), edge)

    def forget_meters(self) -> None:
        """A meter was added: derive the measurement addresses afresh."""
        self._meter_count = -1

    def _load_meters(self, conn: Connection) -> None:
        count = conn.execute(select(func.count()).select_from(db.meters)).scalar_one()
        if count == self._meter_count:
            return
        rows = conn.execute(select(db.meters.c.account, db.meters.c.idx, db.meters.c.xpub, db.meters.c.type)).fetchall()
        self._meters = {}
        for r in rows:
            self._meters.setdefault(r.type, OrderedDict())[(r.account, r.idx)] = BIP32.from_xpub(r.xpub)
        self._meter_count = count
        self._times.clear()

    def _measurement_owner(self, begin_s: int, kind: str, address: str) -> MeterKey | None:
        """(account, meter) of the `kind` measurement at `address` that begins at begin_s, if ours."""
        meters = self._meters.get(kind)
        if not meters:
            return None
        key = (begin_s, kind)
        at = self._times.get(key)
        if at is None:
            at = self._times[key] = _Time({}, list(reversed(meters.items())))
            while len(self._times) > max(4, ADDRESSES_CACHED // len(meters)):
                self._times.popitem(last=False)
        else:
            self._times.move_to_end(key)
        owner = at.found.get(address)
        while owner is None and at.pending:
            meter, view = at.pending.pop()
            derived = wallet.measurement_address(view, begin_s)
            at.found[derived] = meter
            if derived == address:
                owner = meter
        if owner is not None:
            meters.move_to_end(owner, last=False)
        return owner

    def _apply(self, conn: Connection, start: int, entries: list[bytes]) -> None:
        self._load_meters(conn)
        chunk = _Chunk()
        batches = []
        for seq, raw in enumerate(entries, start):
            entry = parse(raw)
            if "batch" in entry:
                batches.append((seq, entry["batch"]["transactions"]))
        self._read(conn, chunk, {a for _, txs in batches for tx in txs for a in _touched(tx)})
        for seq, txs in batches:
            for tx in txs:
                self._effect(conn, chunk, seq, tx)
        self._write(conn, chunk)

    def _read(self, conn: Connection, chunk: _Chunk, touched: set[str]) -> None:
        wanted = sorted(touched)
        for part in _chunks(wanted):
            for r in conn.execute(select(db.measurements).where(db.measurements.c.address.in_(part))).mappings():
                chunk.measurements[r["address"]] = dict(r)
            for r in conn.execute(select(db.ggos).where(db.ggos.c.address.in_(part))).mappings():
                chunk.ggos[r["address"]] = dict(r)
            for r in conn.execute(select(db.receive_keys).where(db.receive_keys.c.address.in_(part))).mappings():
                chunk.receive[r["address"]] = dict(r)

    def _effect(self, conn: Connection, chunk: _Chunk, seq: int, tx: dict[str, Any]) -> None:
        p, kind = tx["payload"], tx["type"]
        if kind == "publish_measurement":
            begin = parse_time(p["begin"])
            owner = self._measurement_owner(begin, p["type"], p["address"])
            if owner is not None:
                chunk.measurements[p["address"]] = {
                    "address": p["address"], "account": owner[0], "meter": owner[1], "begin_s": begin,
                    "end_s": parse_time(p["end"]), "sector": p["sector"], "type": p["type"], "amount_wh": p["amount"],
                    "retired_wh": 0, "seq": seq}  # fmt: skip
                chunk.new_measurements.append(p["address"])
        elif kind == "issue_ggo":
            m = chunk.measurements.get(p["measurement"])
            if m is not None:
                self._new_ggo(chunk, p["address"], m["account"], "issued", meter_path(m["meter"], m["begin_s"]), seq,
                              {"origin": m["address"], "begin_s": m["begin_s"], "end_s": m["end_s"],
                               "amount_wh": m["amount_wh"], "sector": m["sector"], "tech_type": p["tech_type"],
                               "fuel_type": p["fuel_type"]})  # fmt: skip
        elif kind in ("transfer_ggo", "split_ggo"):
            parts = [(p["to"], None)] if kind == "transfer_ggo" else [(q["address"], q["amount"]) for q in p["parts"]]
            parent = self._spend(chunk, p["ggo"], seq, "TRANSFER" if kind == "transfer_ggo" else "SPLIT",
                                 [a for a, _ in parts])  # fmt: skip
            for to, amount in parts:
                self._receive(conn, chunk, seq, p["ggo"], parent, to, amount, tx["signer"])
        elif kind == "retire_ggo":
            self._spend(chunk, p["ggo"], seq, "RETIRE", [p["settlement"]])
        else:
            m = chunk.measurements.get(p["measurement"])
            if m is not None:
                for ggo in p["ggos"]:
                    amount = self._amount_of(chunk, ggo)
                    m["retired_wh"] += amount
                    chunk.retirements.append({"ggo": ggo, "account": m["account"], "measurement": m["address"],
                                              "amount_wh": amount, "seq": seq})  # fmt: skip
                chunk.changed_measurements.add(m["address"])

    def _amount_of(self, chunk: _Chunk, ggo: str) -> int:
        row = chunk.ggos.get(ggo)
        if row is not None:
            return int(row["amount_wh"])
        record = self.ledger.state(ggo)  # retired by the owner from a wallet elsewhere
        return int(record["amount"]) if record else 0

    def _spend(self, chunk: _Chunk, ggo: str, seq: int, action: str, to: list[str]) -> dict[str, Any] | None:
        row = chunk.ggos.get(ggo)
        if row is None:
            return None
        row.update(state={"TRANSFER": "transferred", "SPLIT": "split", "RETIRE": "retired"}[action], spent_seq=seq,
                   next=canonical({"action": action, "addresses": to}).decode(), operation=None)  # fmt: skip
        chunk.changed_ggos.add(ggo)
        return row

    def _receive(self, conn: Connection, chunk: _Chunk, seq: int, parent_address: str, parent: dict[str, Any] | None,
                 to: str, amount: int | None, signer: str) -> None:  # fmt: skip
        key = chunk.receive.get(to)
        if key is None:
            return
        if parent is None:  # from outside the service: the record tells what it is
            record = self.ledger.state(to) or {}
            fields = {"origin": record.get("origin", parent_address), "begin_s": parse_time(record["begin"]),
                      "end_s": parse_time(record["end"]), "amount_wh": record["amount"], "sector": record["sector"],
                      "tech_type": record["tech_type"], "fuel_type": record["fuel_type"]}  # fmt: skip
        else:
            fields = {k: parent[k] for k in ("begin_s", "end_s", "amount_wh", "sector", "tech_type", "fuel_type")}
            fields["origin"] = parent_address
        if amount is not None:
            fields["amount_wh"] = amount
        own = parent is not None and parent["account"] == key["account"]
        self._new_ggo(chunk, to, key["account"], "change" if own else "received", receive_path(key["n"]), seq, fields)
        chunk.used_receive[key["account"]] = max(chunk.used_receive.get(key["account"], -1), key["n"])
        conn.execute(update(db.receive_keys).where(db.receive_keys.c.address == to).values(used_seq=seq))

    def _new_ggo(self, chunk: _Chunk, address: str, account: str, source: str, path: str, seq: int,
                 fields: dict[str, Any]) -> None:  # fmt: skip
        chunk.ggos[address] = {"address": address, "account": account, "source": source, "key_path": path,
                               "state": "available", "next": None, "seq": seq, "spent_seq": None, "operation": None,
                               **fields}  # fmt: skip
        chunk.new_ggos.append(address)
        event = "ggo.issued" if source == "issued" else "ggo.received"
        if source != "change":
            chunk.events.append((account, event, {"ggo": address, "amount_wh": fields["amount_wh"], "seq": seq}))

    def _write(self, conn: Connection, chunk: _Chunk) -> None:
        new_m, new_g = set(chunk.new_measurements), set(chunk.new_ggos)
        if new_m:
            conn.execute(insert(db.measurements), [chunk.measurements[a] for a in chunk.new_measurements])
        if new_g:
            conn.execute(insert(db.ggos), [chunk.ggos[a] for a in chunk.new_ggos])
        for a in chunk.changed_measurements - new_m:
            conn.execute(update(db.measurements).where(db.measurements.c.address == a)
                         .values(retired_wh=chunk.measurements[a]["retired_wh"]))  # fmt: skip
        for a in chunk.changed_ggos - new_g:
            g = chunk.ggos[a]
            conn.execute(update(db.ggos).where(db.ggos.c.address == a).values(
                state=g["state"], next=g["next"], spent_seq=g["spent_seq"], operation=None))  # fmt: skip
        if chunk.retirements:
            conn.execute(insert(db.retirements), chunk.retirements)
        for account, n in sorted(chunk.used_receive.items()):  # in the accounts' order, as operations write them
            # A sender elsewhere used m/0'/n: the account's own next receive address comes after it.
            conn.execute(update(db.accounts).where(db.accounts.c.id == account, db.accounts.c.next_receive <= n)
                         .values(next_receive=n + 1))  # fmt: skip
            xpub = conn.execute(select(db.accounts.c.receive_xpub).where(db.accounts.c.id == account)).scalar_one()
            watch_receive(conn, account, xpub, n + 1 + RECEIVE_GAP)
        if chunk.events:
            self._record_events(conn, chunk.events)
        automated = {r.id for r in conn.execute(select(db.accounts.c.id).where(db.accounts.c.automation.is_(True)))}
        if automated:  # what arrived, and consumption published: the automation routes those periods
            arrived = [chunk.ggos[a] for a in chunk.new_ggos if chunk.ggos[a]["state"] == "available"]
            consumed = [
                chunk.measurements[a] for a in chunk.new_measurements if chunk.measurements[a]["type"] == "CONSUMPTION"
            ]
            enqueue_periods(conn, {(r["account"], r["begin_s"], r["end_s"], r["sector"]) for r in arrived + consumed
                                   if r["account"] in automated})  # fmt: skip
