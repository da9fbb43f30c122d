"""Webhooks: subscribers hear of measurements published and GGOs issued.

Notifications are written to an outbox in the same database transaction that records what
happened, so a restart loses none. A deliverer POSTs each with headers `X-Origin-Event`,
`X-Origin-Delivery` and `X-Origin-Signature: sha256=<hex HMAC-SHA256 of the body under the
subscriber's secret>`; a non-2xx answer or no answer is retried with exponential backoff, up to
ATTEMPTS_MAX tries, after which the delivery is marked FAILED (and listed, never dropped).
"""

import hashlib
import hmac
import json
from collections.abc import Callable

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from origin.client import http
from origin.datahub.db import deliveries, webhooks

EVENTS = ("measurement.published", "ggo.issued")
ATTEMPTS_MAX = 10
BACKOFF_S, BACKOFF_MAX_S = 5, 3600
DELIVERIES_PER_ROUND = 100


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def subscribe(engine: Engine, url: str, secret: str, events=EVENTS) -> int:
    unknown = set(events) - set(EVENTS)
    if unknown or not url.startswith(("http://", "https://")) or len(secret) < 16:
        raise ValueError(f"a webhook needs an http(s) url, a secret of 16+ characters, events of {EVENTS}")
    with engine.begin() as conn:
        key = conn.execute(
            insert(webhooks).values(url=url, secret=secret, events=" ".join(events))
        ).inserted_primary_key
        assert key is not None, "an insert has a primary key"
        return int(key[0])


def enqueue(conn: Connection, event: str, payloads: list[dict], now_s: int) -> None:
    """Add a delivery of each payload to every subscriber of the event, in the caller's transaction."""
    subscribers = [
        row.id for row in conn.execute(select(webhooks.c.id, webhooks.c.events)) if event in row.events.split()
    ]
    rows = [{"webhook": w, "event": event, "payload": json.dumps(p, sort_keys=True).encode(), "status": "PENDING",
             "attempts": 0, "next_attempt_s": now_s} for w in subscribers for p in payloads]  # fmt: skip
    if rows:
        conn.execute(insert(deliveries), rows)


def deliver_due(engine: Engine, now_s: int, post: Callable = http) -> tuple[int, int]:
    """Try every delivery that is due; (delivered, failed for good) this round."""
    with engine.connect() as conn:
        due = conn.execute(
            select(deliveries, webhooks.c.url, webhooks.c.secret)
            .join(webhooks, webhooks.c.id == deliveries.c.webhook)
            .where(deliveries.c.status == "PENDING", deliveries.c.next_attempt_s <= now_s)
            .order_by(deliveries.c.id)
            .limit(DELIVERIES_PER_ROUND)
        ).fetchall()
    delivered = failed = 0
    for d in due:
        headers = {"Content-Type": "application/json", "X-Origin-Event": d.event,
                   "X-Origin-Delivery": str(d.id), "X-Origin-Signature": signature(d.secret, d.payload)}  # fmt: skip
        try:
            status, _ = post("POST", d.url, d.payload, timeout=10, headers=headers)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except OSError as exc:
            error = f"no answer: {exc}"
        attempts = d.attempts + 1
        if error is None:
            change, delivered = {"status": "DELIVERED", "attempts": attempts, "last_error": None}, delivered + 1
        elif attempts >= ATTEMPTS_MAX:
            change, failed = {"status": "FAILED", "attempts": attempts, "last_error": error}, failed + 1
        else:
            wait_s = min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (attempts - 1))
            change = {"attempts": attempts, "next_attempt_s": now_s + wait_s, "last_error": error}
        with engine.begin() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id == d.id).values(**change))
    return delivered, failed
