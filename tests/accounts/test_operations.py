"""Operations under pressure: concurrent spends of one GGO, idempotent retries, a service killed
between submitting and learning the outcome, the ledger away, compose and the bulk forms."""

import concurrent.futures
import contextlib
import time

from accounts_world import Kill
from fastapi.testclient import TestClient

from origin.accounts import db, operations
from origin.accounts.reconcile import reconcile


def test_24_concurrent_requests_spending_one_ggo_commit_exactly_one(world):
    producer, consumer = world.producer_and_consumer()
    ggo = world.get(producer, "/v1/ggos", state="available")["ggos"][0]
    app = world.service.app()

    def spend(i: int):
        with TestClient(app) as client:
            body = {"ggo": ggo["address"], "to": {"account": consumer["id"]}, "amount_wh": 1 + i % 2}
            return client.post("/v1/transfers", json=body, headers=world.as_(producer["token"]))

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(spend, range(24)))
    committed = [r for r in answers if r.status_code == 200 and r.json()["status"] == "COMMITTED"]
    assert len(committed) == 1, [r.text for r in answers]
    refused = [r.json()["error"]["code"] for r in answers if r.status_code != 200]
    assert len(refused) == 23 and set(refused) <= {"reserved", "already_used"}
    world.service.follow()
    assert reconcile(world.service.engine, world.service.ledger).differences == []
    assert world.get(producer, f"/v1/ggos/{ggo['address']}")["state"] == "split"


def test_an_idempotency_key_applies_a_request_once(world):
    producer, consumer = world.producer_and_consumer()
    ggo = world.get(producer, "/v1/ggos", state="available")["ggos"][0]
    body = {"ggo": ggo["address"], "to": {"account": consumer["id"]}}
    first = world.post(producer, "/v1/transfers", body, key="k-1")
    again = world.post(producer, "/v1/transfers", body, key="k-1")
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    other = world.post(producer, "/v1/transfers", {**body, "amount_wh": 1}, key="k-1")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(world.get(producer, "/v1/operations")["operations"]) == 1


def test_killed_after_submitting_the_outcome_is_picked_up_on_restart(world):
    producer, consumer = world.producer_and_consumer()
    ggo = world.get(producer, "/v1/ggos", state="available")["ggos"][0]
    world.router.kill_after_post.add("ledger")
    with contextlib.suppress(Kill):
        world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]}})
    world.router.kill_after_post.clear()
    pending = world.get(producer, "/v1/operations")["operations"]
    assert [op["status"] for op in pending] == ["PENDING"]  # recorded before it was sent
    assert world.get(producer, f"/v1/ggos/{ggo['address']}")["state"] == "reserved"
    world.service.stop()
    world.start()  # the restart: the operation is driven again, the ledger applies it once
    world.service.tick(0)
    op = world.get(producer, f"/v1/operations/{pending[0]['id']}")
    assert op["status"] == "COMMITTED"
    assert world.get(producer, f"/v1/ggos/{ggo['address']}")["state"] == "transferred"
    received = world.get(consumer, "/v1/ggos")["ggos"]
    assert [g["amount_wh"] for g in received] == [ggo["amount_wh"]]
    assert reconcile(world.service.engine, world.service.ledger).differences == []


def test_the_ledger_away_leaves_the_operation_pending_then_it_commits(world):
    producer, consumer = world.producer_and_consumer()
    ggo = world.get(producer, "/v1/ggos", state="available")["ggos"][0]
    world.router.down.add("ledger")
    r = world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]}})
    assert r.status_code == 200 and r.json()["status"] == "PENDING"
    again = world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]}})
    assert again.status_code == 409 and again.json()["error"]["code"] == "reserved"
    world.router.down.clear()
    world.service.tick(0)
    assert world.get(producer, f"/v1/operations/{r.json()['id']}")["status"] == "COMMITTED"


def retired(world, consumer, m):
    listed = world.get(consumer, "/v1/measurements", type="CONSUMPTION", begin=m["begin"], end=m["end"])
    return next(x for x in listed["measurements"] if x["address"] == m["address"])["retired_wh"]


