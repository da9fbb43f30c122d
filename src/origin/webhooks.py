"""Webhooks, as every service of Origin sends them: subscribers hear of the service's events --
an operator's subscriptions (owner None) of everything, an owner's of their own things only.

Events are written to an outbox in the same database transaction that records what happened,
so a restart loses none. Each subscriber has its own queue and its own backoff: a round takes
the subscribers that are due and delivers to them concurrently (at most DELIVERY_WORKERS at a
time), each one POST of up to EVENTS_PER_POST events, so a slow or dead subscriber holds up no
other and a day of 15-minute data is a few POSTs, not thousands. A POST carries
`{"events": [{"delivery", "event", "data"}, ...]}` with the headers `X-Origin-Deliveries` and
`X-Origin-Signature: sha256=<hex HMAC-SHA256 of the body under the subscriber's secret>`.
Redirects are not followed; loopback, link-local, private and other non-public addresses are
refused (at subscription and at every delivery) unless the operator allows them. A failed POST
doubles the subscriber's wait (5 s up to an hour); an event not delivered in ATTEMPTS_MAX tries
is marked FAILED, listed, never dropped.
"""

import concurrent.futures
import hashlib
import hmac
import ipaddress
import json
import socket
import urllib.parse
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

from origin.client import http

ATTEMPTS_MAX = 10
BACKOFF_S, BACKOFF_MAX_S = 5, 3600
EVENTS_PER_POST = 500
DELIVERY_WORKERS = 8
SUBSCRIBERS_PER_ROUND = 64
POST_TIMEOUT_S = 10.0
SECRET_LENGTH_MIN = 16
SUBSCRIPTIONS_PER_OWNER_MAX = 10

Resolve = Callable[[str], list[str]]


def tables(metadata: MetaData) -> tuple[Table, Table]:
    """The subscriptions and the outbox of their deliveries."""
    webhooks = Table(
        "webhooks", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("url", Text, nullable=False),
        Column("secret", Text, nullable=False),
        Column("events", Text, nullable=False),  # space-separated event names
        Column("owner", String(200)),  # null: the operator's, of everything; else of this owner's
        Column("failures", Integer, nullable=False, server_default="0"),  # POSTs failed in a row
        Column("next_attempt_s", BigInteger, nullable=False, server_default="0"),  # its backoff
        Column("last_error", Text),
    )  # fmt: skip
    deliveries = Table(
        "webhook_deliveries", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("webhook", Integer, ForeignKey("webhooks.id"), nullable=False),
        Column("event", String(40), nullable=False),
        Column("owner", String(200)),  # the owner of the thing the event is about
        Column("payload", LargeBinary, nullable=False),
        Column("status", String(10), nullable=False, index=True),  # PENDING, DELIVERED or FAILED
        Column("attempts", Integer, nullable=False),
        Column("next_attempt_s", BigInteger, nullable=False),
        Column("last_error", Text),
    )  # fmt: skip
    return webhooks, deliveries


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def addresses_of(host: str) -> list[str]:
    """Every IP address a host name resolves to."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})


def refused_destination(url: str, allow_private: bool, resolve: Resolve = addresses_of) -> str | None:
    """Why a webhook may not be sent to `url`; None if it may."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "a webhook URL is http(s)://host/..."
    if allow_private:
        return None
    try:
        found = resolve(parts.hostname)
    except OSError as exc:
        return f"{parts.hostname} does not resolve: {exc}"
    for address in found:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            return f"{parts.hostname} is {address}, not a public address (the operator can allow private ones)"
    return None


