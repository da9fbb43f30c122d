"""The DataHub service's API: meters, measurements, summaries, and the GSRN access rule."""

import pytest
from datahub_world import BEGIN, END, FLEET
from fastapi.testclient import TestClient

from origin.datahub import gsrn, meters
from origin.datahub.api import create_datahub_app
from origin.datahub.auth import TokenTable
from origin.protocol.limits import JSON_BODY_BYTES_MAX
from origin.protocol.wallet import Wallet

TOKENS = {"issuer-token": {"subject": "energinet", "role": "issuer"},
          "alice-token": {"subject": "customer-0", "role": "owner"},
          "bob-token": {"subject": "customer-1", "role": "owner"}}  # fmt: skip


@pytest.fixture
def api(setup):
    importer, ledger, engine, owners, _ = setup
    importer().run(BEGIN, END)
    client = TestClient(create_datahub_app(engine, TokenTable(TOKENS)))

    def as_(token):
        return {"Authorization": f"Bearer {token}"}

    return client, as_, engine


def test_authentication_is_required(api):
    client, as_, _ = api
    assert client.get("/v1/meters").status_code == 401
    assert client.get("/v1/meters", headers=as_("stolen")).json()["error"]["code"] == "unauthenticated"


def test_owners_see_their_own_meters_only(api):
    client, as_, _ = api
    everyone = client.get("/v1/meters", headers=as_("issuer-token")).json()
    alices = client.get("/v1/meters", headers=as_("alice-token")).json()
    assert len(everyone) == len(FLEET) and alices and all(m["owner"] == "customer-0" for m in alices)
    bobs_meter = next(m for m in FLEET if m.owner == "customer-1").gsrn
    assert client.get(f"/v1/meters/{bobs_meter}", headers=as_("alice-token")).status_code == 404
    assert client.get(f"/v1/meters/{bobs_meter}", headers=as_("bob-token")).status_code == 200


def test_registering_meters(api):
    client, as_, _ = api
    meter = {"gsrn": gsrn.make("57131300000099999"), "type": "PRODUCTION", "sector": "DK2", "owner": "customer-0",
             "tech_type": "T010000", "fuel_type": "F01040100", "meter_xpub": Wallet.generate().meter_xpub(7)}  # fmt: skip
    assert (
        client.post("/v1/meters", json={**meter, "owner": "customer-1"}, headers=as_("alice-token")).status_code == 403
    )
    assert client.post("/v1/meters", json=meter, headers=as_("alice-token")).status_code == 201
    again = client.post("/v1/meters", json=meter, headers=as_("issuer-token"))
    assert again.status_code == 400 and "registered already" in again.json()["error"]["message"]
    for change, why in (({"gsrn": "571313000000999990"}, "check digit"), ({"tech_type": "T020000"}, "does not take fuel"),
                        ({"meter_xpub": Wallet.generate().xprv}, "never a private one"), ({"type": "BOTH"}, "type")):  # fmt: skip
        r = client.post("/v1/meters", json={**meter, **change}, headers=as_("issuer-token"))
        assert r.status_code == 400 and why in r.text, change


def test_measurements_and_filters(api):
    client, as_, _ = api
    all_ = client.get("/v1/measurements", params={"limit": 10000}, headers=as_("issuer-token")).json()
    mine = client.get("/v1/measurements", params={"limit": 10000}, headers=as_("alice-token")).json()
    assert len(mine) < len(all_) and {m["gsrn"] for m in mine} <= {m.gsrn for m in FLEET if m.owner == "customer-0"}
    production = client.get("/v1/measurements", params={"type": "PRODUCTION", "begin": "2025-10-26T00:00:00Z",
                                                        "end": "2025-10-26T02:00:00Z"}, headers=as_("issuer-token")).json()  # fmt: skip
    assert production and all(
        m["type"] == "PRODUCTION" and "2025-10-26T00" <= m["begin"] < "2025-10-26T02" for m in production
    )
    assert client.get("/v1/measurements", params={"begin": "yesterday"}, headers=as_("issuer-token")).status_code == 400


def test_summaries_per_day_follow_danish_days(api):
    client, as_, _ = api
    days = client.get("/v1/measurements/summary", params={"resolution": "day"}, headers=as_("issuer-token")).json()
    assert [d["period"] for d in days] == ["2025-10-26"]  # the 25-hour day, 22:00Z to 23:00Z
    hours = client.get("/v1/measurements/summary", params={"resolution": "hour"}, headers=as_("issuer-token")).json()
    assert len(hours) == 25
    total = sum(
        m["amount"] for m in client.get("/v1/measurements", params={"limit": 10000}, headers=as_("issuer-token")).json()
    )
    assert days[0]["production_wh"] + days[0]["consumption_wh"] == total


def test_the_gsrn_of_a_measurement_only_to_its_owner_and_the_issuer(api):
    client, as_, _ = api
    alices = client.get("/v1/measurements", params={"limit": 1}, headers=as_("alice-token")).json()[0]
    path = f"/v1/measurements/{alices['address']}/gsrn"
    assert client.get(path, headers=as_("alice-token")).json() == {"address": alices["address"], "gsrn": alices["gsrn"]}
    assert client.get(path, headers=as_("issuer-token")).json()["gsrn"] == alices["gsrn"]
    refused = client.get(path, headers=as_("bob-token"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert client.get(path).status_code == 401
    assert client.get(f"/v1/measurements/{'fbb4f9' + '0' * 64}/gsrn", headers=as_("issuer-token")).status_code == 404


def test_webhooks_and_issues_are_for_the_issuer(api):
    client, as_, _ = api
    hook = {"url": "http://hooks.example/x", "secret": "s" * 20}
    assert client.post("/v1/webhooks", json=hook, headers=as_("alice-token")).status_code == 403
    assert client.post("/v1/webhooks", json=hook, headers=as_("issuer-token")).status_code == 201
    assert isinstance(client.get("/v1/import-issues", headers=as_("issuer-token")).json(), list)


def test_setting_an_xpub_through_the_api(api):
    client, as_, engine = api
    g = gsrn.make("57131300000088888")
    meters.register(engine, gsrn=g, type="CONSUMPTION", sector="DK1", owner="customer-1")
    body = {"meter_xpub": Wallet.generate().meter_xpub(0)}
    assert client.put(f"/v1/meters/{g}/xpub", json=body, headers=as_("alice-token")).status_code == 404
    assert client.put(f"/v1/meters/{g}/xpub", json=body, headers=as_("bob-token")).json()["measurements_addressed"] == 0
    assert client.put(f"/v1/meters/{g}/xpub", json=body, headers=as_("bob-token")).status_code == 400


def test_a_body_over_its_limit_is_refused_before_authentication(api):
    """A stranger's huge body is refused as it streams, before anyone parses or authenticates it."""
    client, as_, _ = api
    chunks = (b" " * 65536 for _ in range(JSON_BODY_BYTES_MAX // 65536 + 2))
    r = client.post("/v1/meters", content=chunks, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    at_limit = b'{"x": 1}' + b" " * (JSON_BODY_BYTES_MAX - 8)
    assert client.post("/v1/meters", content=at_limit, headers={"content-type": "application/json"}).status_code == 401


def test_numbers_of_any_length_in_a_body_are_refused(api):
    client, as_, _ = api
    body = b'{"gsrn": ' + b"9" * 5000 + b', "type": "PRODUCTION", "sector": "DK1", "owner": "customer-0"}'
    r = client.post("/v1/meters", content=body, headers={**as_("issuer-token"), "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed"