def test_a_retirement_committed_but_not_yet_followed_counts_against_the_next(world, monkeypatch):
    producer, consumer = world.producer_and_consumer()
    consumption = {m["begin"]: m for m in world.get(consumer, "/v1/measurements", type="CONSUMPTION")["measurements"]}
    ggo = next(g for g in world.get(producer, "/v1/ggos", state="available")["ggos"]
               if g["begin"] in consumption and g["amount_wh"] > consumption[g["begin"]]["amount_wh"] > 1)  # fmt: skip
    m = consumption[ggo["begin"]]
    r = world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]},
                                               "amount_wh": m["amount_wh"]})  # fmt: skip
    assert r.json()["status"] == "COMMITTED"
    rest = next(g for g in world.get(producer, "/v1/ggos", state="available")["ggos"] if g["begin"] == m["begin"])
    r = world.post(producer, "/v1/transfers", {"ggo": rest["address"], "to": {"account": consumer["id"]}})
    assert r.json()["status"] == "COMMITTED"
    held = next(g for g in world.get(consumer, "/v1/ggos", state="available")["ggos"]
                if g["amount_wh"] == m["amount_wh"])  # fmt: skip
    # The ledger commits the first retirement; the inventory has not read that entry yet (as
    # when a background follow lags an operation driven in another thread).
    follow = world.service.inventory.follow
    monkeypatch.setattr(world.service.inventory, "follow", lambda *a, **k: world.service.inventory.size())
    first = world.post(consumer, "/v1/retirements", {"ggo": held["address"], "measurement": m["address"],
                                                     "amount_wh": m["amount_wh"] - 1})  # fmt: skip
    assert first.json()["status"] == "COMMITTED"
    assert retired(world, consumer, m) == 0  # not followed yet
    # The consumer's other GGO of that hour, retired in bulk: 1 Wh is left of the consumption.
    second = world.post(consumer, "/v1/bulk/retirements", {"begin": m["begin"], "end": m["end"]})
    assert second.json()["status"] == "COMMITTED", second.json()  # not refused by the ledger: over_retired
    monkeypatch.setattr(world.service.inventory, "follow", follow)
    world.service.follow()
    assert retired(world, consumer, m) == m["amount_wh"]


def test_a_refused_batch_fails_the_operation_with_the_ledgers_reason_and_releases(world):
    producer, consumer = world.producer_and_consumer()
    consumption = {m["begin"]: m for m in world.get(consumer, "/v1/measurements", type="CONSUMPTION")["measurements"]}
    ggo = next(g for g in world.get(producer, "/v1/ggos", state="available")["ggos"]
               if g["begin"] in consumption and g["amount_wh"] > consumption[g["begin"]]["amount_wh"] + 1)  # fmt: skip
    m = consumption[ggo["begin"]]
    # The service's own view made stale on purpose (as when the owner retired against the
    # measurement from another wallet): its early check passes, the ledger's rule refuses.
    with world.service.engine.begin() as conn:
        conn.execute(db.measurements.update().where(db.measurements.c.address == m["address"]).values(amount_wh=10**12))
    r = world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]}})
    assert r.json()["status"] == "COMMITTED"
    mine = world.get(consumer, "/v1/ggos")["ggos"][0]
    r = world.post(consumer, "/v1/retirements", {"ggo": mine["address"], "measurement": m["address"],
                                                 "amount_wh": m["amount_wh"] + 1})  # fmt: skip
    op = r.json()
    assert op["status"] == "FAILED" and op["error"]["code"] == "over_retired", op
    assert "transaction" in op["error"]["message"]
    assert world.get(consumer, f"/v1/ggos/{mine['address']}")["state"] == "available"  # released
    listed = world.get(consumer, "/v1/operations", status="FAILED")["operations"]
    assert [o["error"]["code"] for o in listed] == ["over_retired"]  # visible until dismissed
    assert world.api.delete(f"/v1/operations/{op['id']}", headers=world.as_(consumer["token"])).status_code == 204
    assert world.get(consumer, "/v1/operations", status="FAILED")["operations"] == []


def test_compose_splits_into_transfers_and_retirements_in_one_batch(world):
    producer, consumer = world.producer_and_consumer()
    third = world.open_account("Trader")
    consumption = {m["begin"]: m for m in world.get(consumer, "/v1/measurements", type="CONSUMPTION")["measurements"]}
    ggo = next(g for g in world.get(producer, "/v1/ggos", state="available")["ggos"]
               if g["amount_wh"] > 100 and g["begin"] in consumption)  # fmt: skip
    r = world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]}})
    held = world.get(consumer, "/v1/ggos", state="available")["ggos"][0]
    body = {"ggo": held["address"], "transfers": [{"to": {"account": third["id"]}, "amount_wh": 30}],
            "retirements": [{"amount_wh": 20}]}  # fmt: skip
    r = world.post(consumer, "/v1/compose", body)
    op = r.json()
    assert op["status"] == "COMMITTED" and len(op["batches"]) == 1, r.text
    states = sorted((g["state"], g["source"], g["amount_wh"]) for g in world.get(consumer, "/v1/ggos")["ggos"])
    assert states == sorted([("split", "received", held["amount_wh"]), ("retired", "change", 20),
                             ("available", "change", held["amount_wh"] - 50)])  # fmt: skip
    assert [g["amount_wh"] for g in world.get(third, "/v1/ggos")["ggos"]] == [30]


