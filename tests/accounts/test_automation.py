"""Transfer agreements and automatic routing: proposals and their answers, routing that retires
first and then serves agreements, in whichever order GGOs and consumption arrive, exactly once."""

import concurrent.futures
import contextlib

from accounts_world import Kill, collector
from sqlalchemy import func, select

from origin.accounts import automation, db
from origin.accounts.reconcile import reconcile

DAY_S = 86400


def agree(world, proposer, body):
    r = world.post(proposer, "/v1/agreements", body)
    assert r.status_code == 201, r.text
    return r.json()


def test_an_agreement_is_proposed_answered_and_ends(world):
    producer, consumer = world.producer_and_consumer()
    offer = agree(world, consumer, {"sender": producer["id"], "begin": "2025-10-01T00:00:00Z", "rule": "unmatched"})
    assert offer["status"] == "PROPOSED" and offer["proposed_by"] == consumer["id"]
    assert (
        world.post(consumer, f"/v1/agreements/{offer['id']}/accept", {}).status_code == 409
    )  # not the proposer's to accept
    stranger = world.open_account("Stranger")
    assert world.post(stranger, f"/v1/agreements/{offer['id']}/accept", {}).status_code == 404
    accepted = world.post(producer, f"/v1/agreements/{offer['id']}/accept", {}).json()
    assert accepted["status"] == "ACCEPTED"
    assert world.post(producer, f"/v1/agreements/{offer['id']}/decline", {}).status_code == 409
    assert world.post(consumer, f"/v1/agreements/{offer['id']}/cancel", {}).json()["status"] == "CANCELLED"
    late = agree(world, producer, {"receiver": {"account": consumer["id"]}, "begin": "2025-10-01T00:00:00Z",
                                   "rule": "cap", "rule_value": 500})  # fmt: skip
    world.clock.now += 15 * DAY_S
    assert world.get(consumer, f"/v1/agreements/{late['id']}")["status"] == "EXPIRED"
    assert world.post(consumer, f"/v1/agreements/{late['id']}/accept", {}).status_code == 409
    bad = world.post(producer, "/v1/agreements", {"receiver": {"xpub": consumer["receive_xpub"]},
                                                  "begin": "2025-10-01T00:00:00Z", "rule": "unmatched"})  # fmt: skip
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_agreement"
    for body in ({"rule": "cap"}, {"rule": "percent", "rule_value": 101}, {"rule": "cap", "rule_value": 5,
                                                                           "technologies": ["solar"]}):  # fmt: skip
        r = world.post(producer, "/v1/agreements", {"receiver": {"account": consumer["id"]},
                                                    "begin": "2025-10-01T00:00:00Z", **body})  # fmt: skip
        assert r.status_code == 422, (body, r.text)


def test_the_other_side_hears_of_a_proposal_and_both_of_its_acceptance(world):
    world.service.config.allow_private = True
    producer, consumer = world.producer_and_consumer()
    received: list = []
    world.router.mount("hooks", collector(received))
    for who in (producer, consumer):
        r = world.post(who, "/v1/webhooks", {"url": "http://hooks/in", "secret": "s" * 20,
                                             "events": ["agreement.proposed", "agreement.accepted"]})  # fmt: skip
        assert r.status_code == 201, r.text
    offer = agree(world, consumer, {"sender": producer["id"], "begin": "2025-10-01T00:00:00Z", "rule": "cap",
                                    "rule_value": 10})  # fmt: skip
    world.post(producer, f"/v1/agreements/{offer['id']}/accept", {})
    world.service.deliver_webhooks(int(world.clock()))
    events = sorted(e["event"] for post in received for e in post["events"])
    assert events == ["agreement.accepted", "agreement.accepted", "agreement.proposed"]


