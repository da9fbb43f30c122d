"""Webhooks: HMAC-SHA256 signatures, retries with backoff, nothing lost across a restart."""

import hashlib
import hmac
import json

import pytest
from sqlalchemy import select

from origin.datahub import db, webhooks

SECRET = "a-secret-of-some-length"


class Subscriber:
    """Answers with the statuses it is given (then 200), and keeps what it received."""

    def __init__(self, statuses=()):
        self.statuses, self.received = list(statuses), []

    def __call__(self, method, url, body=None, timeout=None, headers=None):
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


def notify(engine, now_s=1000, payloads=({"address": "fbb4f9" + "0" * 64, "amount": 5},)):
    with engine.begin() as conn:
        webhooks.enqueue(conn, "measurement.published", list(payloads), now_s)


def test_deliveries_are_signed(engine):
    webhooks.subscribe(engine, "http://hooks.example/a", SECRET)
    webhooks.subscribe(engine, "http://hooks.example/b", SECRET, events=["ggo.issued"])
    notify(engine)
    subscriber = Subscriber()
    assert webhooks.deliver_due(engine, 1000, post=subscriber) == (1, 0)
    ((url, body, headers),) = subscriber.received  # only the subscriber of that event
    assert url == "http://hooks.example/a" and json.loads(body)["amount"] == 5
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Origin-Signature"] == expected and headers["X-Origin-Event"] == "measurement.published"
    assert webhooks.deliver_due(engine, 2000, post=subscriber) == (0, 0)  # delivered once


def test_failures_are_retried_with_backoff(engine):
    webhooks.subscribe(engine, "http://hooks.example/a", SECRET)
    notify(engine)
    subscriber = Subscriber([500, None, 503])
    assert webhooks.deliver_due(engine, 1000, post=subscriber) == (0, 0)
    assert webhooks.deliver_due(engine, 1004, post=subscriber) == (0, 0)  # not due yet: 5 s
    assert webhooks.deliver_due(engine, 1005, post=subscriber) == (0, 0)  # no answer
    assert webhooks.deliver_due(engine, 1014, post=subscriber) == (0, 0)  # 10 s later: not yet
    assert webhooks.deliver_due(engine, 1015, post=subscriber) == (0, 0)  # 503
    assert webhooks.deliver_due(engine, 1035, post=subscriber) == (1, 0)  # 20 s later: delivered
    assert len(subscriber.received) == 4


def test_a_subscriber_that_never_answers_is_marked_failed(engine):
    webhooks.subscribe(engine, "http://hooks.example/a", SECRET)
    notify(engine)
    subscriber, now = Subscriber([500] * webhooks.ATTEMPTS_MAX), 1000
    for _ in range(webhooks.ATTEMPTS_MAX):
        delivered, failed = webhooks.deliver_due(engine, now, post=subscriber)
        now += webhooks.BACKOFF_MAX_S
    assert failed == 1
    with engine.connect() as conn:
        row = conn.execute(select(db.deliveries)).one()
    assert row.status == "FAILED" and row.last_error == "HTTP 500"


def test_nothing_is_lost_across_a_restart(engine, database_url):
    webhooks.subscribe(engine, "http://hooks.example/a", SECRET)
    notify(engine, payloads=[{"n": i} for i in range(3)])
    engine.dispose()  # the service stops before delivering anything
    again = db.connect(database_url)
    subscriber = Subscriber()
    assert webhooks.deliver_due(again, 1000, post=subscriber) == (3, 0)
    assert sorted(json.loads(b)["n"] for _, b, _ in subscriber.received) == [0, 1, 2]
    again.dispose()


@pytest.mark.parametrize("url,secret,events", [("ftp://x", SECRET, ["ggo.issued"]), ("http://x", "short", ["ggo.issued"]),
                                               ("http://x", SECRET, ["ggo.burned"])])  # fmt: skip
def test_bad_subscriptions(engine, url, secret, events):
    with pytest.raises(ValueError):
        webhooks.subscribe(engine, url, secret, events)
