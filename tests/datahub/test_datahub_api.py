"""The DataHub service's API: who sees and decides what about meters, measurements and their
sums (paged, summed in SQL), the GSRN access rule."""

import pytest
from datahub_world import BEGIN, END, FLEET, hub_api
from sqlalchemy import insert

from harness.issuer import Issuer
from origin.datahub import db
from origin.datahub.importer import Importer
from origin.protocol.limits import JSON_BODY_BYTES_MAX, LIST_LIMIT_MAX
from origin.protocol.times import parse_time
from origin.protocol.wallet import Wallet

SECTORS = frozenset({"DK1", "DK2"})


@pytest.fixture
def api(setup):
    importer, ledger, engine, owners, _ = setup
    importer().run(BEGIN, END)
    issuer = Issuer()
    tokens = {"issuer": issuer.operator(), "alice": issuer.owner(datahub_owner="customer-0"),
              "bob": issuer.owner(datahub_owner="customer-1")}  # fmt: skip
    client = hub_api(engine, issuer, importer())

    def as_(name):
        return {"Authorization": f"Bearer {tokens.get(name, name)}"}

    return client, as_, engine


def test_authentication_is_required(api):
    client, as_, engine = api
    assert client.get("/v1/meters").status_code == 401
    assert client.get("/v1/meters", headers=as_("stolen")).json()["error"]["code"] == "unauthenticated"


def test_owners_see_their_own_meters_only(api):
    client, as_, _ = api
    everyone = client.get("/v1/meters", headers=as_("issuer")).json()["meters"]
    alices = client.get("/v1/meters", headers=as_("alice")).json()["meters"]
    assert len(everyone) == len(FLEET) and alices and all(m["owner"] == "customer-0" for m in alices)
    bobs_meter = next(m for m in FLEET if m.owner == "customer-1").gsrn
    assert client.get(f"/v1/meters/{bobs_meter}", headers=as_("alice")).status_code == 404
    assert client.get(f"/v1/meters/{bobs_meter}", headers=as_("bob")).json()["waiting_for"] == []


def test_an_owner_claims_nothing_but_the_xpub(api):
    """Type, sector and technology come from the DataHub and the issuing body: an owner can
    neither register a meter nor set what is certified."""
    client, as_, _ = api
    alices = next(m for m in FLEET if m.owner == "customer-0" and m.type_of_mp == "E18").gsrn
    assert client.post("/v1/meters", json={"gsrn": alices}, headers=as_("alice")).status_code == 405
    for path, body in (("technology", {"tech_type": "T020002", "fuel_type": "F01050100"}), ("sector", {"sector": "DK2"}),
                       ("enabled", {"enabled": False})):  # fmt: skip
        assert client.put(f"/v1/meters/{alices}/{path}", json=body, headers=as_("alice")).status_code == 403
    assert client.post(f"/v1/meters/{alices}/release", headers=as_("alice")).status_code == 403
    assert client.post("/v1/meters/sync", headers=as_("alice")).status_code == 403


def test_the_issuing_body_decides_technology_sector_and_disabling(api):
    client, as_, _ = api
    production = next(m for m in FLEET if m.type_of_mp == "E18").gsrn
    consumption = next(m for m in FLEET if m.type_of_mp == "E17").gsrn
    r = client.put(f"/v1/meters/{production}/technology", json={"tech_type": "T020002", "fuel_type": "F01050100"},
                   headers=as_("issuer"))  # fmt: skip
    assert r.status_code == 200 and r.json()["tech_type"] == "T020002"
    r = client.put(f"/v1/meters/{production}/technology", json={"tech_type": "T010000", "fuel_type": "F01050100"},
                   headers=as_("issuer"))  # fmt: skip
    assert r.status_code == 400 and "permitted" in r.json()["error"]["message"]
    r = client.put(f"/v1/meters/{consumption}/technology", json={"tech_type": "T010000", "fuel_type": "F01040100"},
                   headers=as_("issuer"))  # fmt: skip
    assert r.status_code == 409
    r = client.put(f"/v1/meters/{consumption}/sector", json={"sector": "DK9"}, headers=as_("issuer"))
    assert r.status_code == 200 and any("sector the ledger has" in w for w in r.json()["waiting_for"])
    r = client.put(f"/v1/meters/{consumption}/enabled", json={"enabled": False}, headers=as_("issuer"))
    assert "the issuing body disabled it" in r.json()["waiting_for"]
    assert client.get("/v1/meters/571313000000999990", headers=as_("issuer")).status_code == 404


