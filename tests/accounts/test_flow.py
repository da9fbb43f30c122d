"""A producer and a consumer company, end to end: accounts, meters registered with the DataHub
service, GGOs issued from the log, transfer, split, retire, compose."""

from origin.protocol.canonical import parse


def test_issued_ggos_appear_in_the_inventory(world):
    producer, consumer = world.producer_and_consumer()
    ggos = world.get(producer, "/v1/ggos", state="available")["ggos"]
    assert ggos and all(g["source"] == "issued" and g["tech_type"] == "T010000" for g in ggos)
    assert world.get(consumer, "/v1/ggos")["ggos"] == []
    consumption = world.get(consumer, "/v1/measurements", type="CONSUMPTION")["measurements"]
    assert consumption and all(m["retired_wh"] == 0 for m in consumption)
    # The ledger agrees with every GGO the inventory lists.
    for g in ggos:
        status, body = world.router("GET", f"http://ledger/v1/state/{g['address']}")
        assert status == 200 and parse(body)["record"]["amount"] == g["amount_wh"]


def test_transfer_part_then_retire(world):
    producer, consumer = world.producer_and_consumer()
    consumption = {m["begin"]: m for m in world.get(consumer, "/v1/measurements", type="CONSUMPTION")["measurements"]}
    ggo = next(g for g in world.get(producer, "/v1/ggos", state="available")["ggos"]
               if g["amount_wh"] > 10 and g["begin"] in consumption)  # fmt: skip
    r = world.post(
        producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]}, "amount_wh": 7}
    )
    assert r.status_code == 200, r.text
    op = r.json()
    assert op["status"] == "COMMITTED" and op["error"] is None
    assert world.get(producer, f"/v1/ggos/{ggo['address']}")["state"] == "split"
    change = [g for g in world.get(producer, "/v1/ggos", state="available")["ggos"] if g["source"] == "change"]
    assert [g["amount_wh"] for g in change] == [ggo["amount_wh"] - 7]
    received = world.get(consumer, "/v1/ggos")["ggos"]
    assert [(g["amount_wh"], g["source"], g["origin"]) for g in received] == [(7, "received", ggo["address"])]

    r = world.post(consumer, "/v1/retirements", {"ggo": received[0]["address"], "amount_wh": 5})
    assert r.status_code == 200 and r.json()["status"] == "COMMITTED", r.text
    after = world.get(consumer, "/v1/measurements", type="CONSUMPTION")["measurements"]
    assert sorted(x["retired_wh"] for x in after if x["begin"] == ggo["begin"])[-1] == 5
    assert sum(x["retired_wh"] for x in after) == 5
    states = sorted((g["state"], g["amount_wh"]) for g in world.get(consumer, "/v1/ggos")["ggos"])
    assert states == [("available", 2), ("retired", 5), ("split", 7)]


def test_refusals_use_the_ledgers_codes(world):
    producer, consumer = world.producer_and_consumer()
    ggo = world.get(producer, "/v1/ggos", state="available")["ggos"][0]
    r = world.post(producer, "/v1/retirements", {"ggo": ggo["address"]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"  # the producer has no consumption
    r = world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]},
                                               "amount_wh": ggo["amount_wh"] + 1})  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_amount"
    r = world.post(consumer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": producer["id"]}})
    assert r.status_code == 404  # not the consumer's


def test_matching_production_and_the_printable_report(world):
    producer, consumer = world.producer_and_consumer()
    span = {"begin": "2025-10-25T00:00:00Z", "end": "2025-10-28T00:00:00Z"}
    r = world.post(producer, "/v1/bulk/transfers", {"to": {"account": consumer["id"]}, "amount_wh": 300, **span})
    assert r.json()["status"] == "COMMITTED", r.text
    assert world.post(consumer, "/v1/bulk/retirements", span).json()["status"] == "COMMITTED"
    found = world.get(consumer, "/v1/matching", resolution="day", **span)
    consumption = world.get(consumer, "/v1/measurements", type="CONSUMPTION")["measurements"]
    assert found["consumption_wh"] == sum(m["amount_wh"] for m in consumption)
    assert found["matched_wh"] == sum(m["retired_wh"] for m in consumption) > 0
    assert 0 < found["score"] < 1 and set(found["technologies"]) == {"T010000"}
    assert [p["period"] for p in found["periods"]] == ["2025-10-26"]  # the world's 25 hours are one Danish day
    assert len(found["profile"]) == 24
    csv_ = world.api.get("/v1/matching.csv", params=span, headers=world.as_(consumer["token"]))
    assert csv_.text.splitlines()[0] == "period,consumption_wh,matched_wh,unmatched_wh,coverage"
    made = world.get(producer, "/v1/production", resolution="year", **span)
    assert len(made) == 1 and made[0]["transferred_wh"] == found["matched_wh"] + sum(
        g["amount_wh"] for g in world.get(consumer, "/v1/ggos", state="available")["ggos"]
    )
    assert made[0]["issued_wh"] == made[0]["transferred_wh"] + made[0]["unused_wh"]
    page = world.api.get("/v1/report.html", params=span, headers=world.as_(consumer["token"]))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"{found['score'] * 100:.1f} % of your consumption was matched hour by hour" in page.text
    assert "/provenance" in page.text and "<svg" in page.text
    bad = world.api.get("/v1/matching", params={"begin": "2025-10-28T00:00:00Z", "end": "2025-10-25T00:00:00Z"},
                        headers=world.as_(consumer["token"]))  # fmt: skip
    assert bad.status_code == 400