def test_routing_retires_then_serves_agreements_in_either_order_of_arrival(world):
    """The producer's GGOs arrive at the consumer before its consumption is published (its meters
    are added later): routing waits for the consumption, then retires."""
    producer = world.open_account("Solar Ltd", "customer-0")
    consumer = world.open_account("Household Co", "customer-2")
    world.add_meters(producer, "customer-0")
    world.import_and_follow()
    offer = agree(world, producer, {"receiver": {"account": consumer["id"]}, "begin": "2025-10-01T00:00:00Z",
                                    "rule": "cap", "rule_value": 400})  # fmt: skip
    world.post(consumer, f"/v1/agreements/{offer['id']}/accept", {})
    for who in (producer, consumer):
        assert (
            world.api.put("/v1/automation", json={"enabled": True}, headers=world.as_(who["token"])).status_code == 204
        )
    world.service.tick(0)  # the producer's run: 400 Wh of each hour it produced to the consumer
    world.service.tick(0)  # the consumer's run: nothing to retire against yet
    received = world.get(consumer, "/v1/ggos", state="available")["ggos"]
    assert received and all(g["amount_wh"] <= 400 for g in received)
    assert world.get(consumer, "/v1/measurements")["measurements"] == []
    world.add_meters(consumer, "customer-2")
    world.import_and_follow()  # the consumption is published now
    world.service.tick(0)
    consumption = world.get(consumer, "/v1/measurements", type="CONSUMPTION")["measurements"]
    retired = sum(m["retired_wh"] for m in consumption)
    assert retired > 0
    by_period: dict[str, int] = {}
    for g in world.get(consumer, "/v1/ggos")["ggos"]:
        if g["source"] == "received":
            by_period[g["begin"]] = by_period.get(g["begin"], 0) + g["amount_wh"]
    for begin, wh in by_period.items():  # each hour: as much retired as both the GGOs and the room allow
        room = sum(m["amount_wh"] for m in consumption if m["begin"] == begin)
        assert sum(m["retired_wh"] for m in consumption if m["begin"] == begin) == min(wh, room)
    runs = world.get(consumer, "/v1/automation/runs")
    assert runs and all("failed" not in r["outcome"] for r in runs)
    shown = world.get(producer, f"/v1/agreements/{offer['id']}")
    assert shown["transferred_wh"] == sum(by_period.values()) and shown["transfers"]
    assert reconcile(world.service.engine, world.service.ledger).differences == []
    matched = world.get(consumer, "/v1/matching", begin="2025-10-25T00:00:00Z", end="2025-10-28T00:00:00Z")
    assert matched["matched_wh"] == retired


def test_routing_races_manual_operations_without_spending_twice(world):
    producer, consumer = world.producer_and_consumer()
    offer = agree(world, consumer, {"sender": producer["id"], "begin": "2025-10-01T00:00:00Z", "rule": "unmatched"})
    world.post(producer, f"/v1/agreements/{offer['id']}/accept", {})
    world.api.put("/v1/automation", json={"enabled": True}, headers=world.as_(producer["token"]))
    held = world.get(producer, "/v1/ggos", state="available")["ggos"]

    def manual(g):
        return world.post(producer, "/v1/transfers", {"ggo": g["address"], "to": {"account": consumer["id"]},
                                                      "amount_wh": 1}).status_code  # fmt: skip

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        routed = pool.submit(world.service.automation.run_due)
        statuses = list(pool.map(manual, held[:8]))
        routed.result()
    world.service.tick(0)
    assert set(statuses) <= {200, 409}
    world.service.follow()
    with world.service.engine.connect() as conn:
        failed = conn.execute(select(func.count()).select_from(db.operations).where(db.operations.c.status == "FAILED"))
        assert failed.scalar_one() == 0  # the ledger refused nothing
    assert reconcile(world.service.engine, world.service.ledger).differences == []
    # Up to the consumer's unmatched consumption, never past it.
    consumption = world.get(consumer, "/v1/measurements", type="CONSUMPTION")["measurements"]
    per_hour: dict[str, int] = {}
    for g in world.get(consumer, "/v1/ggos")["ggos"]:
        per_hour[g["begin"]] = per_hour.get(g["begin"], 0) + g["amount_wh"]
    for begin, wh in per_hour.items():
        assert wh <= sum(m["amount_wh"] for m in consumption if m["begin"] == begin) + 8  # + the manual 1 Wh parts


def test_back_in_time_needs_automation_and_routes_a_past_period(world):
    producer, consumer = world.producer_and_consumer()
    span = {"begin": "2025-10-25T00:00:00Z", "end": "2025-10-28T00:00:00Z"}
    r = world.post(consumer, "/v1/automation/runs", span)
    assert r.status_code == 409 and r.json()["error"]["code"] == "automation_off"
    world.post(producer, "/v1/bulk/transfers", {"to": {"account": consumer["id"]}, "amount_wh": 200, **span})
    with world.service.engine.begin() as conn:  # on, but with nothing queued yet
        conn.execute(db.accounts.update().where(db.accounts.c.id == consumer["id"]).values(automation=True))
    run = world.post(consumer, "/v1/automation/runs", span).json()
    assert run["operation"] and "COMMITTED" in run["outcome"], run
    assert sum(m["retired_wh"] for m in world.get(consumer, "/v1/measurements")["measurements"]) > 0


