"""The fake DataHub answers in the format the parser reads, with realistic, valid meters."""

from fastapi.testclient import TestClient

from origin.datahub import gsrn, synthetic, timeseries
from origin.datahub.fake import REFRESH_TOKEN, create_fake_app
from origin.protocol.times import parse_time


def client_with_token(**kw):
    client = TestClient(create_fake_app(**kw))
    token = client.get("/api/token", headers={"Authorization": f"Bearer {REFRESH_TOKEN}"}).json()["result"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def series(client, gsrns, date_from, date_to):
    r = client.post(f"/api/meterdata/gettimeseries/{date_from}/{date_to}/Actual",
                    json={"meteringPoints": {"meteringPoint": gsrns}})  # fmt: skip
    return timeseries.parse(r.json())


def test_meters_are_valid_and_varied():
    fleet = synthetic.fleet()
    assert all(gsrn.validate(m.gsrn) for m in fleet)
    assert {m.kind for m in fleet} == set(synthetic.KINDS)
    client = client_with_token()
    points = client.get("/API/Authorization/Authorization/MeteringPoints/customerKey/customer-1").json()["result"]
    assert points and all(p["meteringPointId"] in {m.gsrn for m in fleet} for p in points)
    assert {
        p["typeOfMP"]
        for p in client.get("/api/authorization/authorization/meteringpoints/authorizationId/x").json()["result"]
    } == {"E17", "E18"}


def test_tokens_are_required():
    client = TestClient(create_fake_app())
    assert client.get("/api/token", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/api/meterdata/gettimeseries/2025-01-01/2025-01-02/Actual",
                       json={"meteringPoints": {"meteringPoint": []}}).status_code == 401  # fmt: skip


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


def test_answers_are_deterministic_and_shaped():
    fleet = synthetic.fleet()
    solar = next(m for m in fleet if m.kind == "solar")
    client = client_with_token(meters=fleet)
    first, _ = series(client, [solar.gsrn], "2025-06-01", "2025-06-03")
    again, _ = series(client, [solar.gsrn], "2025-06-01", "2025-06-03")
    assert first == again
    by_begin = {r.begin_s: r.amount_wh for r in first if r.amount_wh is not None}
    assert by_begin.get(parse_time("2025-06-01T00:00:00Z"), 0) == 0  # 02:00 local: dark
    assert by_begin.get(parse_time("2025-06-01T11:00:00Z"), 0) > 0  # 13:00 local: sun


def test_errors_per_item():
    client = client_with_token()
    good = synthetic.fleet()[0].gsrn
    readings, errors = series(client, [good, "123", gsrn.make("57131399999999999")], "2025-01-01", "2025-01-02")
    assert {e.code for e in errors} == {20003, 30005} and readings
    _, errors = series(client, [good], "2025-01-02", "2025-01-02")
    assert errors[0].code == 30002
