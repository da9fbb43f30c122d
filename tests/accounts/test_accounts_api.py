"""The API as an attacker and a third-party developer meet it: every route needs a token (but the
receive notification), no account reaches another's data, bad input is refused in one line,
webhooks carry the account's events, CSV exports hold what the inventory does."""

import csv
import io
import json

import pytest
from accounts_world import FLEET, collector
from fastapi.routing import APIRoute

PUBLIC = {("POST", "/v1/notify")}


def routes(world):
    for route in world.service.app().routes:
        if isinstance(route, APIRoute):
            for method in route.methods:
                yield method, route.path


def test_every_route_but_the_notification_needs_a_token(world):
    checked = 0
    for method, path in routes(world):
        concrete = path.replace("{address}", "62fe8a" + "0" * 64).replace("{op}", "op_x").replace(
            "{webhook_id}", "1").replace("{what}", "ggos")  # fmt: skip
        r = world.api.request(method, concrete, json={})
        if (method, path) in PUBLIC:
            assert r.status_code != 401
            continue
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["error"]["code"] == "unauthenticated"
        r = world.api.request(method, concrete, json={}, headers=world.as_("not-a-token"))
        assert r.status_code == 401
        checked += 1
    assert checked >= 20


def test_no_account_reaches_anothers_data(world):
    producer, consumer = world.producer_and_consumer()
    ggo = world.get(producer, "/v1/ggos", state="available")["ggos"][0]
    op = world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]},
                                                "amount_wh": 1}).json()  # fmt: skip
    hook = world.post(producer, "/v1/webhooks", {"url": "https://example.org/hook", "secret": "s" * 20})
    assert hook.status_code in (201, 400)
    stranger = world.open_account("Stranger")
    them = world.as_(stranger["token"])
    assert world.api.get(f"/v1/ggos/{ggo['address']}", headers=them).status_code == 404
    assert world.api.get(f"/v1/operations/{op['id']}", headers=them).status_code == 404
    assert world.api.delete(f"/v1/operations/{op['id']}", headers=them).status_code == 404
    for path in ("/v1/ggos", "/v1/measurements", "/v1/operations", "/v1/meters", "/v1/webhooks"):
        r = world.api.get(path, headers=them)
        assert r.status_code == 200
        body = r.json()
        assert body in ([], {"ggos": [], "next": None}, {"measurements": [], "next": None},
                        {"operations": [], "next": None}), (path, body)  # fmt: skip
    assert world.api.get("/v1/ggos/summary?resolution=day", headers=them).json() == []
    for what in ("ggos", "transfers", "retirements"):
        assert len(world.api.get(f"/v1/export/{what}.csv", headers=them).text.splitlines()) == 1
    spend = world.api.post("/v1/transfers", json={"ggo": ggo["address"], "to": {"account": stranger["id"]}},
                           headers=them)  # fmt: skip
    assert spend.status_code == 404
    if hook.status_code == 201:
        assert world.api.delete(f"/v1/webhooks/{hook.json()['id']}", headers=them).status_code == 404
    # The operator opens accounts and nothing else; an owner cannot open accounts.
    assert world.api.get("/v1/ggos", headers=world.as_(world.operator)).status_code == 403
    assert world.api.post("/v1/accounts", json={"name": "x"}, headers=them).status_code == 403


def test_a_person_opens_their_own_account_once_under_the_id_their_token_names(world):
    token = world.issuer.owner("acc_" + "1a" * 8, "customer-0")
    assert world.api.get("/v1/account", headers=world.as_(token)).status_code == 404  # not open yet
    without = world.issuer.token("ggo.read meters.write", account="acc_" + "1a" * 8)
    refused = world.api.post("/v1/account", json={"name": "Ada"}, headers=world.as_(without))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    opened = world.api.post("/v1/account", json={"name": "Ada"}, headers=world.as_(token))
    assert opened.status_code == 201 and opened.json()["id"] == "acc_" + "1a" * 8 and "token" not in opened.json()
    again = world.api.post("/v1/account", json={"name": "Ada again"}, headers=world.as_(token))
    assert again.status_code == 409 and again.json()["error"]["code"] == "account_exists"
    assert world.api.get("/v1/account", headers=world.as_(token)).json()["name"] == "Ada"
    odd = world.issuer.owner("acc_../../x", None)
    assert world.api.post("/v1/account", json={"name": "x"}, headers=world.as_(odd)).status_code == 422
    nobody = world.issuer.token()  # a user's token that names no account here
    assert world.api.get("/v1/account", headers=world.as_(nobody)).status_code == 401


