"""The DataHub client against the fake DataHub: the prefix, JWT tokens cached until exp and
renewed on 401, the rate limits kept by a limiter, 429 and 503 waited out for the minute the
API asks, 400 refusals with their codes, dates never past today, per-meter errors."""

import base64
import json
from datetime import date

import pytest
from fastapi.testclient import TestClient

from origin.datahub import synthetic
from origin.datahub.client import RETRY_WAIT_S, DataHubClient, DataHubError, RateLimiter, danish_days
from origin.datahub.fake import PREFIX, REFRESH_TOKEN, create_fake_app
from origin.protocol.times import parse_time

NOW = parse_time("2025-11-01T12:00:00Z")
BASE = f"http://fake{PREFIX}"


class Transport:
    """Routes the client's requests into an app, and can fail some on purpose."""

    def __init__(self, app, failures=()):
        self.client, self.failures, self.calls, self.statuses = TestClient(app), list(failures), [], []

    def __call__(self, method, url, body=None, headers=None):
        path = url.removeprefix("http://fake")
        self.calls.append((method, path.removeprefix(PREFIX)))
        if self.failures:
            return self.failures.pop(0), b"busy"
        r = self.client.request(method, path, content=body, headers=headers)
        self.statuses.append(r.status_code)
        return r.status_code, r.content


class Clock:
    def __init__(self, now=NOW):
        self.now, self.slept = now, []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def make(failures=(), clock=None, rate_limits=False, **kw):
    clock = clock or Clock()
    app = create_fake_app(clock=clock, rate_limits=rate_limits, **kw)
    transport = Transport(app, failures)
    return DataHubClient(BASE, REFRESH_TOKEN, request=transport, sleep=clock.sleep, clock=clock), transport, clock


def test_danish_days_and_today():
    days = danish_days(parse_time("2025-03-29T23:00:00Z"), parse_time("2025-03-30T22:00:00Z"))
    assert [str(d) for d in days] == ["2025-03-30", "2025-03-31"]
    today = danish_days(parse_time("2025-01-01T12:00:00Z"), parse_time("2025-01-01T13:00:00Z"))
    assert [str(d) for d in today] == ["2025-01-01", "2025-01-02"]
    assert danish_days(parse_time("2025-01-01T12:00:00Z"), parse_time("2025-01-01T13:00:00Z"), date(2025, 1, 1)) is None


def test_readings_of_exactly_the_period_asked_for():
    client, _, _ = make()
    gsrns = [m.gsrn for m in synthetic.fleet()]
    begin, end = parse_time("2025-10-26T10:00:00Z"), parse_time("2025-10-26T14:00:00Z")
    readings, errors = client.timeseries(gsrns, begin, end)
    assert not errors and readings
    assert all(begin <= r.begin_s and r.end_s <= end for r in readings)
    hourly = [m for m in synthetic.fleet() if m.resolution == "PT1H"]
    assert sum(r.gsrn == hourly[0].gsrn for r in readings) == 4


def test_today_is_asked_for_tomorrow():
    client, transport, _ = make()
    readings, errors = client.timeseries([synthetic.fleet()[0].gsrn], NOW - 7200, NOW)
    assert (readings, errors) == ([], []) and not any("gettimeseries" in url for _, url in transport.calls)
    readings, _ = client.timeseries([synthetic.fleet()[0].gsrn], NOW - 86400, NOW)
    assert readings and all(r.end_s <= parse_time("2025-10-31T23:00:00Z") for r in readings)


def test_at_most_ten_meters_a_call():
    client, transport, _ = make(meters=synthetic.fleet(25))
    client.timeseries([m.gsrn for m in synthetic.fleet(25)], parse_time("2025-01-01T00:00:00Z"),
                      parse_time("2025-01-01T01:00:00Z"))  # fmt: skip
    assert sum("gettimeseries" in url for _, url in transport.calls) == 3


def test_the_token_is_kept_until_its_exp_and_renewed_on_401():
    client, transport, clock = make(token_ttl_s=3600)
    for _ in range(5):
        client.metering_points("customerKey", "customer-0")
    assert sum(url == "/api/token" for _, url in transport.calls) == 1
    clock.now += 3600  # past exp, less the margin
    client.metering_points("customerKey", "customer-0")
    assert sum(url == "/api/token" for _, url in transport.calls) == 2
    client._access = ("revoked.token.x", clock.now + 999)
    assert client.metering_points("customerKey", "customer-0")
    assert sum(url == "/api/token" for _, url in transport.calls) == 3


def test_the_services_processes_share_one_token_through_its_file(tmp_path):
    """`datahub sync`, `datahub import` and the scheduled import are processes of their own:
    with the token kept in the service's folder they spend one of the API's two token calls a
    minute between them, not one each."""
    clock = Clock()
    transport = Transport(create_fake_app(clock=clock, rate_limits=True, token_ttl_s=3600))
    kept = tmp_path / "datahub-access-token"

    def process():
        return DataHubClient(BASE, REFRESH_TOKEN, request=transport, sleep=clock.sleep, clock=clock, token_file=kept)

    for _ in range(4):
        process().metering_points("customerKey", "customer-0")
    assert sum(url == "/api/token" for _, url in transport.calls) == 1 and 429 not in transport.statuses
    assert kept.stat().st_mode & 0o077 == 0  # the owner's only
    claims = base64.urlsafe_b64encode(json.dumps({"exp": clock.now + 86400}).encode()).decode().rstrip("=")
    revoked = f"e30.{claims}.x"  # within its exp, but the API no longer takes it: dropped, a new one kept
    kept.write_text(revoked)
    assert process().metering_points("customerKey", "customer-0")
    assert sum(url == "/api/token" for _, url in transport.calls) == 2 and kept.read_text() != revoked
    assert transport.statuses.count(401) == 1


def test_the_rate_limits_are_kept_not_discovered():
    """150 calls in a row: the client waits instead of being refused."""
    client, transport, clock = make(rate_limits=True)
    for _ in range(150):
        client.metering_points("customerKey", "customer-0")
    assert len(transport.statuses) == 151 and 429 not in transport.statuses
    assert sum(clock.slept) >= 60 - 1e-6


def test_busy_answers_are_waited_out_for_a_minute_then_reported():
    client, _, clock = make(failures=[503, 429])
    assert client.metering_points("customerKey", "customer-0")
    assert clock.slept.count(RETRY_WAIT_S) == 2
    client, _, _ = make(failures=[503] * 10)
    with pytest.raises(DataHubError, match="still after"):
        client.metering_points("customerKey", "customer-0")


def test_a_refused_request_names_the_apis_code():
    client, _, _ = make()
    with pytest.raises(DataHubError) as exc:
        client._call("POST", "/api/meterdata/gettimeseries/2025-01-02/2025-01-02/Actual",
                     {"meteringPoints": {"meteringPoint": []}})  # fmt: skip
    assert exc.value.code == 30002


def test_authorisations_and_details():
    client, _, _ = make()
    grants = client.authorizations()
    points = client.metering_points("authorizationId", grants[0]["id"])
    ids = client.metering_point_ids("authorizationId", grants[0]["id"])
    assert [p["meteringPointId"] for p in points] == ids
    found, errors = client.details([*ids, "571313999999999990"])
    assert set(found) == set(ids) and [e.code for e in errors] == [20012]


def test_a_limiter_waits_for_the_minute():
    clock = Clock()
    limiter = RateLimiter(2, clock, clock.sleep)
    for _ in range(3):
        limiter.wait()
    assert clock.slept == [60]
