"""Webhooks: signed batches of events, each subscriber its own queue and backoff (a dead one
holds up no other), concurrent deliveries, no redirects, no private addresses, owners hear of
their own meters only, nothing lost across a restart."""

import hashlib
import hmac
import json
import threading
import time

import pytest
from sqlalchemy import select

from origin.datahub import db, webhooks

SECRET = "a-secret-of-some-length"
PUBLIC = {"hooks.example": ["93.184.215.14"], "slow.example": ["93.184.215.15"], "inside.example": ["10.0.0.7"],
          "local.example": ["127.0.0.1"], "link.example": ["169.254.169.254"], "v6.example": ["::1"]}  # fmt: skip


def resolve(host):
    return PUBLIC[host]


class Subscriber:
    """Answers each URL with the statuses it is given (then 200), and keeps what it received."""

    def __init__(self, statuses=(), slow_url=None, slow_s=0.0):
        self.statuses, self.received, self.lock = list(statuses), [], threading.Lock()
        self.slow_url, self.slow_s = slow_url, slow_s

    def __call__(self, method, url, body=None, timeout=None, headers=None, follow_redirects=True):
        assert follow_redirects is False
        if url == self.slow_url:
            time.sleep(self.slow_s)
            raise TimeoutError("timed out")
        with self.lock:
            self.received.append((url, body, headers))
            status = self.statuses.pop(0) if self.statuses else 200
        if status is None:
            raise ConnectionResetError("no answer")
        return status, b""


@pytest.fixture
def engine(database_url):
    engine = db.connect(database_url)
    yield engine
    engine.dispose()


def subscribe(engine, url="http://hooks.example/a", **kw):
    return webhooks.subscribe(engine, url, SECRET, resolve=resolve, **kw)


def notify(engine, now_s=1000, items=(("customer-0", {"address": "fbb4f9" + "0" * 64, "amount": 5}),),
           event="measurement.published"):  # fmt: skip
    with engine.begin() as conn:
        webhooks.enqueue(conn, event, list(items), now_s)


def deliver(engine, now_s, subscriber):
    return webhooks.deliver_due(engine, now_s, post=subscriber, resolve=resolve)


def test_deliveries_are_signed_batches(engine):
    subscribe(engine)
    subscribe(engine, "http://hooks.example/b", events=["ggo.issued"])
    notify(engine, items=[("customer-0", {"n": i}) for i in range(3)])
    subscriber = Subscriber()
    assert deliver(engine, 1000, subscriber) == (3, 0)
    ((url, body, headers),) = subscriber.received  # one POST, to the subscriber of that event
    assert url == "http://hooks.example/a" and [e["data"]["n"] for e in json.loads(body)["events"]] == [0, 1, 2]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Origin-Signature"] == expected
    assert {e["event"] for e in json.loads(body)["events"]} == {"measurement.published"}
    assert deliver(engine, 2000, subscriber) == (0, 0)  # delivered once


