"""The inventory is the ledger's: rebuilt from the log alone it is the same, and a ledger that
serves entries its signed checkpoint does not cover moves it nowhere."""

import pytest
from sqlalchemy import delete, select

from origin.accounts import db
from origin.accounts.ledger import LedgerAlarm


def snapshot(world):
    with world.service.engine.connect() as conn:
        return ([tuple(r) for r in conn.execute(select(db.ggos).order_by(db.ggos.c.address))],
                [tuple(r) for r in conn.execute(select(db.measurements).order_by(db.measurements.c.address))],
                [tuple(r) for r in conn.execute(select(db.retirements).order_by(db.retirements.c.ggo))])  # fmt: skip


def test_the_inventory_rebuilt_from_the_log_alone_is_the_same(world):
    producer, consumer = world.producer_and_consumer()
    for g in world.get(producer, "/v1/ggos", state="available")["ggos"][:6]:
        r = world.post(producer, "/v1/transfers", {"ggo": g["address"], "to": {"account": consumer["id"]},
                                                   "amount_wh": max(1, g["amount_wh"] // 3)})  # fmt: skip
        assert r.json()["status"] == "COMMITTED"
    r = world.post(consumer, "/v1/bulk/retirements", {"begin": "2025-10-25T00:00:00Z", "end": "2025-10-28T00:00:00Z"})
    assert r.json()["status"] == "COMMITTED", r.text
    before = snapshot(world)
    with world.service.engine.begin() as conn:  # as if every notification had been lost
        for table in (db.retirements, db.ggos, db.measurements, db.follower):
            conn.execute(delete(table))
    world.service.stop()
    world.start()
    world.service.follow()
    after = snapshot(world)
    assert after[1:] == before[1:]
    # GGOs alike but for the reservations of operations long finished (none are left).
    assert [g[:-1] for g in after[0]] == [g[:-1] for g in before[0]]


def test_entries_the_signed_checkpoint_does_not_cover_raise_the_alarm(world):
    producer, consumer = world.producer_and_consumer()
    size = world.service.inventory.size()
    ggo = world.get(producer, "/v1/ggos", state="available")["ggos"][0]
    world.router.down.add("ledger")  # the transfer is recorded, not yet applied by the inventory
    world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]}})
    world.router.down.clear()
    world.service.operations.resume()  # the ledger commits it; now the ledger lies about the entry
    lied = world.service.inventory.size()

    def forge(path: str, body: bytes) -> bytes:
        if path.startswith(("/v1/entries/", "/tile/entries")):
            return body.replace(b'"amount":', b'"amount":1')
        return body

    with world.service.engine.begin() as conn:  # the inventory is read again from the log
        for table in (db.retirements, db.ggos, db.measurements, db.follower):
            conn.execute(delete(table))
    world.router.tamper = forge
    with pytest.raises(LedgerAlarm):
        world.service.follow()
    assert world.service.inventory.size() == 0  # nothing of the forged entries was applied
    world.router.tamper = None
    assert world.service.follow() == lied and lied > size
