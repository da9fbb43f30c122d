"""The fake DataHub behaves as Energinet documents the third-party API (shared/data/README.md):
the prefix, JWT tokens, rate limits, date rules and their HTTP 400 refusals, per-item errors,
aggregation, authorisations and master data, and a profiled meter's extra series."""

import base64
import json
from datetime import date

import pytest
from fastapi.testclient import TestClient

from origin.datahub import gsrn, synthetic, timeseries
from origin.datahub.fake import PREFIX, REFRESH_TOKEN, authorizations_of, create_fake_app
from origin.protocol.times import parse_time

NOW = parse_time("2025-11-01T12:00:00Z")


def client_with_token(clock=lambda: NOW, **kw):
    client = TestClient(create_fake_app(clock=clock, rate_limits=False, **kw))
    token = client.get(f"{PREFIX}/api/token", headers={"Authorization": f"Bearer {REFRESH_TOKEN}"}).json()["result"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def series(client, gsrns, date_from, date_to, aggregation="Actual"):
    r = client.post(f"{PREFIX}/api/meterdata/gettimeseries/{date_from}/{date_to}/{aggregation}",
                    json={"meteringPoints": {"meteringPoint": gsrns}})  # fmt: skip
    assert r.status_code == 200, r.text
    return timeseries.parse(r.json())


def test_meters_are_valid_and_varied_and_paths_match_in_any_case():
    fleet = synthetic.fleet()
    assert all(gsrn.validate(m.gsrn) for m in fleet)
    assert {m.kind for m in fleet} == set(synthetic.KINDS)
    client = client_with_token()
    points = client.get("/ThirdPartyApi/API/Authorization/Authorization/MeteringPoints/customerKey/customer-1")
    assert points.status_code == 200 and {p["meteringPointId"] for p in points.json()["result"]} == {
        m.gsrn for m in fleet if m.owner == "customer-1"}  # fmt: skip
    assert client.get(f"{PREFIX}//api/isalive").json() is True
    assert client.get("/api/isalive").status_code == 404  # only under the prefix


def test_the_access_token_is_a_jwt_with_exp():
    client = TestClient(create_fake_app(clock=lambda: NOW))
    token = client.get(f"{PREFIX}/api/token", headers={"Authorization": f"Bearer {REFRESH_TOKEN}"}).json()["result"]
    payload = token.split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"] == NOW + 24 * 3600


def test_tokens_are_required_and_expire():
    now = [NOW]
    client = client_with_token(clock=lambda: now[0])
    assert client.get(f"{PREFIX}/api/authorization/authorizations").status_code == 200
    now[0] += 24 * 3600
    assert client.get(f"{PREFIX}/api/authorization/authorizations").status_code == 401
    plain = TestClient(create_fake_app(clock=lambda: NOW))
    assert plain.get(f"{PREFIX}/api/token", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_rate_limits():
    now = [NOW]
    client = TestClient(create_fake_app(clock=lambda: now[0]))
    asks = [client.get(f"{PREFIX}/api/token", headers={"Authorization": f"Bearer {REFRESH_TOKEN}"}).status_code
            for _ in range(3)]  # fmt: skip
    assert asks == [200, 200, 429]
    now[0] += 60
    assert client.get(f"{PREFIX}/api/isalive").status_code == 200
    statuses = [client.get(f"{PREFIX}/api/isalive").status_code for _ in range(120)]
    assert statuses.count(429) == 1  # the 121st call of the minute


@pytest.mark.parametrize("dates,code", [(("2025-01-02", "2025-01-02"), 30002), (("2025-01-03", "2025-01-02"), 30001),
                                        (("2025-13-01", "2025-01-02"), 30004), (("2025-10-31", "2025-11-02"), 30003),
                                        (("2025-11-02", "2025-11-03"), 30000)])  # fmt: skip
def test_request_errors_are_400_with_a_bare_string(dates, code):
    client = client_with_token()
    r = client.post(f"{PREFIX}/api/meterdata/gettimeseries/{dates[0]}/{dates[1]}/Actual",
                    json={"meteringPoints": {"meteringPoint": [synthetic.fleet()[0].gsrn]}})  # fmt: skip
    assert r.status_code == 400 and isinstance(r.json(), str) and r.json().startswith(f"#{code}:")


def test_errors_per_item_and_at_most_ten_meters():
    client = client_with_token()
    good = synthetic.fleet()[0].gsrn
    readings, errors = series(client, [good, "123", gsrn.make("57131399999999999")], "2025-01-01", "2025-01-02")
    assert {e.code for e in errors} == {20003, 20012} and readings
    r = client.post(f"{PREFIX}/api/meterdata/gettimeseries/2025-01-01/2025-01-02/Actual",
                    json={"meteringPoints": {"meteringPoint": [good] * 11}})  # fmt: skip
    assert r.status_code == 429


def test_dst_days_and_resolutions():
    fleet = synthetic.fleet()
    hourly = next(m for m in fleet if m.resolution == "PT1H")
    quarterly = next(m for m in fleet if m.resolution == "PT15M")
    client = client_with_token(meters=fleet)
    for day, after, hours in (("2025-03-30", "2025-03-31", 23), ("2025-10-26", "2025-10-27", 25),
                              ("2025-06-01", "2025-06-02", 24)):  # fmt: skip
        readings, errors = series(client, [hourly.gsrn, quarterly.gsrn], day, after)
        assert not errors
        assert sum(r.gsrn == hourly.gsrn for r in readings) == hours
        assert sum(r.gsrn == quarterly.gsrn for r in readings) == 4 * hours


def test_aggregation_sums_the_meter_readings():
    quarterly = next(m for m in synthetic.fleet() if m.resolution == "PT15M")
    client = client_with_token()
    actual, _ = series(client, [quarterly.gsrn], "2025-06-01", "2025-06-02")
    hourly, _ = series(client, [quarterly.gsrn], "2025-06-01", "2025-06-02", "Hour")
    assert len(actual) == 96 and len(hourly) == 24
    if all(r.amount_wh is not None for r in actual):
        assert sum(r.amount_wh for r in actual) == sum(r.amount_wh for r in hourly)
    r = client.post(f"{PREFIX}/api/meterdata/gettimeseries/2025-06-01/2025-06-02/Day",
                    json={"meteringPoints": {"meteringPoint": [quarterly.gsrn]}})  # fmt: skip
    assert r.json()["result"][0]["MyEnergyData_MarketDocument"]["TimeSeries"][0]["Period"][0]["resolution"] == "PT1D"


def test_a_profiled_meter_has_a_monthly_statement_series_that_the_parser_leaves_out():
    profiled = next(m for m in synthetic.fleet() if m.profiled)
    client = client_with_token()
    r = client.post(f"{PREFIX}/api/meterdata/gettimeseries/2025-06-01/2025-06-02/Actual",
                    json={"meteringPoints": {"meteringPoint": [profiled.gsrn]}})  # fmt: skip
    kinds = [(ts["businessType"], ts["Period"][0]["resolution"])
             for ts in r.json()["result"][0]["MyEnergyData_MarketDocument"]["TimeSeries"]]  # fmt: skip
    assert kinds == [("A04", "PT1H"), ("A64", "P1M")]
    readings, errors = timeseries.parse(r.json())
    assert not errors and len(readings) == 24


def test_a_day_not_yet_over_comes_back_cut_short():
    hourly = next(m for m in synthetic.fleet() if m.resolution == "PT1H")
    client = client_with_token(clock=lambda: parse_time("2025-11-01T10:30:00Z"))  # 11:30 in Copenhagen
    r = client.post(f"{PREFIX}/api/meterdata/gettimeseries/2025-10-31/2025-11-01/Actual",
                    json={"meteringPoints": {"meteringPoint": [hourly.gsrn]}})  # fmt: skip
    assert len(timeseries.parse(r.json())[0]) == 24  # yesterday is whole; today may not be asked for


def test_authorisations_metering_points_and_details():
    fleet = synthetic.fleet()
    client = client_with_token()
    grants = client.get(f"{PREFIX}/api/authorization/authorizations").json()["result"]
    assert {g["customerKey"] for g in grants} == {m.owner for m in fleet}
    first = grants[0]
    points = client.get(f"{PREFIX}/api/authorization/authorization/meteringpoints/authorizationId/{first['id']}")
    ids = client.get(f"{PREFIX}/api/authorization/authorization/meteringpointids/authorizationId/{first['id']}")
    assert [p["meteringPointId"] for p in points.json()["result"]] == ids.json()["result"]
    assert all(p["postcode"] and p["typeOfMP"] in ("E17", "E18") for p in points.json()["result"])
    details = client.post(f"{PREFIX}/api/meteringpoint/getdetails",
                          json={"meteringPoints": {"meteringPoint": [*ids.json()["result"], "571313999999999990"]}})  # fmt: skip
    items = details.json()["result"]
    assert [i["success"] for i in items] == [True] * len(ids.json()["result"]) + [False]


def test_an_expired_authorisation_gives_no_access():
    fleet = synthetic.fleet()
    grants = authorizations_of(fleet, valid_to=date(2025, 6, 1))
    client = client_with_token(meters=fleet, authorizations=grants)
    assert client.get(f"{PREFIX}/api/authorization/authorizations").json()["result"] == []
    readings, errors = series(client, [fleet[0].gsrn], "2025-05-31", "2025-06-02")
    assert len({r.begin_s for r in readings}) == 24 and not errors  # the day still covered, only