class Webhooks:
    """The webhooks of one service: its two tables and the events it sends."""

    def __init__(self, webhooks: Table, deliveries: Table, events: tuple[str, ...]):
        self.webhooks, self.deliveries, self.events = webhooks, deliveries, events

    def subscribe(self, engine: Engine, url: str, secret: str, events: list[str] | tuple[str, ...] | None = None,
                  owner: str | None = None, allow_private: bool = False, resolve: Resolve = addresses_of) -> int:  # fmt: skip
        """A subscription: the issuing body's (owner None) hears of every meter, an owner's of theirs."""
        events = self.events if events is None else events
        unknown = set(events) - set(self.events)
        if unknown or not events or len(secret) < SECRET_LENGTH_MIN:
            raise ValueError(f"a webhook needs a secret of {SECRET_LENGTH_MIN}+ characters and events of {self.events}")
        why = refused_destination(url, allow_private, resolve)
        if why:
            raise ValueError(why)
        with engine.begin() as conn:
            if owner is not None and len(self.listed(conn, owner)) >= SUBSCRIPTIONS_PER_OWNER_MAX:
                raise ValueError(f"an owner has at most {SUBSCRIPTIONS_PER_OWNER_MAX} subscriptions")
            key = conn.execute(insert(self.webhooks).values(url=url, secret=secret, events=" ".join(events), owner=owner)
                               ).inserted_primary_key  # fmt: skip
        assert key is not None, "an insert has a primary key"
        return int(key[0])

    def listed(self, conn: Connection, owner: str | None) -> list[dict[str, Any]]:
        """The subscriptions of an owner (None: every one), with what is pending and failed."""
        query = select(self.webhooks).order_by(self.webhooks.c.id)
        if owner is not None:
            query = query.where(self.webhooks.c.owner == owner)
        found = []
        for w in conn.execute(query).mappings():
            counts = {status.lower(): n for status, n in conn.execute(
                select(self.deliveries.c.status, func.count()).where(self.deliveries.c.webhook == w["id"]).group_by(self.deliveries.c.status))}  # fmt: skip
            found.append({"id": w["id"], "url": w["url"], "events": w["events"].split(), "owner": w["owner"],
                          "failures": w["failures"], "last_error": w["last_error"], **counts})  # fmt: skip
        return found

    def unsubscribe(self, engine: Engine, webhook_id: int, owner: str | None) -> bool:
        """Delete a subscription (of this owner, unless None) and what it had not delivered."""
        with engine.begin() as conn:
            query = select(self.webhooks.c.id).where(self.webhooks.c.id == webhook_id)
            if owner is not None:
                query = query.where(self.webhooks.c.owner == owner)
            if conn.execute(query).first() is None:
                return False
            conn.execute(delete(self.deliveries).where(self.deliveries.c.webhook == webhook_id))
            conn.execute(delete(self.webhooks).where(self.webhooks.c.id == webhook_id))
        return True

    def listening(self, conn: Connection, events: tuple[str, ...]) -> bool:
        """Whether any subscriber takes one of these events (else there is nothing to enqueue)."""
        return any(set(events) & set(row.events.split()) for row in conn.execute(select(self.webhooks.c.events)))

    def enqueue(self, conn: Connection, event: str, items: list[tuple[str, dict[str, Any]]], now_s: int) -> None:
        """An outbox row per (subscriber, event) for each (meter owner, data), in the caller's
        transaction: the issuing body's subscribers hear of all, an owner's of their own."""
        subscribers = [(row.id, row.owner) for row in conn.execute(select(self.webhooks.c.id, self.webhooks.c.events, self.webhooks.c.owner))
                       if event in row.events.split()]  # fmt: skip
        rows = [{"webhook": w, "event": event, "owner": owner, "payload": json.dumps(data, sort_keys=True).encode(),
                 "status": "PENDING", "attempts": 0, "next_attempt_s": now_s}
                for w, subscriber in subscribers for owner, data in items if subscriber in (None, owner)]  # fmt: skip
        if rows:
            conn.execute(insert(self.deliveries), rows)

    def deliver_due(self, engine: Engine, now_s: int, post: Callable[..., tuple[int, bytes]] = http,
                    allow_private: bool = False, resolve: Resolve = addresses_of) -> tuple[int, int]:  # fmt: skip
        """One round: every due subscriber gets one POST of its pending events, concurrently;
        (events delivered, events failed for good) this round."""
        with engine.connect() as conn:
            due = conn.execute(
                select(self.webhooks).where(self.webhooks.c.next_attempt_s <= now_s, self.webhooks.c.id.in_(
                    select(self.deliveries.c.webhook).where(self.deliveries.c.status == "PENDING")))
                .order_by(self.webhooks.c.next_attempt_s).limit(SUBSCRIBERS_PER_ROUND)
            ).mappings().fetchall()  # fmt: skip
        if not due:
            return 0, 0
        with concurrent.futures.ThreadPoolExecutor(min(DELIVERY_WORKERS, len(due)), "webhook") as pool:
            results = list(pool.map(lambda s: self._deliver_to(engine, s, now_s, post, allow_private, resolve), due))
        return sum(r[0] for r in results), sum(r[1] for r in results)

    def _deliver_to(self, engine: Engine, subscriber: Any, now_s: int, post: Callable[..., tuple[int, bytes]],
                    allow_private: bool, resolve: Resolve) -> tuple[int, int]:  # fmt: skip
        with engine.connect() as conn:
            rows = conn.execute(select(self.deliveries).where(self.deliveries.c.webhook == subscriber["id"],
                                                         self.deliveries.c.status == "PENDING")
                                .order_by(self.deliveries.c.id).limit(EVENTS_PER_POST)).fetchall()  # fmt: skip
        if not rows:
            return 0, 0
        body = json.dumps({"events": [{"delivery": r.id, "event": r.event, "data": json.loads(r.payload)} for r in rows]},
                          sort_keys=True).encode()  # fmt: skip
        headers = {"Content-Type": "application/json", "X-Origin-Deliveries": f"{rows[0].id}-{rows[-1].id}",
                   "X-Origin-Signature": signature(subscriber["secret"], body)}  # fmt: skip
        error = refused_destination(subscriber["url"], allow_private, resolve)
        if error is None:
            try:
                status, _ = post("POST", subscriber["url"], body, timeout=POST_TIMEOUT_S, headers=headers,
                                 follow_redirects=False)  # fmt: skip
                error = None if 200 <= status < 300 else f"HTTP {status}"
            except (OSError, ValueError) as exc:
                error = f"no answer: {exc}"
        return self._settle(engine, subscriber, [r.id for r in rows], [r.attempts for r in rows], error, now_s)

    def _settle(self, engine: Engine, subscriber: Any, ids: list[int], attempts: list[int], error: str | None,
                now_s: int) -> tuple[int, int]:  # fmt: skip
        """Record a POST's outcome for its events and its subscriber."""
        with engine.begin() as conn:
            if error is None:
                conn.execute(update(self.deliveries).where(self.deliveries.c.id.in_(ids))
                             .values(status="DELIVERED", attempts=self.deliveries.c.attempts + 1, last_error=None))  # fmt: skip
                conn.execute(update(self.webhooks).where(self.webhooks.c.id == subscriber["id"])
                             .values(failures=0, last_error=None, next_attempt_s=now_s))  # fmt: skip
                return len(ids), 0
            failures = subscriber["failures"] + 1
            wait_s = min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (failures - 1))
            conn.execute(update(self.webhooks).where(self.webhooks.c.id == subscriber["id"])
                         .values(failures=failures, last_error=error, next_attempt_s=now_s + wait_s))  # fmt: skip
            given_up = [i for i, a in zip(ids, attempts, strict=True) if a + 1 >= ATTEMPTS_MAX]
            conn.execute(update(self.deliveries).where(self.deliveries.c.id.in_(ids))
                         .values(attempts=self.deliveries.c.attempts + 1, last_error=error))  # fmt: skip
            if given_up:
                conn.execute(update(self.deliveries).where(self.deliveries.c.id.in_(given_up)).values(status="FAILED"))
            return 0, len(given_up)
