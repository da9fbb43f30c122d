"""The importer against the fake DataHub and a real ledger node: everything certified is
published exactly once, even when the import is killed half-way and run again."""

import json

import pytest
from datahub_world import BEGIN, END, FLEET, Kill
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from origin.datahub import db, gsrn, meters, synthetic
from origin.datahub.fake import create_fake_app
from origin.datahub.importer import LedgerUnavailable
from origin.protocol import addresses
from origin.protocol.canonical import parse
from origin.protocol.wallet import Wallet


def certified(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(db.measurements)).fetchall()


def test_a_day_is_imported_and_published(setup):
    importer, ledger, engine, owners, _ = setup
    report = importer().run(BEGIN, END)
    rows = certified(engine)
    assert report.stored == len(rows) and report.published == len(rows) > 8 * 25
    assert report.gaps > 0 or report.readings == len(rows)  # uncertified points are reported
    assert sorted(ledger.publications()) == sorted(r.address for r in rows)
    for r in rows[:20]:
        record = parse(ledger.node.store.record(r.address)[0])
        assert record["amount"] == r.amount_wh and record["begin"] and r.seq is not None
        ggo = ledger.node.store.record(addresses.in_namespace(addresses.GGO, r.address))
        meter = next(m for m in FLEET if m.gsrn == r.gsrn)
        assert (ggo is not None) == (meter.type_of_mp == "E18" and r.amount_wh > 0)


def test_running_again_publishes_nothing_twice(setup):
    importer, ledger, engine, _, _ = setup
    importer().run(BEGIN, END)
    size = ledger.node.store.size()
    again = importer().run(BEGIN, END)
    assert (again.stored, again.published, again.corrections) == (0, 0, 0)
    assert ledger.node.store.size() == size


@pytest.mark.parametrize("moment", ["kill_before", "kill_after"])
def test_killed_half_way_and_resumed(setup, moment):
    importer, ledger, engine, _, _ = setup
    setattr(ledger, moment, 4)  # the 4th submission: before it reaches the ledger, or once committed
    with pytest.raises(Kill):
        importer().run(BEGIN, END)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(db.ledger_batches).where(
            db.ledger_batches.c.status == "PENDING")).scalar() == 1  # fmt: skip
    setattr(ledger, moment, None)
    importer().run(BEGIN, END)
    published = ledger.publications()
    assert len(published) == len(set(published)) == len(certified(engine))  # once each, none missed
    assert all(r.seq is not None for r in certified(engine))


def test_late_corrections_are_reported_not_published(setup):
    importer, ledger, engine, _, fake = setup
    importer().run(BEGIN, END)
    size = ledger.node.store.size()
    original = fake.client

    class Corrected:
        def request(self, method, path, **kw):
            r = original.request(method, path, **kw)
            if "gettimeseries" in path:
                body = r.json()
                point = body["result"][0]["MyEnergyData_MarketDocument"]["TimeSeries"][0]["Period"][0]["Point"][12]
                point.update({"out_Quantity.quantity": "999.999", "out_Quantity.quality": "A04"})
                r._content = json.dumps(body).encode()
            return r

    fake.client = Corrected()
    report = importer().run(BEGIN, END)
    assert report.corrections == 1 and report.published == 0 and ledger.node.store.size() == size
    with engine.connect() as conn:
        issue = conn.execute(select(db.import_issues).where(db.import_issues.c.kind == "correction")).one()
    assert "999999 Wh" in issue.detail
    assert importer().run(BEGIN, END).corrections == 0  # reported once


def test_a_meter_without_an_xpub_is_imported_then_published_once_it_has_one(setup):
    importer, ledger, engine, _, _ = setup
    late = synthetic.FakeMeter(gsrn.make("57131399999999999"), "household", "DK1", "PT1H", "customer-9")
    meters.register(engine, gsrn=late.gsrn, type="CONSUMPTION", sector="DK1", owner="customer-9")
    importer_ = importer()
    importer_.datahub._request.client = TestClient(
        create_fake_app(meters=[*FLEET, late], clock=importer_.datahub._clock, rate_limits=False)
    )
    importer_.datahub._access = None
    importer_.run(BEGIN, END)
    with engine.connect() as conn:
        waiting = conn.execute(select(db.measurements).where(db.measurements.c.gsrn == late.gsrn)).fetchall()
    assert waiting and all(r.address is None for r in waiting)
    assert meters.set_xpub(engine, late.gsrn, Wallet.generate().meter_xpub(0)) == len(waiting)
    report = importer_.run(BEGIN, END)
    assert report.published == len(waiting)


def test_the_ledger_not_answering_leaves_the_batch_for_next_time(setup):
    importer, ledger, engine, _, _ = setup

    def down(*a, **kw):
        raise ConnectionRefusedError()

    broken = importer()
    broken.post = down
    with pytest.raises(LedgerUnavailable):
        broken.run(BEGIN, END)
    report = importer().run(BEGIN, END)
    assert report.published == len(certified(engine)) == len(set(ledger.publications()))