def test_a_run_killed_after_submitting_is_finished_on_restart_and_spends_nothing_twice(world):
    producer, consumer = world.producer_and_consumer()
    offer = agree(world, consumer, {"sender": producer["id"], "begin": "2025-10-01T00:00:00Z", "rule": "unmatched"})
    world.post(producer, f"/v1/agreements/{offer['id']}/accept", {})
    world.api.put("/v1/automation", json={"enabled": True}, headers=world.as_(producer["token"]))
    world.router.kill_after_post.add("ledger")
    with contextlib.suppress(Kill):
        world.service.automation.run_due()
    world.router.kill_after_post.clear()
    with world.service.engine.connect() as conn:  # the run's periods left the queue with its operation
        assert conn.execute(select(func.count()).select_from(db.automation_queue)
                            .where(db.automation_queue.c.account == producer["id"])).scalar_one() == 0  # fmt: skip
    world.service.stop()
    world.start()
    world.service.tick(0)
    world.service.tick(0)
    ops = world.get(producer, "/v1/operations")["operations"]
    assert ops and all(op["status"] == "COMMITTED" for op in ops), ops
    assert reconcile(world.service.engine, world.service.ledger).differences == []
    received = sum(g["amount_wh"] for g in world.get(consumer, "/v1/ggos")["ggos"] if g["source"] == "received")
    assert received == world.get(producer, f"/v1/agreements/{offer['id']}")["transferred_wh"] > 0


def test_a_run_the_ledger_refuses_is_listed_and_sent_as_automation_failed(world):
    world.service.config.allow_private = True
    producer, consumer = world.producer_and_consumer()
    received: list = []
    world.router.mount("hooks", collector(received))
    world.post(
        consumer, "/v1/webhooks", {"url": "http://hooks/in", "secret": "s" * 20, "events": ["automation.failed"]}
    )
    consumption = {m["begin"]: m for m in world.get(consumer, "/v1/measurements", type="CONSUMPTION")["measurements"]}
    ggo = next(g for g in world.get(producer, "/v1/ggos", state="available")["ggos"]
               if g["begin"] in consumption and g["amount_wh"] > consumption[g["begin"]]["amount_wh"])  # fmt: skip
    world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]}})
    with world.service.engine.begin() as conn:  # a stale view, as if retired from another wallet: the ledger says no
        conn.execute(db.measurements.update().where(db.measurements.c.account == consumer["id"])
                     .values(amount_wh=10**9))  # fmt: skip
    world.api.put("/v1/automation", json={"enabled": True}, headers=world.as_(consumer["token"]))
    world.service.automation.run_due()
    runs = world.get(consumer, "/v1/automation/runs")
    assert runs[0]["outcome"].startswith("failed: over_retired"), runs
    world.service.deliver_webhooks(int(world.clock()))
    assert [e["event"] for post in received for e in post["events"]] == ["automation.failed"]
    bad = world.post(producer, "/v1/agreements", {"receiver": {"xpub": "xpub-not-really"}, "begin": "2025-10-01T00:00:00Z",
                                                  "rule": "cap", "rule_value": 5})  # fmt: skip
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_agreement"


def test_a_backlog_is_routed_run_after_run_without_waiting_for_the_next_period(world, monkeypatch):
    """A run takes PERIODS_PER_RUN periods; while more are queued, run_due says so and the
    service's tick wakes itself instead of idling its period (a year of history is a backlog)."""
    monkeypatch.setattr(automation, "PERIODS_PER_RUN", 3)
    producer, consumer = world.producer_and_consumer()
    offer = agree(world, consumer, {"sender": producer["id"], "begin": "2025-10-01T00:00:00Z", "rule": "unmatched"})
    world.post(producer, f"/v1/agreements/{offer['id']}/accept", {})
    world.api.put("/v1/automation", json={"enabled": True}, headers=world.as_(producer["token"]))
    queued = world.service.automation.queued()
    assert queued > 3
    world.service._wake.clear()
    world.service.tick(0)
    assert world.service._wake.is_set()  # (what it sent queues the periods of its change again)
    runs = 1
    while world.service.automation.run_due():
        runs += 1
    world.service.follow()
    assert runs >= queued // 3
    assert reconcile(world.service.engine, world.service.ledger).differences == []
