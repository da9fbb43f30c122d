"""Transfer agreements and automatic routing.

An agreement sends GGOs from a sender's account to a receiver (an account of this service, or
an external receive endpoint) over a period (open-ended allowed), for some sectors and
technologies, by an amount rule each hour: a cap in Wh, a percentage of the sender's production
of that hour, or "up to the receiver's unmatched consumption" of the period. Either side of two
accounts proposes; the other accepts or declines; the proposer may withdraw a proposal, and
either side cancel an accepted agreement; a proposal not answered in 14 days expires. One to an
external endpoint is the sender's standing order: in force at once (the endpoint cannot answer).

An account with automation on has its periods queued by the inventory whenever a GGO arrives or
a consumption measurement is published (either may come first, hours apart), and by a "back in
time" request. A run takes the account's queued periods, and for each one retires its available
GGOs of the same sector and period against its unmatched consumption (meters in retire-priority
order), then serves its outbound agreements in priority order, all as one operation of as few
batches as the protocol's size allows. It reads and reserves in the operation's own transaction,
so a manual operation racing it never gets the same GGO (the later one is refused early and
tried again next run), and a restart loses nothing: the queue rows go in that same transaction.
"""

import concurrent.futures
import functools
import json
import re
import secrets
from collections.abc import Callable
from typing import Any

from bip32 import BIP32
from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from origin import database
from origin.accounts import db
from origin.accounts.inventory import Event, enqueue_periods
from origin.accounts.operations import FAILED, OPEN, Endpoint, Leg, Operations, Receiver, refuse
from origin.accounts.wallets import AccountError
from origin.protocol.transactions import CONSUMPTION, PRODUCTION

PROPOSAL_LIFETIME_S = 14 * 86400
RULES = ("cap", "percent", "unmatched")
PERIODS_PER_RUN = 500  # queued periods one run takes (the rest, the next run)
RUNS_AT_ONCE = 4  # accounts' runs under way together
HOUR_S = 3600
WAITS = "waits: "  # a run's outcome when a manual operation reserved a GGO first
_TECHNOLOGY = re.compile(r"^T\d{6}$")


def _agreement_out(row: Any, transferred_wh: int) -> dict[str, Any]:
    return {"id": row["id"], "sender": row["sender"], "receiver": row["receiver"],
            "receiver_xpub": row["receiver_xpub"], "proposed_by": row["proposed_by"], "status": row["status"],
            "begin_s": row["begin_s"], "end_s": row["end_s"], "sectors": json.loads(row["sectors"] or "null"),
            "technologies": json.loads(row["technologies"] or "null"), "rule": row["rule"],
            "rule_value": row["rule_value"], "priority": row["priority"], "created_s": row["created_s"],
            "expires_s": row["expires_s"], "decided_s": row["decided_s"], "transferred_wh": transferred_wh}  # fmt: skip


def _is_xpub(text: str) -> bool:
    try:
        BIP32.from_xpub(text)
    except Exception:  # the library raises several kinds for a bad encoding
        return False
    return True


def _check_terms(endpoint: Endpoint | None, begin_s: int, end_s: int | None, sectors: list[str] | None,
                 technologies: list[str] | None, rule: str, rule_value: int | None) -> None:  # fmt: skip
    """An agreement's terms as the rules can follow them; else a refusal saying which."""
    if endpoint is not None and not _is_xpub(endpoint.xpub):
        raise refuse("invalid_agreement", "the receive endpoint's xpub is not a BIP32 extended public key")
    if endpoint is not None and rule == "unmatched":
        raise refuse(
            "invalid_agreement", "an external receiver's consumption is not known here: use a cap or a percentage"
        )
    if rule not in RULES:
        raise refuse("invalid_agreement", f"the rule is one of {', '.join(RULES)}")
    if rule == "cap" and not (rule_value and 1 <= rule_value <= 10**15):
        raise refuse("invalid_agreement", "a cap is 1 Wh an hour or more")
    if rule == "percent" and not (rule_value and 1 <= rule_value <= 100):
        raise refuse("invalid_agreement", "a percentage is 1 to 100")
    if end_s is not None and end_s <= begin_s:
        raise refuse("invalid_agreement", "an agreement's end comes after its beginning")
    if sectors is not None and (not sectors or any(not 0 < len(s) <= 64 for s in sectors)):
        raise refuse("invalid_agreement", "sectors are a list of price areas (or left out for every one)")
    if technologies is not None and (not technologies or any(not _TECHNOLOGY.match(t) for t in technologies)):
        raise refuse("invalid_agreement", "technologies are EECS codes such as T010000 (or left out for every one)")


