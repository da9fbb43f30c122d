"""Operations on an account's GGOs: transfer (whole or part, to an account of this service or to
an external receive endpoint), split, retire, and compose (one GGO into transfers and
retirements, the rest back to the owner), each one atomic ledger batch signed with the GGOs' own
keys; and the bulk forms that choose the GGOs and make as many batches as needed.

An operation has an id and a status: PENDING until the ledger decides, then COMMITTED, or FAILED
with the ledger's code and message (or the service's own early refusal, with the same codes).
Its GGOs are reserved (`ggos.operation`) in the same database transaction that records the
operation and its batches' exact bytes, so two operations never pick the same GGO, and a service
killed after submitting finds the batches and learns their outcome on restart (the ledger applies
a batch at most once, so submitting it again is safe). A failed operation releases its GGOs.
"""

import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bip32 import BIP32
from sqlalchemy import and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from origin import database
from origin.accounts import db
from origin.accounts import wallets as wallets_
from origin.accounts.custody import Kek
from origin.accounts.inventory import RECEIVE_GAP, Event, Inventory, parse_path, receive_path, watch_receive
from origin.accounts.ledger import LedgerAlarm, LedgerClient, LedgerUnavailable
from origin.accounts.signers import HeldSigner, OwnerSigner, Signer, signed, to_sign
from origin.accounts.wallets import AccountError
from origin.protocol import addresses, wallet
from origin.protocol import transactions as tx
from origin.protocol.canonical import canonical, sha256_hex
from origin.protocol.limits import BATCH_BYTES_MAX, SQL_PARAMETERS_MAX
from origin.protocol.times import format_time

log = logging.getLogger("origin.accounts")
PENDING, COMMITTED, FAILED, UNSIGNED = "PENDING", "COMMITTED", "FAILED", "UNSIGNED"
OPEN = (PENDING, UNSIGNED)  # not decided yet: its GGOs stay reserved
SYNC_BATCHES_MAX = 4  # an operation of more batches runs in the background; the caller polls it
PROBES_MAX = 100  # external receive indices tried (one ledger read each) before giving up
PARTS_MAX = 256
PLAN_ATTEMPTS = 5  # plans made again when other operations handed out the same receive indices meanwhile


@dataclass(frozen=True)
class Endpoint:
    """An external receiver: the xpub of its m/0' and where to tell it (optional)."""

    xpub: str
    notify_url: str | None = None


Receiver = str | Endpoint  # an account id of this service, or an external endpoint


@dataclass(frozen=True)
class Leg:
    """One part of a compose: `amount_wh` transferred to `to`, or retired (to `measurement`, or
    to the account's consumption measurement of the GGO's period when None)."""

    amount_wh: int
    to: Receiver | None = None
    measurement: str | None = None


@dataclass
class _Counter:
    """An account's next receive index, counted in memory while a plan is made and written once
    when it is done, on condition that nobody moved it meanwhile (else the plan is made again)."""

    first: int
    next: int
    xpub: str
    view: BIP32


@dataclass
class _Plan:
    """What an operation will do: its units (each a batch's worth, never cut), the GGOs it
    reserves, the receivers to tell."""

    units: list[list[dict[str, Any]]] = field(default_factory=list)
    reserved: list[str] = field(default_factory=list)
    notify: list[dict[str, Any]] = field(default_factory=list)
    recorded: list[Callable[[Connection, str], None]] = field(default_factory=list)  # run with the operation's id
    known: dict[str, dict[str, Any]] = field(default_factory=dict)  # GGO rows read in this transaction
    pending: dict[str, int] | None = None  # Wh retiring per measurement: open operations', then this plan's too
    receive: dict[str, _Counter] = field(default_factory=dict)  # receive indices handed out, by account


class _Moved(Exception):
    """Another transaction handed out receive indices of the account meanwhile."""


def refuse(code: str, message: str, status: int = 422) -> AccountError:
    return AccountError(message, status, code)


_GGO = select(db.ggos).where(db.ggos.c.address == bindparam("address"), db.ggos.c.account == bindparam("account"))
_MEASUREMENT = select(db.measurements).where(db.measurements.c.address == bindparam("address"),
                                             db.measurements.c.account == bindparam("account"))  # fmt: skip


def _usable(row: Any, account: str, address: str, now_s: int, lifetime_s: int) -> dict[str, Any]:
    """The GGO's row if the account may spend it now; else the refusal saying why."""
    if row is None or row["account"] != account:
        raise refuse("not_found", f"the account holds no GGO {address}", 404)
    if row["state"] != "available":
        raise refuse("already_used", f"GGO {address} is {row['state']} already", 409)
    if row["operation"] is not None:
        raise refuse("reserved", f"GGO {address} is reserved by operation {row['operation']} until its outcome", 409)
    if now_s >= row["end_s"] + lifetime_s:
        raise refuse("expired", f"GGO {address} expired: its period ended over the ledger's GGO lifetime ago")
    return dict(row)