def test_an_xpub_is_given_once_by_its_owner_at_the_meter_depth(api):
    client, as_, engine = api
    table = db.meters
    with engine.begin() as conn:  # a new meter the DataHub listed for customer-1, still without an xpub
        conn.execute(insert(table).values(gsrn="571313000000888889", type="CONSUMPTION", owner="customer-1",
                                          sector="DK1"))  # fmt: skip
    g, wallet = "571313000000888889", Wallet.generate()
    body = {"meter_xpub": wallet.meter_xpub(9)}
    assert client.put(f"/v1/meters/{g}/xpub", json=body, headers=as_("alice")).status_code == 404
    for wrong, why in ((wallet.xpub, "depth 2"), (wallet.xprv, "never a private one"), ("xpubnope", "not a valid")):
        r = client.put(f"/v1/meters/{g}/xpub", json={"meter_xpub": wrong}, headers=as_("bob"))
        assert r.status_code == 400 and why in r.json()["error"]["message"]
    taken = client.get(f"/v1/meters/{next(m for m in FLEET if m.owner == 'customer-1').gsrn}",
                       headers=as_("bob")).json()["meter_xpub"]  # fmt: skip
    r = client.put(f"/v1/meters/{g}/xpub", json={"meter_xpub": taken}, headers=as_("bob"))
    assert r.status_code == 409 and "another meter's" in r.json()["error"]["message"]
    assert client.put(f"/v1/meters/{g}/xpub", json=body, headers=as_("bob")).json()["measurements_addressed"] == 0
    assert client.put(f"/v1/meters/{g}/xpub", json=body, headers=as_("bob")).status_code == 409


def test_measurements_are_paged_and_filtered(api):
    client, as_, _ = api
    everything, after = [], ""
    while after is not None:
        page = client.get("/v1/measurements", params={"limit": 50, "after": after}, headers=as_("issuer")).json()
        everything += page["measurements"]
        after = page["next"]
    keys = [(m["begin"], m["gsrn"]) for m in everything]
    assert len(everything) > 50 and keys == sorted(keys) and len(set(keys)) == len(keys)
    mine = client.get("/v1/measurements", params={"limit": 10000}, headers=as_("alice")).json()["measurements"]
    assert len(mine) < len(everything) and {m["gsrn"] for m in mine} <= {
        m.gsrn for m in FLEET if m.owner == "customer-0"
    }
    production = client.get("/v1/measurements", params={"type": "PRODUCTION", "begin": "2025-10-26T00:00:00Z",
                                                        "end": "2025-10-26T02:00:00Z"}, headers=as_("issuer")).json()  # fmt: skip
    assert production["measurements"] and all(m["type"] == "PRODUCTION" for m in production["measurements"])
    assert client.get("/v1/measurements", params={"begin": "yesterday"}, headers=as_("issuer")).status_code == 400
    assert client.get("/v1/measurements", params={"after": "x"}, headers=as_("issuer")).status_code == 400
    assert client.get("/v1/measurements", params={"limit": 10_001}, headers=as_("issuer")).status_code == 400


def test_summaries_follow_danish_days_and_count_every_row(api):
    client, as_, _ = api
    days = client.get("/v1/measurements/summary", params={"resolution": "day"}, headers=as_("issuer")).json()
    assert [d["period"] for d in days] == ["2025-10-26"]  # the 25-hour day, 22:00Z to 23:00Z
    hours = client.get("/v1/measurements/summary", params={"resolution": "hour"}, headers=as_("issuer")).json()
    assert len(hours) == 25
    rows = client.get("/v1/measurements", params={"limit": 10000}, headers=as_("issuer")).json()["measurements"]
    assert days[0]["production_wh"] + days[0]["consumption_wh"] == sum(m["amount"] for m in rows)
    assert days[0]["measurements"] == len(rows) > 100  # more rows than a page of 100 would hold