def test_a_meter_is_added_with_the_owners_own_token_which_must_reach_the_datahub_service(world):
    gsrn = next(m.gsrn for m in FLEET if m.owner == "customer-0")
    account = world.open_account("Solar Ltd", "customer-0")
    narrow = world.issuer.token(aud=("origin-accounts",), account=account["id"], datahub_owner="customer-0")
    r = world.api.post("/v1/meters", json={"gsrn": gsrn}, headers=world.as_(narrow))
    assert r.status_code == 403 and r.json()["error"]["code"] == "datahub_forbidden", r.text
    elses = world.issuer.owner(account["id"], "customer-1")  # their token, another owner's meter
    assert world.api.post("/v1/meters", json={"gsrn": gsrn}, headers=world.as_(elses)).status_code == 404
    assert world.get(account, "/v1/meters") == []
    assert world.post(account, "/v1/meters", {"gsrn": gsrn}).status_code == 201


@pytest.mark.parametrize("body, code", [
    ({"ggo": "nope", "to": {"account": "acc_x"}}, 404),
    ({"ggo": "62fe8a" + "0" * 64, "to": {}}, 400),
    ({"ggo": "62fe8a" + "0" * 64, "to": {"account": "a", "xpub": "xpub"}}, 400),
    ({"ggo": "62fe8a" + "0" * 64, "to": {"account": "a"}, "amount_wh": 0}, 422),
    ({"ggo": "62fe8a" + "0" * 64, "to": {"account": "a"}, "amount_wh": "many"}, 400),
    ({"ggo": ["x"], "to": {"account": "a"}}, 400),
])  # fmt: skip
def test_bad_transfers_are_refused_in_one_line(world, body, code):
    account = world.open_account("Someone")
    r = world.post(account, "/v1/transfers", body)
    assert r.status_code == code, r.text
    assert set(r.json()) == {"error"} and "\n" not in r.json()["error"]["message"]


def test_bad_queries_and_bodies_are_refused(world):
    account = world.open_account("Someone")
    me = world.as_(account["token"])
    assert world.api.get("/v1/ggos?begin=yesterday", headers=me).json()["error"]["code"] == "malformed"
    assert world.api.get("/v1/ggos?after=zzz", headers=me).status_code == 400
    assert world.api.get("/v1/ggos?limit=0", headers=me).status_code == 400
    assert world.api.get("/v1/ggos/summary?resolution=fortnight", headers=me).status_code == 400
    r = world.api.post("/v1/transfers", content=b"{not json", headers={**me, "Content-Type": "application/json"})
    assert r.status_code == 400
    r = world.api.post("/v1/transfers", content=b"x" * (2 << 20), headers={**me, "Content-Type": "application/json"})
    assert r.status_code == 413
    long_key = {**me, "Idempotency-Key": "k" * 201}
    assert (
        world.api.post("/v1/transfers", json={"ggo": "g", "to": {"account": "a"}}, headers=long_key).status_code == 400
    )
    r = world.api.post("/v1/meters", json={"gsrn": "123"}, headers=me)
    assert r.status_code == 422 and "GSRN" in r.json()["error"]["message"]
    r = world.api.post("/v1/meters", json={"gsrn": "571313000000000000"}, headers=me)
    assert r.json()["error"]["code"] in ("no_datahub_token", "invalid_request")


def test_a_meter_not_in_the_owners_authorisation_is_refused(world):
    producer = world.open_account("Solar Ltd", "customer-0")
    others = [m.gsrn for m in FLEET if m.owner != "customer-0"]
    r = world.post(producer, "/v1/meters", {"gsrn": others[0]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    mine = world.add_meters(producer, "customer-0")
    again = world.post(producer, "/v1/meters", {"gsrn": mine[0]["gsrn"]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "meter_exists"
    assert [m["index"] for m in world.get(producer, "/v1/meters")] == [0, 1]


def test_webhooks_carry_the_accounts_events(world):
    world.service.config.allow_private = True
    producer, consumer = world.producer_and_consumer()
    received = []
    world.router.mount("hooks", collector(received))
    r = world.post(consumer, "/v1/webhooks", {"url": "http://hooks/in", "secret": "s" * 20})
    assert r.status_code == 201, r.text
    ggo = world.get(producer, "/v1/ggos", state="available")["ggos"][0]
    op = world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]}}).json()
    world.service.deliver_webhooks(int(world.clock()))
    events = [(e["event"], e["data"].get("ggo")) for post in received for e in post["events"]]
    mine = world.get(consumer, "/v1/ggos")["ggos"]
    assert events == [("ggo.received", mine[0]["address"])]
    assert all(e["data"].get("id") != op["id"] for post in received for e in post["events"])  # not the sender's


def test_csv_exports_hold_the_inventory(world):
    producer, consumer = world.producer_and_consumer()
    ggo = world.get(producer, "/v1/ggos", state="available")["ggos"][0]
    world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]}})
    me = world.as_(producer["token"])
    rows = list(csv.DictReader(io.StringIO(world.api.get("/v1/export/ggos.csv", headers=me).text)))
    assert len(rows) == len(world.get(producer, "/v1/ggos")["ggos"])
    transfers = list(csv.DictReader(io.StringIO(world.api.get("/v1/export/transfers.csv", headers=me).text)))
    assert [(t["address"], t["state"]) for t in transfers] == [(ggo["address"], "transferred")]
    assert json.loads(transfers[0]["next"])["action"] == "TRANSFER"