def _retire_leg(measurement: str, amount_wh: int) -> Leg:
    return Leg(amount_wh, measurement=measurement)


def _transfer_leg(receiver: Receiver, amount_wh: int) -> Leg:
    return Leg(amount_wh, to=receiver)


class Agreements:
    def __init__(self, engine: Engine, record: Callable[[Connection, list[Event]], None], clock: Callable[[], float]):
        self.engine, self._record_events, self.clock = engine, record, clock

    def propose(self, by: str, *, sender: str, receiver: Receiver, begin_s: int, end_s: int | None,
                sectors: list[str] | None, technologies: list[str] | None, rule: str, rule_value: int | None,
                priority: int = 0) -> dict[str, Any]:  # fmt: skip
        endpoint = receiver if isinstance(receiver, Endpoint) else None
        external = endpoint is not None
        if by not in (sender, receiver):
            raise refuse("forbidden", "an agreement is proposed by its sender or its receiver", 403)
        if sender == receiver:
            raise refuse("invalid_agreement", "an agreement is between two accounts")
        _check_terms(endpoint, begin_s, end_s, sectors, technologies, rule, rule_value)
        now_s = int(self.clock())
        agreement = "agr_" + secrets.token_hex(8)
        with database.writes(self.engine) as conn:
            for who in (sender, None if external else receiver):
                if (
                    who is not None
                    and conn.execute(select(db.accounts.c.id).where(db.accounts.c.id == who)).first() is None
                ):
                    raise refuse("not_found", f"no account {who} at this service", 404)
            conn.execute(insert(db.agreements).values(
                id=agreement, sender=sender, receiver=None if endpoint else receiver,
                receiver_xpub=endpoint.xpub if endpoint else None, receiver_notify=endpoint.notify_url if endpoint else None,
                proposed_by=by, status="ACCEPTED" if external else "PROPOSED", begin_s=begin_s, end_s=end_s,
                sectors=None if sectors is None else json.dumps(sorted(set(sectors))),
                technologies=None if technologies is None else json.dumps(sorted(set(technologies))), rule=rule,
                rule_value=rule_value, priority=priority, created_s=now_s, expires_s=now_s + PROPOSAL_LIFETIME_S,
                decided_s=now_s if external else None))  # fmt: skip
            other = None if endpoint else (receiver if by == sender else sender)
            if isinstance(other, str):
                self._record_events(conn, [(other, "agreement.proposed", {"agreement": agreement, "by": by})])
        return self.get(by, agreement)

    def decide(self, by: str, agreement: str, action: str) -> dict[str, Any]:
        """accept or decline (the other side, while proposed), withdraw (the proposer, while
        proposed), cancel (either side, while accepted)."""
        now_s = int(self.clock())
        with database.writes(self.engine) as conn:
            row = self._row(conn, by, agreement)
            status = self._status(row, now_s)
            allowed = {"accept": ("PROPOSED", by != row["proposed_by"], "ACCEPTED"),
                       "decline": ("PROPOSED", by != row["proposed_by"], "DECLINED"),
                       "withdraw": ("PROPOSED", by == row["proposed_by"], "WITHDRAWN"),
                       "cancel": ("ACCEPTED", True, "CANCELLED")}  # fmt: skip
            if action not in allowed:
                raise refuse(
                    "invalid_request", f"an agreement is accepted, declined, withdrawn or cancelled, not {action!r}"
                )
            needed, may, becomes = allowed[action]
            if status != needed or not may:
                raise refuse("agreement_state", f"agreement {agreement} is {status}: you cannot {action} it", 409)
            conn.execute(update(db.agreements).where(db.agreements.c.id == agreement)
                         .values(status=becomes, decided_s=now_s))  # fmt: skip
            if becomes == "ACCEPTED":
                self._record_events(conn, [(who, "agreement.accepted", {"agreement": agreement})
                                           for who in (row["sender"], row["receiver"]) if who])  # fmt: skip
        return self.get(by, agreement)

    @staticmethod
    def _status(row: Any, now_s: int) -> str:
        return "EXPIRED" if row["status"] == "PROPOSED" and now_s >= row["expires_s"] else str(row["status"])

    @staticmethod
    def _row(conn: Connection, by: str, agreement: str) -> Any:
        a = db.agreements.c
        row = conn.execute(select(db.agreements).where(a.id == agreement, or_(a.sender == by, a.receiver == by))
                           ).mappings().first()  # fmt: skip
        if row is None:
            raise refuse("not_found", f"no agreement {agreement} of yours", 404)
        return row

    def _transferred(self, conn: Connection, agreements: list[str]) -> dict[str, int]:
        t, o = db.agreement_transfers, db.operations
        query = (select(t.c.agreement, func.sum(t.c.amount_wh)).join(o, o.c.id == t.c.operation)
                 .where(t.c.agreement.in_(agreements), o.c.status == "COMMITTED").group_by(t.c.agreement))  # fmt: skip
        return {a: int(wh) for a, wh in conn.execute(query)} if agreements else {}

    def get(self, by: str, agreement: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = self._row(conn, by, agreement)
            out = _agreement_out({**row, "status": self._status(row, int(self.clock()))},
                                 self._transferred(conn, [agreement]).get(agreement, 0))  # fmt: skip
            t, o = db.agreement_transfers, db.operations
            out["transfers"] = [
                {"operation": op, "begin_s": b, "sector": s, "amount_wh": wh, "status": st}
                for op, b, s, wh, st in conn.execute(
                    select(t.c.operation, t.c.begin_s, t.c.sector, t.c.amount_wh, o.c.status)
                    .join(o, o.c.id == t.c.operation).where(t.c.agreement == agreement).order_by(t.c.begin_s).limit(10_000))
            ]  # fmt: skip
        return out

    def listed(self, by: str) -> list[dict[str, Any]]:
        a = db.agreements.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(db.agreements).where(or_(a.sender == by, a.receiver == by))
                                .order_by(a.sender, a.priority, a.created_s)).mappings().fetchall()  # fmt: skip
            sums = self._transferred(conn, [r["id"] for r in rows])
        now_s = int(self.clock())
        return [_agreement_out({**r, "status": self._status(r, now_s)}, sums.get(r["id"], 0)) for r in rows]

    def set_priority(self, by: str, agreement: str, priority: int) -> dict[str, Any]:
        with database.writes(self.engine) as conn:
            row = self._row(conn, by, agreement)
            if row["sender"] != by:
                raise refuse("forbidden", "the sender orders its agreements", 403)
            conn.execute(update(db.agreements).where(db.agreements.c.id == agreement).values(priority=priority))
        return self.get(by, agreement)


