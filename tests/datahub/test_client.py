"""The DataHub client against the fake DataHub: tokens, renewal, retries, day boundaries."""

import pytest
from fastapi.testclient import TestClient

from origin.datahub import synthetic
from origin.datahub.client import DataHubClient, DataHubError, danish_days
from origin.datahub.fake import REFRESH_TOKEN, create_fake_app
from origin.protocol.times import parse_time


class Transport:
    """Routes the client's requests into an app, and can fail some on purpose."""

    def __init__(self, app, failures=()):
        self.client, self.failures, self.calls = TestClient(app), list(failures), []

    def __call__(self, method, url, body=None, headers=None):
        self.calls.append((method, url.removeprefix("http://fake")))
        if self.failures:
            return self.failures.pop(0), b"busy"
        r = self.client.request(method, url.removeprefix("http://fake"), content=body, headers=headers)
        return r.status_code, r.content


def make(failures=(), clock=None, **kw):
    app = create_fake_app(clock=clock or (lambda: 1e9), **kw)
    transport = Transport(app, failures)
    return DataHubClient("http://fake", REFRESH_TOKEN, request=transport, sleep=lambda s: None), transport


def test_danish_days():
    assert [str(d) for d in danish_days(parse_time("2025-03-29T23:00:00Z"), parse_time("2025-03-30T22:00:00Z"))] == [
        "2025-03-30",
        "2025-03-31",
    ]
    assert [str(d) for d in danish_days(parse_time("2025-01-01T12:00:00Z"), parse_time("2025-01-01T13:00:00Z"))] == [
        "2025-01-01",
        "2025-01-02",
    ]


def test_readings_of_exactly_the_period_asked_for():
    client, _ = make()
    gsrns = [m.gsrn for m in synthetic.fleet()]
    begin, end = parse_time("2025-10-26T10:00:00Z"), parse_time("2025-10-26T14:00:00Z")
    readings, errors = client.timeseries(gsrns, begin, end)
    assert not errors and readings
    assert all(begin <= r.begin_s and r.end_s <= end for r in readings)
    hourly = [m for m in synthetic.fleet() if m.resolution == "PT1H"]
    assert sum(r.gsrn == hourly[0].gsrn for r in readings) == 4


def test_at_most_ten_meters_a_call():
    client, transport = make(meters=synthetic.fleet(25))
    client.timeseries([m.gsrn for m in synthetic.fleet(25)], parse_time("2025-01-01T00:00:00Z"),
                      parse_time("2025-01-01T01:00:00Z"))  # fmt: skip
    assert sum("gettimeseries" in url for _, url in transport.calls) == 3


def test_an_expired_token_is_renewed_once():
    now = [1e9]
    client, transport = make(clock=lambda: now[0], token_ttl_s=60)
    client.metering_points("customerKey", "customer-0")
    now[0] += 120
    assert client.metering_points("customerKey", "customer-0")
    assert sum(url == "/api/token" for _, url in transport.calls) == 2


def test_busy_answers_are_retried_then_given_up():
    client, _ = make(failures=[503, 429])
    assert client.metering_points("customerKey", "customer-0")
    client, _ = make(failures=[503] * 10)
    with pytest.raises(DataHubError, match="still refused"):
        client.metering_points("customerKey", "customer-0")