def test_a_day_of_15_minute_data_is_a_few_posts(engine):
    subscribe(engine)
    notify(engine, items=[("customer-0", {"n": i}) for i in range(96 * 12)])  # 12 meters, a day of quarters
    subscriber, rounds = Subscriber(), 0
    while deliver(engine, 1000 + rounds, subscriber)[0]:
        rounds += 1
    assert len(subscriber.received) == -(-96 * 12 // webhooks.EVENTS_PER_POST) == 3


def test_failures_are_retried_with_backoff_per_subscriber(engine):
    subscribe(engine)
    notify(engine)
    subscriber = Subscriber([500, None, 503])
    assert deliver(engine, 1000, subscriber) == (0, 0)
    assert deliver(engine, 1004, subscriber) == (0, 0)  # not due yet: 5 s
    assert deliver(engine, 1005, subscriber) == (0, 0)  # no answer
    assert deliver(engine, 1014, subscriber) == (0, 0)  # 10 s later: not yet
    assert deliver(engine, 1015, subscriber) == (0, 0)  # 503
    assert deliver(engine, 1035, subscriber) == (1, 0)  # 20 s later: delivered
    assert len(subscriber.received) == 4


def test_a_dead_subscriber_holds_up_no_other(engine):
    """One that never answers (each POST times out) and one that works: the working one gets
    every event on time, concurrently, while the dead one backs off."""
    subscribe(engine, "http://slow.example/x")
    subscribe(engine, "http://hooks.example/a")
    subscriber = Subscriber(slow_url="http://slow.example/x", slow_s=0.3)
    for now in (1000, 1001, 1002):
        notify(engine, now_s=now, items=[("customer-0", {"at": now})])
        assert deliver(engine, now, subscriber) == (1, 0)
    assert [json.loads(b)["events"][0]["data"]["at"] for _, b, _ in subscriber.received] == [1000, 1001, 1002]
    with engine.connect() as conn:
        slow = conn.execute(select(db.webhooks).where(db.webhooks.c.url == "http://slow.example/x")).one()
    assert slow.failures == 1 and slow.next_attempt_s == 1005 and "timed out" in slow.last_error


def test_a_subscriber_that_never_answers_is_marked_failed(engine):
    subscribe(engine)
    notify(engine)
    subscriber, now = Subscriber([500] * webhooks.ATTEMPTS_MAX), 1000
    for _ in range(webhooks.ATTEMPTS_MAX):
        delivered, failed = deliver(engine, now, subscriber)
        now += webhooks.BACKOFF_MAX_S
    assert failed == 1
    with engine.connect() as conn:
        row = conn.execute(select(db.deliveries)).one()
    assert row.status == "FAILED" and row.last_error == "HTTP 500"


def test_owners_hear_of_their_own_meters_only(engine):
    subscribe(engine, owner="customer-0")
    subscribe(engine, "http://hooks.example/issuer")
    notify(engine, items=[("customer-0", {"n": 0}), ("customer-1", {"n": 1})])
    subscriber = Subscriber()
    deliver(engine, 1000, subscriber)
    got = {url: [e["data"]["n"] for e in json.loads(b)["events"]] for url, b, _ in subscriber.received}
    assert got == {"http://hooks.example/a": [0], "http://hooks.example/issuer": [0, 1]}


def test_subscriptions_are_listed_and_deleted_by_their_owner(engine):
    mine = subscribe(engine, owner="customer-0")
    theirs = subscribe(engine, owner="customer-1")
    notify(engine)
    with engine.connect() as conn:
        assert [w["id"] for w in webhooks.listed(conn, "customer-0")] == [mine]
        assert webhooks.listed(conn, "customer-0")[0]["pending"] == 1
    assert not webhooks.unsubscribe(engine, theirs, "customer-0")
    assert webhooks.unsubscribe(engine, mine, "customer-0")
    with engine.connect() as conn:
        assert [w["id"] for w in webhooks.listed(conn, None)] == [theirs]


def test_nothing_is_lost_across_a_restart(engine, database_url):
    subscribe(engine)
    notify(engine, items=[("customer-0", {"n": i}) for i in range(3)])
    engine.dispose()  # the service stops before delivering anything
    again = db.connect(database_url)
    subscriber = Subscriber()
    assert deliver(again, 1000, subscriber) == (3, 0)
    again.dispose()


@pytest.mark.parametrize("url", ["http://inside.example/x", "http://local.example/x", "http://link.example/x",
                                 "http://v6.example/x"])  # fmt: skip
def test_private_destinations_are_refused_unless_allowed(engine, url):
    with pytest.raises(ValueError, match="not a public address"):
        subscribe(engine, url)
    assert subscribe(engine, url, allow_private=True)


def test_a_destination_that_turned_private_is_not_posted_to(engine):
    subscribe(engine)
    notify(engine)
    PUBLIC["hooks.example"] = ["192.168.1.2"]  # DNS now points inside
    try:
        subscriber = Subscriber()
        assert deliver(engine, 1000, subscriber) == (0, 0) and subscriber.received == []
    finally:
        PUBLIC["hooks.example"] = ["93.184.215.14"]


@pytest.mark.parametrize("url,secret,events", [("ftp://x", SECRET, ["ggo.issued"]),
                                               ("http://hooks.example/x", "short", ["ggo.issued"]),
                                               ("http://hooks.example/x", SECRET, ["ggo.burned"])])  # fmt: skip
def test_bad_subscriptions(engine, url, secret, events):
    with pytest.raises(ValueError):
        webhooks.subscribe(engine, url, secret, events, resolve=resolve)