def test_the_gsrn_of_a_measurement_only_to_its_owner_and_the_issuer(api):
    client, as_, _ = api
    alices = client.get("/v1/measurements", params={"limit": 1}, headers=as_("alice")).json()["measurements"][0]
    path = f"/v1/measurements/{alices['address']}/gsrn"
    assert client.get(path, headers=as_("alice")).json() == {"address": alices["address"], "gsrn": alices["gsrn"]}
    assert client.get(path, headers=as_("issuer")).json()["gsrn"] == alices["gsrn"]
    refused = client.get(path, headers=as_("bob"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert client.get(path).status_code == 401
    assert client.get(f"/v1/measurements/{'fbb4f9' + '0' * 64}/gsrn", headers=as_("issuer")).status_code == 404


def test_the_gsrn_of_a_measurement_is_found_through_the_ledger_entry_that_published_it(api):
    """Stored but not on the ledger, it is no one's to look up; with the ledger away, 503."""
    client, as_, engine = api
    alices = client.get("/v1/measurements", params={"limit": 1}, headers=as_("alice")).json()["measurements"][0]
    unpublished = "fbb4f9" + "1" * 64
    with engine.begin() as conn:
        conn.execute(db.measurements.update().where(db.measurements.c.gsrn == alices["gsrn"],
                                                    db.measurements.c.begin_s == parse_time(alices["begin"]))
                     .values(address=unpublished))  # fmt: skip
    refused = client.get(f"/v1/measurements/{unpublished}/gsrn", headers=as_("issuer"))
    assert refused.status_code == 404 and "published" in refused.json()["error"]["message"]

    def unreachable(*args, **kw):
        raise ConnectionRefusedError("connection refused")

    issuer = Issuer()
    away = hub_api(engine, issuer, Importer(engine, None, "http://ledger", "x", b"", post=unreachable))
    answer = away.get(f"/v1/measurements/{alices['address']}/gsrn",
                      headers={"Authorization": f"Bearer {issuer.operator()}"})  # fmt: skip
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "ledger_unavailable"


def test_webhooks_of_owners_and_the_issuer_and_issues_for_the_issuer(api):
    client, as_, _ = api
    hook = {"url": "http://93.184.215.14/x", "secret": "s" * 20}
    alices = client.post("/v1/webhooks", json=hook, headers=as_("alice"))
    assert alices.status_code == 201
    assert client.post("/v1/webhooks", json=hook, headers=as_("issuer")).status_code == 201
    inside = client.post("/v1/webhooks", json={**hook, "url": "http://127.0.0.1:9/x"}, headers=as_("alice"))
    assert inside.status_code == 400 and "not a public address" in inside.json()["error"]["message"]
    assert [w["owner"] for w in client.get("/v1/webhooks", headers=as_("alice")).json()] == ["customer-0"]
    assert len(client.get("/v1/webhooks", headers=as_("issuer")).json()) == 2
    assert "secret" not in client.get("/v1/webhooks", headers=as_("alice")).json()[0]
    assert client.delete(f"/v1/webhooks/{alices.json()['id']}", headers=as_("bob")).status_code == 404
    assert client.delete(f"/v1/webhooks/{alices.json()['id']}", headers=as_("alice")).status_code == 204
    assert client.get("/v1/import-issues", headers=as_("alice")).status_code == 403
    page = client.get("/v1/import-issues", params={"limit": 2}, headers=as_("issuer")).json()
    assert isinstance(page["issues"], list) and "next" in page


def test_a_body_over_its_limit_is_refused_before_authentication(api):
    """A stranger's huge body is refused as it streams, before anyone parses or authenticates it."""
    client, as_, _ = api
    gsrn = FLEET[0].gsrn
    chunks = (b" " * 65536 for _ in range(JSON_BODY_BYTES_MAX // 65536 + 2))
    r = client.put(f"/v1/meters/{gsrn}/xpub", content=chunks, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    at_limit = b'{"x": 1}' + b" " * (JSON_BODY_BYTES_MAX - 8)
    r = client.put(f"/v1/meters/{gsrn}/xpub", content=at_limit, headers={"content-type": "application/json"})
    assert r.status_code == 401


def test_numbers_of_any_length_in_a_body_are_refused(api):
    client, as_, _ = api
    body = b'{"meter_xpub": ' + b"9" * 5000 + b"}"
    r = client.put(f"/v1/meters/{FLEET[0].gsrn}/xpub", content=body,
                   headers={**as_("bob"), "content-type": "application/json"})  # fmt: skip
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed"


def test_the_openapi_document_declares_the_bearer_scheme_and_refusals(api):
    client, _, _ = api
    spec = client.get("/openapi.json").json()
    assert {"401", "404", "409"} <= set(spec["paths"]["/v1/meters/{gsrn}/xpub"]["put"]["responses"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, methods in spec["paths"].items():  # every answer has its schema
        for method, operation in methods.items():
            for status, answer in operation["responses"].items():
                if status != "204":
                    assert "schema" in answer.get("content", {}).get("application/json", {}), (method, path, status)
    assert spec["paths"]["/v1/meters"]["get"]["security"] == [{"HTTPBearer": []}]


def test_sums_are_right_past_every_page_and_limit(api):
    """More rows than the largest page: the sums count every one (they are SQL's, not a page's)."""
    client, as_, engine = api
    gsrn = next(m for m in FLEET if m.type_of_mp == "E17").gsrn
    start = parse_time("2024-01-01T00:00:00Z")
    rows = [{"gsrn": gsrn, "begin_s": start + 900 * i, "end_s": start + 900 * (i + 1), "amount_wh": 2}
            for i in range(LIST_LIMIT_MAX + 1)]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(db.measurements), rows)
    months = client.get("/v1/measurements/summary", params={"resolution": "month", "end": "2024-06-01T00:00:00Z"},
                        headers=as_("issuer")).json()  # fmt: skip
    assert sum(m["measurements"] for m in months) == LIST_LIMIT_MAX + 1
    assert sum(m["consumption_wh"] for m in months) == 2 * (LIST_LIMIT_MAX + 1)
    assert [m["period"] for m in months] == ["2024-01", "2024-02", "2024-03", "2024-04"]