class Automation:
    def __init__(self, engine: Engine, operations: Operations, record: Callable[[Connection, list[Event]], None],
                 clock: Callable[[], float]):  # fmt: skip
        self.engine, self.operations, self._record_events, self.clock = engine, operations, record, clock

    def enable(self, account: str, on: bool) -> None:
        with database.writes(self.engine) as conn:
            conn.execute(update(db.accounts).where(db.accounts.c.id == account).values(automation=on))
        if on:
            self.back_in_time(account, 0, 2**62)

    def queued(self) -> int:
        """Periods waiting for a run, of every account."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(db.automation_queue)).scalar_one())

    def back_in_time(self, account: str, begin_s: int, end_s: int) -> int:
        """Queue every period of [begin, end) with GGOs held or consumption measured; how many."""
        g, m = db.ggos.c, db.measurements.c
        with database.writes(self.engine) as conn:
            periods = {(account, b, e, s) for b, e, s in conn.execute(
                select(g.begin_s, g.end_s, g.sector).where(g.account == account, g.state == "available",
                                                          g.begin_s >= begin_s, g.end_s <= end_s).distinct())}  # fmt: skip
            periods |= {(account, b, e, s) for b, e, s in conn.execute(
                select(m.begin_s, m.end_s, m.sector).where(m.account == account, m.type == CONSUMPTION,
                                                          m.begin_s >= begin_s, m.end_s <= end_s).distinct())}  # fmt: skip
            enqueue_periods(conn, periods)
        return len(periods)

    def run_due(self) -> bool:
        """One run for each account with queued periods; whether more are queued than the runs
        took (a backlog, as after a year of history: the caller runs again at once)."""
        q = db.automation_queue.c
        with self.engine.connect() as conn:
            accounts = [r.account for r in conn.execute(select(q.account).distinct())]
            automated = {r.id for r in conn.execute(select(db.accounts.c.id).where(db.accounts.c.automation.is_(True)))}
        with database.writes(self.engine) as conn:  # queued before automation was turned off: nothing to do
            for account in set(accounts) - automated:
                conn.execute(delete(db.automation_queue).where(q.account == account))
        due = sorted(set(accounts) & automated)
        # Runs of different accounts overlap: while one waits for the ledger's decision, another
        # plans (reservations keep them from taking the same GGO; a plan is written alone).
        with concurrent.futures.ThreadPoolExecutor(RUNS_AT_ONCE, thread_name_prefix="automation") as pool:
            runs = list(pool.map(self.run, due))
        return any(r["periods"] == PERIODS_PER_RUN and not r["outcome"].startswith(WAITS) for r in runs)

    def run(self, account: str) -> dict[str, Any]:
        taken: list[tuple[int, int, str]] = []

        def choose(conn: Connection, now_s: int, pending: dict[str, int]) -> tuple[
                list[tuple[dict[str, Any], list[Leg]]], Callable[[Connection, str], None]]:  # fmt: skip
            q = db.automation_queue.c
            taken[:] = ((r.begin_s, r.end_s, r.sector) for r in conn.execute(
                select(q.begin_s, q.end_s, q.sector).where(q.account == account)
                .order_by(q.begin_s, q.sector).limit(PERIODS_PER_RUN)))  # fmt: skip
            chosen, served = _Routing(conn, account, taken, now_s, self.operations.ledger.config().ggo_lifetime_s,
                                      pending).route()  # fmt: skip

            def record(conn: Connection, op: str) -> None:
                self._forget(conn, account, taken)
                if served:
                    conn.execute(insert(db.agreement_transfers), [
                        {"agreement": a, "operation": op, "begin_s": b, "sector": s, "amount_wh": wh}
                        for (a, b, s), wh in served.items()])  # fmt: skip

            return chosen, record

        now_s = int(self.clock())
        try:
            op = self.operations.route(account, "automation", {"periods": "queued"}, choose)
        except AccountError as exc:
            if exc.code == "reserved":  # a manual operation took a GGO first: the next run tries again
                return self._ran(account, now_s, len(taken), None, f"{WAITS}{exc}")
            with database.writes(self.engine) as conn:
                self._forget(conn, account, taken)
            if exc.code == "nothing_to_do":
                return self._ran(account, now_s, len(taken), None, "nothing to route")
            return self._ran(account, now_s, len(taken), None, f"failed: {exc.code}: {exc}", failed=True)
        if op["status"] == FAILED:
            return self._ran(account, now_s, len(taken), op["id"],
                             f"failed: {op['error']['code']}: {op['error']['message']}", failed=True)  # fmt: skip
        return self._ran(account, now_s, len(taken), op["id"], f"operation {op['id']} {op['status']}")

    @staticmethod
    def _forget(conn: Connection, account: str, taken: list[tuple[int, int, str]]) -> None:
        q = db.automation_queue.c
        if taken:
            conn.execute(delete(db.automation_queue).where(q.account == account, q.begin_s == bindparam("b"),
                                                           q.end_s == bindparam("e"), q.sector == bindparam("s")),
                         [{"b": b, "e": e, "s": s} for b, e, s in taken])  # fmt: skip

    def _ran(self, account: str, now_s: int, periods: int, op: str | None, outcome: str,
             failed: bool = False) -> dict[str, Any]:  # fmt: skip
        with database.writes(self.engine) as conn:
            run = conn.execute(insert(db.automation_runs).values(account=account, created_s=now_s, periods=periods,
                                                                 operation=op, outcome=outcome)).inserted_primary_key  # fmt: skip
            if failed:
                self._record_events(conn, [(account, "automation.failed", {"operation": op, "outcome": outcome})])
        return {"id": int(run[0]) if run else 0, "account": account, "created_s": now_s, "periods": periods,
                "operation": op, "outcome": outcome}  # fmt: skip

    def runs(self, account: str, limit: int = 100) -> list[dict[str, Any]]:
        r = db.automation_runs.c
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(select(db.automation_runs).where(r.account == account)
                                                      .order_by(r.id.desc()).limit(limit)).mappings()]  # fmt: skip


Period = tuple[int, int, str]  # begin, end, sector


class _Routing:
    """One run's choice for its periods: what it needs read in a few queries for them all (the
    account's available GGOs, its consumption with room, its agreements and what each was given),
    then, period by period in queue order, retirements against its own consumption (meters in
    retire-priority order) and transfers to its agreements in priority order. What the run
    chooses for one period counts for the next (a cap is per hour, and a 15-minute period is a
    quarter of one)."""

    def __init__(self, conn: Connection, account: str, taken: list[Period], now_s: int, lifetime_s: int,
                 pending: dict[str, int]):  # fmt: skip
        self.account, self.taken = account, taken
        self.periods = set(taken)
        self.lo = min((b for b, _, _ in taken), default=0)
        self.hi = max((e for _, e, _ in taken), default=0)
        g, m, mt, a = db.ggos.c, db.measurements.c, db.meters.c, db.agreements.c
        self.ggos: dict[Period, list[dict[str, Any]]] = {}
        for r in conn.execute(select(db.ggos).where(
            g.account == account, g.state == "available", g.operation.is_(None), g.begin_s >= self.lo,
            g.end_s <= self.hi, g.end_s + lifetime_s > now_s,
        ).order_by(g.amount_wh.desc(), g.address)).mappings():  # fmt: skip
            self._add(self.ggos, (r["begin_s"], r["end_s"], r["sector"]), dict(r))
        self.rooms: dict[Period, list[tuple[str, int]]] = {}
        for address, b, e, sector, amount, retired in conn.execute(
            select(m.address, m.begin_s, m.end_s, m.sector, m.amount_wh, m.retired_wh)
            .join(db.meters, and_(mt.account == m.account, mt.idx == m.meter))
            .where(m.account == account, m.type == CONSUMPTION, m.begin_s >= self.lo, m.end_s <= self.hi,
                   m.amount_wh > m.retired_wh).order_by(mt.retire_priority, m.address)):  # fmt: skip
            if (room := amount - retired - pending.get(address, 0)) > 0:
                self._add(self.rooms, (b, e, sector), (address, room))
        self.agreements = conn.execute(select(db.agreements).where(a.sender == account, a.status == "ACCEPTED")
                                       .order_by(a.priority, a.created_s, a.id)).mappings().fetchall()  # fmt: skip
        self.given, self.in_flight = self._given(conn)
        self.hourly: dict[tuple[str, int, str], int] = {}  # given by (agreement, hour, sector), for caps
        for (agreement, b, sector), wh in self.given.items():
            key = (agreement, b - b % HOUR_S, sector)
            self.hourly[key] = self.hourly.get(key, 0) + wh
        self.produced = self._sums(conn, [account], PRODUCTION, "amount") if self._ruled("percent") else {}
        receivers = sorted({r["receiver"] for r in self.agreements if r["rule"] == "unmatched"})
        self.unmatched = self._sums(conn, receivers, CONSUMPTION, "unmatched") if receivers else {}
        self.held = self._held(conn, receivers) if receivers else {}

    def _add(self, into: dict[Period, list[Any]], period: Period, item: Any) -> None:
        if period in self.periods:
            into.setdefault(period, []).append(item)

    def _ruled(self, rule: str) -> bool:
        return any(r["rule"] == rule for r in self.agreements)

    def _given(self, conn: Connection) -> tuple[dict[tuple[str, int, str], int], dict[tuple[str, int, str], int]]:
        """Wh given under the account's agreements, by (agreement, begin, sector): by operations
        committed or still open; and to each receiver by operations still open, by (receiver,
        begin, sector), whoever sent them."""
        t, o, a = db.agreement_transfers.c, db.operations.c, db.agreements.c
        hour_lo = self.lo - self.lo % HOUR_S
        given: dict[tuple[str, int, str], int] = {}
        for agreement, b, sector, wh in conn.execute(
            select(t.agreement, t.begin_s, t.sector, func.sum(t.amount_wh)).join(db.operations, o.id == t.operation)
            .join(db.agreements, a.id == t.agreement)
            .where(a.sender == self.account, o.status.in_(("COMMITTED", *OPEN)), t.begin_s >= hour_lo,
                   t.begin_s < self.hi).group_by(t.agreement, t.begin_s, t.sector)):  # fmt: skip
            given[(agreement, b, sector)] = int(wh)
        receivers = sorted({r["receiver"] for r in self.agreements if r["receiver"]})
        in_flight: dict[tuple[str, int, str], int] = {}
        for receiver, b, sector, wh in conn.execute(
            select(a.receiver, t.begin_s, t.sector, func.sum(t.amount_wh)).join(db.operations, o.id == t.operation)
            .join(db.agreements, a.id == t.agreement)
            .where(a.receiver.in_(receivers), o.status.in_(OPEN), t.begin_s >= self.lo, t.begin_s < self.hi)
            .group_by(a.receiver, t.begin_s, t.sector)) if receivers else ():  # fmt: skip
            in_flight[(receiver, b, sector)] = int(wh)
        return given, in_flight

    def _sums(self, conn: Connection, accounts: list[str], kind: str, what: str) -> dict[tuple[str, Period], int]:
        """Per account and period: the `kind` measurements' amount, or their amount not retired yet."""
        m = db.measurements.c
        summed = m.amount_wh if what == "amount" else m.amount_wh - m.retired_wh
        return {(account, (b, e, sector)): int(wh) for account, b, e, sector, wh in conn.execute(
            select(m.account, m.begin_s, m.end_s, m.sector, func.sum(summed))
            .where(m.account.in_(accounts), m.type == kind, m.begin_s >= self.lo, m.end_s <= self.hi)
            .group_by(m.account, m.begin_s, m.end_s, m.sector))}  # fmt: skip

    def _held(self, conn: Connection, accounts: list[str]) -> dict[tuple[str, Period], int]:
        g = db.ggos.c
        return {(account, (b, e, sector)): int(wh) for account, b, e, sector, wh in conn.execute(
            select(g.account, g.begin_s, g.end_s, g.sector, func.sum(g.amount_wh))
            .where(g.account.in_(accounts), g.state == "available", g.begin_s >= self.lo, g.end_s <= self.hi)
            .group_by(g.account, g.begin_s, g.end_s, g.sector))}  # fmt: skip

    def route(self) -> tuple[list[tuple[dict[str, Any], list[Leg]]], dict[tuple[str, int, str], int]]:
        """The GGOs chosen (each with its legs), and the Wh given under each agreement by
        (agreement, begin, sector)."""
        chosen: dict[str, tuple[dict[str, Any], list[Leg]]] = {}
        served: dict[tuple[str, int, str], int] = {}
        for period in self.taken:
            self._period(period, chosen, served)
        return list(chosen.values()), served

    def _period(self, period: Period, chosen: dict[str, tuple[dict[str, Any], list[Leg]]],
                served: dict[tuple[str, int, str], int]) -> None:  # fmt: skip
        begin_s, end_s, sector = period
        ggos = self.ggos.get(period, [])
        if not ggos:
            return
        left = {x["address"]: x["amount_wh"] for x in ggos}

        def give(room: int, leg: Callable[[int], Leg], technologies: set[str] | None = None) -> int:
            given = 0
            for x in ggos:
                if room - given <= 0:
                    break
                if left[x["address"]] <= 0 or (technologies is not None and x["tech_type"] not in technologies):
                    continue
                take = min(left[x["address"]], room - given)
                chosen.setdefault(x["address"], (x, []))[1].append(leg(take))
                left[x["address"]] -= take
                given += take
            return given

        for measurement, room in self.rooms.get(period, []):
            give(room, functools.partial(_retire_leg, measurement))
        for a in self.agreements:
            if a["begin_s"] > begin_s or (a["end_s"] is not None and a["end_s"] < end_s):
                continue
            if a["sectors"] is not None and sector not in json.loads(a["sectors"]):
                continue
            technologies = set(json.loads(a["technologies"])) if a["technologies"] else None
            receiver: Receiver = a["receiver"] or Endpoint(a["receiver_xpub"], a["receiver_notify"])
            given = give(self._wanted(a, period), functools.partial(_transfer_leg, receiver), technologies)
            if given:
                key = (a["id"], begin_s, sector)
                served[key] = served.get(key, 0) + given
                self.given[key] = self.given.get(key, 0) + given
                hour = (a["id"], begin_s - begin_s % HOUR_S, sector)
                self.hourly[hour] = self.hourly.get(hour, 0) + given
                if a["receiver"]:
                    flight = (a["receiver"], begin_s, sector)
                    self.in_flight[flight] = self.in_flight.get(flight, 0) + given

    def _wanted(self, a: Any, period: Period) -> int:
        """Wh the agreement still wants of this period: by its rule, less what it has been given
        (by operations committed or still open, this run's included)."""
        begin_s, _, sector = period
        if a["rule"] == "cap":
            return max(0, int(a["rule_value"]) - self.hourly.get((a["id"], begin_s - begin_s % HOUR_S, sector), 0))
        if a["rule"] == "percent":
            produced = self.produced.get((self.account, period), 0)
            return max(0, produced * int(a["rule_value"]) // 100 - self.given.get((a["id"], begin_s, sector), 0))
        receiver = a["receiver"]
        return max(0, self.unmatched.get((receiver, period), 0) - self.held.get((receiver, period), 0)
                   - self.in_flight.get((receiver, begin_s, sector), 0))  # fmt: skip