def test_bulk_transfer_and_bulk_retire_choose_the_ggos(world):
    producer, consumer = world.producer_and_consumer()
    begin, end = "2025-10-26T06:00:00Z", "2025-10-26T18:00:00Z"
    r = world.post(producer, "/v1/bulk/transfers", {"to": {"account": consumer["id"]}, "amount_wh": 500,
                                                    "begin": begin, "end": end})  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "COMMITTED", r.text
    received = world.get(consumer, "/v1/ggos", state="available")["ggos"]
    per_hour: dict[str, int] = {}
    for g in received:
        per_hour[g["begin"]] = per_hour.get(g["begin"], 0) + g["amount_wh"]
    assert per_hour and all(v <= 500 for v in per_hour.values())
    r = world.post(consumer, "/v1/bulk/retirements", {"begin": begin, "end": end})
    assert r.status_code == 200 and r.json()["status"] == "COMMITTED", r.text
    measured = world.get(consumer, "/v1/measurements", type="CONSUMPTION", begin=begin, end=end)["measurements"]
    retired = {}
    for m in measured:
        retired[m["begin"]] = retired.get(m["begin"], 0) + m["retired_wh"]
        assert m["retired_wh"] <= m["amount_wh"]
    for hour, wh in per_hour.items():
        room = sum(m["amount_wh"] for m in measured if m["begin"] == hour)
        assert retired[hour] == min(wh, room)
    assert reconcile(world.service.engine, world.service.ledger).differences == []


def test_a_long_operation_runs_in_the_background_and_is_polled(world, monkeypatch):
    monkeypatch.setattr(operations, "SYNC_BATCHES_MAX", 0)
    producer, consumer = world.producer_and_consumer()
    r = world.post(producer, "/v1/bulk/transfers", {"to": {"account": consumer["id"]}, "amount_wh": 100,
                                                    "begin": "2025-10-26T06:00:00Z", "end": "2025-10-26T18:00:00Z"})  # fmt: skip
    op = r.json()
    assert op["status"] in ("PENDING", "COMMITTED") and op["batches"], op
    deadline = time.monotonic() + 60
    while op["status"] == "PENDING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
        op = world.get(producer, f"/v1/operations/{op['id']}")
    assert op["status"] == "COMMITTED" and all(b["status"] == "COMMITTED" for b in op["batches"])
    world.service.follow()  # the driver follows too, just after it records the outcome
    assert world.get(consumer, "/v1/ggos")["ggos"]


def test_two_retirements_of_one_compose_count_together_against_the_room(world):
    """Each part fits the consumption's room alone, not both together: refused before the ledger
    is asked, with the ledger's own code, and the GGO is not reserved."""
    producer, consumer = world.producer_and_consumer()
    consumption = {m["begin"]: m for m in world.get(consumer, "/v1/measurements", type="CONSUMPTION")["measurements"]}
    ggo = next(g for g in world.get(producer, "/v1/ggos", state="available")["ggos"]
               if g["begin"] in consumption and g["amount_wh"] > consumption[g["begin"]]["amount_wh"] > 1)  # fmt: skip
    assert (
        world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]}}).json()[
            "status"
        ]
        == "COMMITTED"
    )
    held = world.get(consumer, "/v1/ggos", state="available")["ggos"][0]
    room = consumption[ggo["begin"]]["amount_wh"]
    half = room // 2 + 1
    part = {"amount_wh": half, "measurement": consumption[ggo["begin"]]["address"]}
    r = world.post(consumer, "/v1/compose", {"ggo": held["address"], "retirements": [part, part]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "over_retired", r.text
    assert world.get(consumer, f"/v1/ggos/{held['address']}")["state"] == "available"
    assert world.get(consumer, "/v1/operations")["operations"] == []