class Operations:
    def __init__(self, engine: Engine, kek: Kek, ledger: LedgerClient, inventory: Inventory,
                 notify: Callable[[str, dict[str, Any]], None], record: Callable[[Connection, list[Event]], None],
                 clock: Callable[[], float]):  # fmt: skip
        self.engine, self.kek, self.ledger, self.inventory = engine, kek, ledger, inventory
        self._notify, self._record_events, self.clock = notify, record, clock
        self._driving: set[str] = set()
        self._driving_lock = threading.Lock()

    # -- requests -------------------------------------------------------------------------------

    def compose(self, account: str, ggo: str, legs: list[Leg], idempotency_key: str | None = None,
                kind: str = "compose", request: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        """One GGO into transfers and retirements, the rest back to the owner: one batch."""
        request = request or {"ggo": ggo, "legs": [_leg_json(leg) for leg in legs]}

        def plan(conn: Connection, w: Signer, now_s: int) -> _Plan:
            p = _Plan()
            self._compose_unit(conn, w, account, ggo, legs, now_s, p)
            return p

        return self._run(account, kind, request, idempotency_key, plan)

    def transfer(self, account: str, ggo: str, to: Receiver, amount_wh: int | None = None,
                 idempotency_key: str | None = None) -> dict[str, Any]:  # fmt: skip
        request = {"ggo": ggo, "to": _receiver_json(to), "amount_wh": amount_wh}
        amount = amount_wh if amount_wh is not None else self._amount(account, ggo)
        return self.compose(account, ggo, [Leg(amount, to=to)], idempotency_key, "transfer", request)

    def retire(self, account: str, ggo: str, measurement: str | None = None, amount_wh: int | None = None,
               idempotency_key: str | None = None) -> dict[str, Any]:  # fmt: skip
        request = {"ggo": ggo, "measurement": measurement, "amount_wh": amount_wh}
        amount = amount_wh if amount_wh is not None else self._amount(account, ggo)
        return self.compose(account, ggo, [Leg(amount, measurement=measurement or "")], idempotency_key, "retire",
                            request)  # fmt: skip

    def split(self, account: str, ggo: str, amounts: list[int], idempotency_key: str | None = None) -> dict[str, Any]:
        """Split into parts of these amounts, each at a fresh address of the account's own."""
        return self.compose(account, ggo, [Leg(a, to=account) for a in amounts], idempotency_key, "split",
                            {"ggo": ggo, "amounts": amounts})  # fmt: skip

    def transfer_hourly(self, account: str, to: Receiver, amount_wh: int, begin_s: int, end_s: int,
                        idempotency_key: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Transfer `amount_wh` of each period in [begin, end) that the account holds GGOs of
        (as much as it holds, where it holds less), choosing the GGOs."""
        if amount_wh < 1:
            raise refuse("invalid_amount", "amount_wh must be at least 1")
        request = {"to": _receiver_json(to), "amount_wh": amount_wh, "begin": format_time(begin_s),
                   "end": format_time(end_s)}  # fmt: skip

        def plan(conn: Connection, w: Signer, now_s: int) -> _Plan:
            p = _Plan()
            for _, rows in self._available_by_period(conn, account, begin_s, end_s, now_s):
                wanted = amount_wh
                for row in rows:
                    if wanted == 0:
                        break
                    take = min(wanted, row["amount_wh"])
                    p.known[row["address"]] = row
                    self._compose_unit(conn, w, account, row["address"], [Leg(take, to=to)], now_s, p)
                    wanted -= take
            return p

        return self._run(account, "bulk_transfer", request, idempotency_key, plan)

    def retire_period(self, account: str, begin_s: int, end_s: int,
                      idempotency_key: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Retire what the account holds against its consumption of [begin, end), period by
        period, as far as each consumption measurement has room."""
        request = {"begin": format_time(begin_s), "end": format_time(end_s)}

        def plan(conn: Connection, w: Signer, now_s: int) -> _Plan:
            p = _Plan()
            m = db.measurements.c
            rooms: dict[tuple[int, int, str], list[list[Any]]] = {}
            pending = self._pending(conn, p)
            for row in conn.execute(select(db.measurements).where(
                    m.account == account, m.type == tx.CONSUMPTION, m.begin_s >= begin_s, m.end_s <= end_s,
                    m.amount_wh > m.retired_wh).order_by(m.begin_s, m.address)).mappings():  # fmt: skip
                room = row["amount_wh"] - row["retired_wh"] - pending.get(row["address"], 0)
                if room > 0:
                    rooms.setdefault((row["begin_s"], row["end_s"], row["sector"]), []).append([row["address"], room])
            for key, ggos in self._available_by_period(conn, account, begin_s, end_s, now_s):
                left_rooms = rooms.get(key, [])
                for ggo in ggos:
                    legs, left = [], ggo["amount_wh"]
                    while left and left_rooms:
                        take = min(left, left_rooms[0][1])
                        legs.append(Leg(take, measurement=left_rooms[0][0]))
                        left -= take
                        left_rooms[0][1] -= take
                        if left_rooms[0][1] == 0:
                            left_rooms.pop(0)
                    if legs:
                        p.known[ggo["address"]] = ggo
                        self._compose_unit(conn, w, account, ggo["address"], legs, now_s, p)
            return p

        return self._run(account, "bulk_retire", request, idempotency_key, plan)

    def route(self, account: str, kind: str, request: dict[str, Any],
              choose: Callable[[Connection, int, dict[str, int]],
                               tuple[list[tuple[dict[str, Any], list[Leg]]], Callable[[Connection, str], None]]],
              ) -> dict[str, Any]:  # fmt: skip
        """An operation whose GGOs (their rows) and legs `choose` picks, in the operation's own
        transaction (so the reads that pick them see every reservation before it), given the Wh
        that open operations retire against each measurement; what `choose` also returns is run
        there with the operation's id (to record what it was for)."""

        def plan(conn: Connection, w: Signer, now_s: int) -> _Plan:
            p = _Plan()
            chosen, record = choose(conn, now_s, dict(self._pending(conn, p)))
            for row, legs in chosen:
                p.known[row["address"]] = row
                self._compose_unit(conn, w, account, row["address"], legs, now_s, p)
            p.recorded.append(record)
            return p

        return self._run(account, kind, request, None, plan)

    # -- planning -------------------------------------------------------------------------------

    def _amount(self, account: str, ggo: str) -> int:
        with self.engine.connect() as conn:
            amount = conn.execute(select(db.ggos.c.amount_wh).where(db.ggos.c.address == ggo,
                                                                   db.ggos.c.account == account)).scalar()  # fmt: skip
        if amount is None:
            raise refuse("not_found", f"the account holds no GGO {ggo}", 404)
        return int(amount)

    def _available_by_period(self, conn: Connection, account: str, begin_s: int, end_s: int,
                             now_s: int) -> Iterator[tuple[tuple[int, int, str], list[dict[str, Any]]]]:  # fmt: skip
        lifetime = self.ledger.config().ggo_lifetime_s
        rows = conn.execute(select(db.ggos).where(
            db.ggos.c.account == account, db.ggos.c.state == "available", db.ggos.c.operation.is_(None),
            db.ggos.c.begin_s >= begin_s, db.ggos.c.end_s <= end_s, db.ggos.c.end_s + lifetime > now_s,
        ).order_by(db.ggos.c.begin_s, db.ggos.c.sector, db.ggos.c.amount_wh.desc(), db.ggos.c.address)).mappings()  # fmt: skip
        groups: dict[tuple[int, int, str], list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault((r["begin_s"], r["end_s"], r["sector"]), []).append(dict(r))
        yield from groups.items()

    @staticmethod
    def _pending(conn: Connection, plan: _Plan) -> dict[str, int]:
        """Wh that operations will retire against each measurement beyond what the inventory
        shows: those still open, and those committed past the inventory's position (read once a
        plan, before the measurements; the plan's own retirements are added as it makes them)."""
        if plan.pending is None:
            plan.pending = {}
            applied = conn.execute(select(db.follower.c.size)).scalar() or 0
            unapplied = select(db.operation_batches.c.operation).where(db.operation_batches.c.seq >= applied)
            for (effects,) in conn.execute(select(db.operations.c.effects).where(
                    or_(db.operations.c.status.in_(OPEN), db.operations.c.id.in_(unapplied)))):  # fmt: skip
                for measurement, wh in json.loads(effects or "{}").get("retire", {}).items():
                    plan.pending[measurement] = plan.pending.get(measurement, 0) + wh
        return plan.pending

    def _compose_unit(self, conn: Connection, w: Signer, account: str, ggo: str, legs: list[Leg], now_s: int,
                      plan: _Plan) -> None:  # fmt: skip
        config = self.ledger.config()
        known = plan.known.get(ggo)
        found = (
            known if known is not None else conn.execute(_GGO, {"address": ggo, "account": account}).mappings().first()
        )
        row = _usable(found, account, ggo, now_s, config.ggo_lifetime_s)
        if not legs or len(legs) + 1 > PARTS_MAX:
            raise refuse("invalid_parts", f"an operation on one GGO has 1 to {PARTS_MAX - 1} parts")
        if any(leg.amount_wh < 1 for leg in legs):
            raise refuse("invalid_amount", "every amount is at least 1 Wh")
        total = sum(leg.amount_wh for leg in legs)
        if total > row["amount_wh"]:
            raise refuse("invalid_amount", f"the parts add up to {total} Wh; the GGO holds {row['amount_wh']} Wh")
        settlements = [self._settlement_for(conn, account, row, leg, plan) if leg.to is None else None for leg in legs]
        ggo_key = parse_path(row["key_path"])
        plan.reserved.append(ggo)
        unit: list[dict[str, Any]] = []
        if len(legs) == 1 and total == row["amount_wh"]:
            leg, settled = legs[0], settlements[0]
            if settled is None:
                to = self._address_for(conn, leg.to, plan, row)
                unit.append(w.transaction("transfer_ggo", ggo_key, {"ggo": ggo, "to": to}))
            else:
                unit += self._retirement(w, ggo_key, ggo, settled)
            plan.units.append(unit)
            return
        parts: list[tuple[str, int]] = []
        retiring: list[tuple[str, list[int], dict[str, Any]]] = []
        for leg, settled in zip(legs, settlements, strict=True):
            if settled is None:
                parts.append((self._address_for(conn, leg.to, plan, row), leg.amount_wh))
            else:
                n, address = self._own_address(conn, account, plan)
                parts.append((address, leg.amount_wh))
                retiring.append((address, parse_path(receive_path(n)), settled))
        if total < row["amount_wh"]:
            parts.append((self._own_address(conn, account, plan)[1], row["amount_wh"] - total))
        unit.append(w.transaction("split_ggo", ggo_key, {"ggo": ggo, "parts": [{"address": a, "amount": n}
                                                                               for a, n in parts]}))  # fmt: skip
        for address, key, settled in retiring:
            unit += self._retirement(w, key, address, settled)
        plan.units.append(unit)

    def _settlement_for(self, conn: Connection, account: str, ggo: dict[str, Any], leg: Leg,
                        plan: _Plan) -> dict[str, Any]:  # fmt: skip
        """The consumption measurement a retirement goes to, checked as the ledger will (with
        what open operations and this plan retire against it already)."""
        if leg.measurement:
            m = conn.execute(_MEASUREMENT, {"address": leg.measurement, "account": account}).mappings().first()
            if m is None:
                raise refuse("not_found", f"the account has no measurement {leg.measurement}", 404)
        else:
            query = select(db.measurements).where(db.measurements.c.account == account)
            m = conn.execute(query.where(db.measurements.c.type == tx.CONSUMPTION,
                                         db.measurements.c.begin_s == ggo["begin_s"],
                                         db.measurements.c.end_s == ggo["end_s"],
                                         db.measurements.c.sector == ggo["sector"])
                             .order_by((db.measurements.c.amount_wh - db.measurements.c.retired_wh).desc(),
                                       db.measurements.c.address)).mappings().first()  # fmt: skip
            if m is None:
                raise refuse("not_found", f"the account has no consumption measurement of GGO {ggo['address']}'s "
                                          "period and sector to retire it to", 404)  # fmt: skip
        if m["type"] != tx.CONSUMPTION:
            raise refuse("not_consumption", f"measurement {m['address']} is production; GGOs retire to consumption")
        if (m["begin_s"], m["end_s"]) != (ggo["begin_s"], ggo["end_s"]):
            raise refuse("period_mismatch", "a GGO retires only to a consumption measurement of its own period")
        if m["sector"] != ggo["sector"]:
            raise refuse("sector_mismatch", f"the GGO is of {ggo['sector']}, the consumption of {m['sector']}")
        pending = self._pending(conn, plan)
        left = m["amount_wh"] - m["retired_wh"] - pending.get(m["address"], 0)
        if leg.amount_wh > left:
            raise refuse("over_retired", f"measurement {m['address']} has {max(left, 0)} Wh left to retire against, "
                                         f"not {leg.amount_wh}")  # fmt: skip
        pending[m["address"]] = pending.get(m["address"], 0) + leg.amount_wh
        return {"measurement": m["address"], "key": parse_path(f"1'/{m['meter']}'/{wallet.minute_index(m['begin_s'])}"),
                "amount_wh": leg.amount_wh}  # fmt: skip

    def _retirement(self, w: Signer, ggo_key: list[int], ggo: str, settled: dict[str, Any]) -> list[dict[str, Any]]:
        settlement = addresses.in_namespace(addresses.SETTLEMENT, settled["measurement"])
        return [w.transaction("retire_ggo", ggo_key, {"ggo": ggo, "settlement": settlement}),
                w.transaction("update_settlement", settled["key"], {"settlement": settlement,
                                                                     "measurement": settled["measurement"], "ggos": [ggo]})]  # fmt: skip

    @staticmethod
    def _own_address(conn: Connection, account: str, plan: _Plan) -> tuple[int, str]:
        """A fresh receive address m/0'/n of an account of this service's, never handed out
        before."""
        counter = plan.receive.get(account)
        if counter is None:
            row = conn.execute(select(db.accounts.c.next_receive, db.accounts.c.receive_xpub)
                               .where(db.accounts.c.id == account)).first()  # fmt: skip
            if row is None:
                raise refuse("not_found", f"no account {account} at this service", 404)
            counter = plan.receive[account] = _Counter(row.next_receive, row.next_receive, row.receive_xpub,
                                                       BIP32.from_xpub(row.receive_xpub))  # fmt: skip
        n = counter.next
        counter.next += 1
        return n, wallet.receive_address(counter.view, n)

    @staticmethod
    def _handed_out(conn: Connection, plan: _Plan) -> None:
        """Write back the receive indices the plan handed out, and watch the addresses past them.
        Rows are written in the accounts' order (so two plans never wait for each other in a
        circle), each only if its index is still where the plan read it."""
        for account, counter in sorted(plan.receive.items()):
            if conn.execute(update(db.accounts).where(db.accounts.c.id == account,
                                                      db.accounts.c.next_receive == counter.first)
                            .values(next_receive=counter.next)).rowcount != 1:  # fmt: skip
                raise _Moved(account)
            watch_receive(conn, account, counter.xpub, counter.next + RECEIVE_GAP)

    def _address_for(self, conn: Connection, to: Receiver | None, plan: _Plan, ggo: dict[str, Any]) -> str:
        if isinstance(to, str):
            return self._own_address(conn, to, plan)[1]
        assert to is not None, "a transfer has a receiver"
        n, address = self._external_address(conn, to.xpub)
        if to.notify_url:
            plan.notify.append({"url": to.notify_url, "ggo": address, "index": n, "amount_wh": ggo["amount_wh"]})
        return address

    def _external_address(self, conn: Connection, xpub: str) -> tuple[int, str]:
        """The next receive address of an external endpoint that is empty on the ledger."""
        try:
            view = BIP32.from_xpub(xpub)
        except Exception:  # the library raises several kinds for a bad encoding
            raise refuse("invalid_receiver", "the receive endpoint's xpub is not a BIP32 extended public key") from None
        start = conn.execute(select(db.sent_indices.c.next_index).where(db.sent_indices.c.xpub == xpub)).scalar()
        first = int(start or 0)
        for n in range(first, first + PROBES_MAX):
            address = wallet.receive_address(view, n)
            if self.ledger.state(address) is None:
                break
        else:
            raise refuse("invalid_receiver", f"the endpoint's next {PROBES_MAX} receive addresses are all used")
        if start is None:
            conn.execute(insert(db.sent_indices).values(xpub=xpub, next_index=n + 1))
        else:
            conn.execute(update(db.sent_indices).where(db.sent_indices.c.xpub == xpub).values(next_index=n + 1))
        return n, address

    # -- running --------------------------------------------------------------------------------

    def _run(self, account: str, kind: str, request: dict[str, Any], idempotency_key: str | None,
             plan: Callable[[Connection, Signer, int], _Plan]) -> dict[str, Any]:  # fmt: skip
        request_hash = sha256_hex(canonical({"kind": kind, "request": request}))
        if idempotency_key is not None:
            found = self._by_key(account, idempotency_key, request_hash)
            if found is not None:
                return found
        signer = self._signer(account)
        held = isinstance(signer, HeldSigner)
        now_s = int(self.clock())
        op = "op_" + secrets.token_hex(10)
        row = {"id": op, "account": account, "kind": kind, "status": PENDING if held else UNSIGNED,
               "request": json.dumps(request, sort_keys=True), "request_hash": request_hash,
               "idempotency_key": idempotency_key, "created_s": now_s, "updated_s": now_s}  # fmt: skip
        for attempt in range(1, PLAN_ATTEMPTS + 1):
            try:
                batches = self._record(row, signer, plan)
                break
            except _Moved:
                if attempt == PLAN_ATTEMPTS:
                    raise refuse("busy", "other operations kept taking the same receive addresses: try again",
                                 503) from None  # fmt: skip
            except IntegrityError:
                if idempotency_key is not None:
                    found = self._by_key(account, idempotency_key, request_hash)
                    if found is not None:
                        return found
                raise
        if not held:
            return self.get(account, op)
        self._start(op, batches)
        return self.get(account, op)

    def _record(self, row: dict[str, Any], signer: Signer, plan: Callable[[Connection, Signer, int], _Plan]) -> int:
        """The operation, its plan's batches and reservations in one database transaction; how
        many batches."""
        op, held = row["id"], isinstance(signer, HeldSigner)
        with database.writes(self.engine) as conn:
            # The operation's row is written first: on SQLite it takes the write lock of the
            # database, so the reads that choose GGOs below see every earlier reservation.
            conn.execute(insert(db.operations).values(row))
            p = plan(conn, signer, row["created_s"])
            if not p.units:
                raise refuse("nothing_to_do", "no GGOs match: nothing was done")
            self._handed_out(conn, p)
            self._reserve(conn, row["account"], op, p.reserved)
            for record in p.recorded:
                record(conn, op)
            batches = [[t for i in group for t in p.units[i]] for group in _groups(p.units)]
            conn.execute(insert(db.operation_batches), [_batch_row(op, n, txs, held) for n, txs in enumerate(batches)])
            effects = {"notify": p.notify, "retire": _retiring(p.units, self._amounts(conn, p.reserved))}
            conn.execute(update(db.operations).where(db.operations.c.id == op).values(effects=json.dumps(effects)))
        return len(batches)

    def _signer(self, account: str) -> Signer:
        ledger = self.ledger.config().ledger
        with self.engine.connect() as conn:
            found = wallets_.get(conn, account)
            if found.custody == wallets_.SELF:  # the owner signs: the service needs only the xpubs
                meters = {r.idx: r.xpub for r in conn.execute(select(db.meters.c.idx, db.meters.c.xpub)
                                                              .where(db.meters.c.account == account))}  # fmt: skip
                return OwnerSigner(ledger, meters, found.receive_xpub)
        return HeldSigner(ledger, wallets_.wallet(self.engine, self.kek, account))

    def sign(self, account: str, op: str, signatures: list[str]) -> dict[str, Any]:
        """The owner's signatures for a self-custody operation's transactions, in the order
        `to_sign` lists them: checked, then the batches go to the ledger."""
        with self.engine.connect() as conn:
            row = conn.execute(select(db.operations.c.status).where(db.operations.c.id == op,
                                                                    db.operations.c.account == account)).first()  # fmt: skip
            if row is None:
                raise refuse("not_found", f"no operation {op}", 404)
            if row.status != UNSIGNED:
                raise refuse("not_unsigned", f"operation {op} is {row.status}: it waits for no signature", 409)
            prepared = [json.loads(b.body) for b in conn.execute(
                select(db.operation_batches.c.body).where(db.operation_batches.c.operation == op)
                .order_by(db.operation_batches.c.n))]  # fmt: skip
        count = sum(len(b) for b in prepared)
        if len(signatures) != count:
            raise refuse("invalid_signatures", f"operation {op} needs {count} signatures, in to_sign's order; "
                                               f"{len(signatures)} were given", 400)  # fmt: skip
        batches, given = [], iter(signatures)
        for txs in prepared:
            done = []
            for t in txs:
                s = signed(t, next(given))
                if s is None:
                    raise refuse("bad_signature", f"the signature for {t['path']} ({t['type']}) does not verify "
                                                  "over its digest with its public key")  # fmt: skip
                done.append(s)
            batches.append(done)
        with database.writes(self.engine) as conn:
            if conn.execute(update(db.operations).where(db.operations.c.id == op, db.operations.c.status == UNSIGNED)
                            .values(status=PENDING, updated_s=int(self.clock()))).rowcount != 1:  # fmt: skip
                raise refuse("not_unsigned", f"operation {op} was signed or cancelled meanwhile", 409)
            conn.execute(delete(db.operation_batches).where(db.operation_batches.c.operation == op))
            conn.execute(insert(db.operation_batches), [_batch_row(op, n, txs, True) for n, txs in enumerate(batches)])
        self._start(op, len(batches))
        return self.get(account, op)

    @staticmethod
    def _amounts(conn: Connection, ggos: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for i in range(0, len(ggos), SQL_PARAMETERS_MAX):
            query = select(db.ggos.c.address, db.ggos.c.amount_wh).where(
                db.ggos.c.address.in_(ggos[i : i + SQL_PARAMETERS_MAX])
            )
            found.update({r.address: int(r.amount_wh) for r in conn.execute(query)})
        return found

    def _reserve(self, conn: Connection, account: str, op: str, reserved: list[str]) -> None:
        if len(set(reserved)) != len(reserved):
            raise refuse("duplicate_address", "an operation uses each GGO once")
        for i in range(0, len(reserved), 500):
            part = reserved[i : i + 500]
            taken = conn.execute(update(db.ggos).where(
                db.ggos.c.address.in_(part), db.ggos.c.account == account, db.ggos.c.state == "available",
                db.ggos.c.operation.is_(None)).values(operation=op)).rowcount  # fmt: skip
            if taken != len(part):
                raise refuse("reserved", "another operation took one of these GGOs first; list them again", 409)

    def _by_key(self, account: str, key: str, request_hash: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(db.operations.c.id, db.operations.c.request_hash).where(
                db.operations.c.account == account, db.operations.c.idempotency_key == key)).first()  # fmt: skip
        if row is None:
            return None
        if row.request_hash != request_hash:
            raise refuse("idempotency_key_reused", f"Idempotency-Key {key!r} was used for another request", 409)
        return self.get(account, row.id)

    def _start(self, op: str, batches: int) -> None:
        """Drive the operation now, the caller waiting for its outcome; one of more than
        SYNC_BATCHES_MAX batches in the background (the caller polls it, batch by batch)."""
        if batches <= SYNC_BATCHES_MAX:
            self.drive(op)
        else:
            threading.Thread(target=self.drive, args=(op,), name=f"drive-{op}", daemon=True).start()

    def drive(self, op: str) -> None:
        """Submit the operation's pending batches in order and record what the ledger decides.
        The ledger unreachable: the operation stays PENDING, to be driven again. One driver per
        operation at a time."""
        with self._driving_lock:
            if op in self._driving:
                return
            self._driving.add(op)
        try:
            self._drive(op)
        finally:
            with self._driving_lock:
                self._driving.discard(op)

    def _drive(self, op: str) -> None:
        with self.engine.connect() as conn:
            batches = conn.execute(select(db.operation_batches).where(db.operation_batches.c.operation == op)
                                   .order_by(db.operation_batches.c.n)).mappings().fetchall()  # fmt: skip
        seq = 0
        for b in batches:
            if b["status"] == COMMITTED:
                seq = max(seq, b["seq"])
                continue
            try:
                outcome = self.ledger.submit(b["body"])
            except LedgerUnavailable as exc:
                log.warning("operation %s waits for the ledger: %s", op, exc)
                return
            if outcome["status"] == "INVALID":
                self._fail(op, b["n"], len(batches), outcome["error"])
                return
            if outcome["status"] != COMMITTED:  # PENDING: the ledger has it queued; ask again later
                return
            seq, tell = max(seq, outcome["seq"]), []
            with database.writes(self.engine) as conn:
                conn.execute(update(db.operation_batches).where(db.operation_batches.c.id == b["id"])
                             .values(status=COMMITTED, seq=outcome["seq"]))  # fmt: skip
                if b["n"] == len(batches) - 1:
                    tell = self._complete(conn, op)
            for url, payload in tell:  # after the commit: a receiver finds the GGO on the ledger anyway
                self._notify(url, payload)
        try:  # the inventory shows it now (the follower would, in a moment); one follow serves many
            self.inventory.follow(until=seq + 1)
        except (LedgerUnavailable, LedgerAlarm) as exc:
            log.warning("operation %s committed; the inventory follows when the ledger answers: %s", op, exc)

    def _fail(self, op: str, n: int, count: int, error: dict[str, Any]) -> None:
        message = error.get("message", "")
        if count > 1:
            message = f"batch {n + 1} of {count} was refused (those before it committed): {message}"
        if "transaction" in error:
            message += f" (transaction {error['transaction']})"
        with database.writes(self.engine) as conn:
            conn.execute(update(db.operations).where(db.operations.c.id == op).values(
                status=FAILED, error_code=error.get("code", "invalid_batch"), error_message=message,
                updated_s=int(self.clock())))  # fmt: skip
            conn.execute(update(db.operation_batches).where(db.operation_batches.c.operation == op,
                                                            db.operation_batches.c.status == PENDING)
                         .values(status="INVALID"))  # fmt: skip
            conn.execute(update(db.ggos).where(db.ggos.c.operation == op).values(operation=None))
            self._completed_event(conn, op)

    def _complete(self, conn: Connection, op: str) -> list[tuple[str, dict[str, Any]]]:
        """Every batch committed: so is the operation. The receivers to tell, and what."""
        row = conn.execute(select(db.operations).where(db.operations.c.id == op)).mappings().one()
        if row["status"] != PENDING:
            return []
        conn.execute(update(db.operations).where(db.operations.c.id == op).values(
            status=COMMITTED, updated_s=int(self.clock())))  # fmt: skip
        self._completed_event(conn, op)
        ledger = self.ledger.config().ledger
        return [(item["url"], {"event": "ggo.sent", "ledger": ledger, "ggo": item["ggo"], "index": item["index"]})
                for item in json.loads(row["effects"] or "{}").get("notify", [])]  # fmt: skip

    def _completed_event(self, conn: Connection, op: str) -> None:
        row = conn.execute(select(db.operations).where(db.operations.c.id == op)).mappings().one()
        self._record_events(conn, [(row["account"], "operation.completed", _public(row, []))])

    def resume(self) -> int:
        """Drive every operation still PENDING (after a restart, or the ledger back); how many."""
        with self.engine.connect() as conn:
            pending = [r.id for r in conn.execute(select(db.operations.c.id).where(db.operations.c.status == PENDING)
                                                  .order_by(db.operations.c.created_s))]  # fmt: skip
        for op in pending:
            self.drive(op)
        return len(pending)

    # -- reading --------------------------------------------------------------------------------

    def get(self, account: str, op: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(db.operations).where(db.operations.c.id == op, db.operations.c.account == account,
                                                           db.operations.c.dismissed.is_(False))).mappings().first()  # fmt: skip
            if row is None:
                raise refuse("not_found", f"no operation {op}", 404)
            batches = conn.execute(select(db.operation_batches).where(db.operation_batches.c.operation == op)
                                   .order_by(db.operation_batches.c.n)).mappings().fetchall()  # fmt: skip
        found = _public(row, [{k: b[k] for k in ("id", "status", "seq")} for b in batches])
        if row["status"] == UNSIGNED:
            found["to_sign"] = [to_sign(t) for b in batches for t in json.loads(b["body"])]
        return found

    def listed(self, account: str, status: str | None, after: str, limit: int) -> list[dict[str, Any]]:
        query = select(db.operations).where(db.operations.c.account == account, db.operations.c.dismissed.is_(False),
                                            db.operations.c.id > after)  # fmt: skip
        if status:
            query = query.where(db.operations.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(db.operations.c.id).limit(limit)).mappings().fetchall()
        return [_public(r, None) for r in rows]

    def dismiss(self, account: str, op: str) -> None:
        """The owner has seen a finished operation: it leaves the lists (its effect stays). An
        operation still waiting for the owner's signatures is cancelled, and its GGOs released."""
        with database.writes(self.engine) as conn:
            cancelled = conn.execute(update(db.operations).where(
                db.operations.c.id == op, db.operations.c.account == account, db.operations.c.status == UNSIGNED,
            ).values(status=FAILED, error_code="cancelled", error_message="cancelled by the owner before signing",
                     dismissed=True, updated_s=int(self.clock()))).rowcount  # fmt: skip
            if cancelled:
                conn.execute(update(db.ggos).where(db.ggos.c.operation == op).values(operation=None))
                return
            done = conn.execute(update(db.operations).where(and_(
                db.operations.c.id == op, db.operations.c.account == account,
                db.operations.c.status != PENDING)).values(dismissed=True)).rowcount  # fmt: skip
        if not done:
            raise refuse("not_found", f"no finished operation {op} (a pending one cannot be dismissed)", 404)


def _public(row: Any, batches: list[dict[str, Any]] | None) -> dict[str, Any]:
    error = None if row["status"] != FAILED else {"code": row["error_code"], "message": row["error_message"]}
    out = {"id": row["id"], "kind": row["kind"], "status": row["status"], "error": error,
           "request": json.loads(row["request"]), "created_s": row["created_s"], "updated_s": row["updated_s"]}  # fmt: skip
    if batches is not None:
        out["batches"] = batches
    return out


def _groups(units: list[list[dict[str, Any]]]) -> list[list[int]]:
    """The units (by index) in batches of PROTOCOL.md's size, a unit never cut; sized as signed
    (a prepared transaction's signature is still to come: 128 hex characters)."""
    packer, groups, group = tx.BatchPacker(), [], list[int]()
    for i, unit in enumerate(units):
        sized = [{k: v for k, v in t.items() if k != "path"} | {"signature": "0" * 128} for t in unit]
        if not packer.add(sized):
            groups.append(group)
            packer, group = tx.BatchPacker(), []
            packer.add(sized)
        group.append(i)
        if packer.size > BATCH_BYTES_MAX:
            raise refuse("invalid_batch", f"one GGO's transactions are over a batch's {BATCH_BYTES_MAX} bytes: "
                                          "use fewer parts")  # fmt: skip
    groups.append(group)
    return groups


def _batch_row(op: str, n: int, txs: list[dict[str, Any]], signed_: bool) -> dict[str, Any]:
    """A batch as the database keeps it: signed, by its ledger id and exact bytes; prepared for
    the owner to sign, as its transactions' JSON under a stand-in id."""
    if signed_:
        body = canonical(tx.batch(*txs))
        return {"id": sha256_hex(body), "operation": op, "n": n, "body": body, "status": PENDING}
    return {"id": f"unsigned-{op}-{n}", "operation": op, "n": n, "body": json.dumps(txs).encode(), "status": UNSIGNED}


def _retiring(units: list[list[dict[str, Any]]], amounts: dict[str, int]) -> dict[str, int]:
    """Wh each consumption measurement gets retired against by these units."""
    for unit in units:
        for t in unit:
            if t["type"] == "split_ggo":
                amounts.update({q["address"]: q["amount"] for q in t["payload"]["parts"]})
    retiring: dict[str, int] = {}
    for unit in units:
        for t in unit:
            if t["type"] == "update_settlement":
                m = t["payload"]["measurement"]
                retiring[m] = retiring.get(m, 0) + sum(amounts[g] for g in t["payload"]["ggos"])
    return retiring


def _receiver_json(to: Receiver | None) -> Any:
    return to if isinstance(to, str) or to is None else {"xpub": to.xpub, "notify_url": to.notify_url}


def _leg_json(leg: Leg) -> dict[str, Any]:
    return {"amount_wh": leg.amount_wh, "to": _receiver_json(leg.to), "measurement": leg.measurement}
