"""The importer against the fake DataHub and a real ledger node: everything certified is
published exactly once, even when the import is killed half-way and run again."""

import json
import threading
from collections import deque

import pytest
from datahub_world import BEGIN, END, FLEET, SECTORS, Kill
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from origin.datahub import db, gsrn, meters, synthetic, timeseries
from origin.datahub import importer as importer_module
from origin.datahub.client import DataHubError
from origin.datahub.fake import create_fake_app
from origin.datahub.importer import LedgerRefusesIssuer, LedgerUnavailable, Report
from origin.protocol import addresses
from origin.protocol.canonical import parse
from origin.protocol.times import parse_time
from origin.protocol.wallet import Wallet
from world import Key


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
    with engine.connect() as conn:  # the killed one, and those in flight with it, wait for the next run
        assert conn.execute(select(func.count()).select_from(db.ledger_batches).where(
            db.ledger_batches.c.status == "PENDING")).scalar() >= 1  # fmt: skip
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
    importer, ledger, engine, _, fake = setup
    late = synthetic.FakeMeter(gsrn.make("57131399999999999"), "household", "DK1", "PT1H", "customer-9")
    importer_ = importer()
    fake.client = TestClient(create_fake_app(meters=[*FLEET, late], clock=importer_.clock, rate_limits=False))
    report = importer_.run(BEGIN, END)  # the sync finds customer-9's new authorisation and meter
    assert report.meters.added == [late.gsrn]
    with engine.connect() as conn:
        waiting = conn.execute(select(db.measurements).where(db.measurements.c.gsrn == late.gsrn)).fetchall()
    assert waiting and all(r.address is None for r in waiting)
    assert meters.show(engine, late.gsrn, SECTORS)["waiting_for"] == ["its owner's meter xpub (m/1'/i')"]
    assert meters.set_xpub(engine, late.gsrn, Wallet.generate().meter_xpub(0), "customer-9") == len(waiting)
    assert importer_.run(BEGIN, END).published == len(waiting)


def test_what_waits_for_the_issuing_body_is_imported_not_certified(setup):
    """A production meter without the issuing body's technology, one in a sector the ledger does
    not have, a disabled one: imported, not published, each saying why; then certified."""
    importer, ledger, engine, _, _ = setup
    wind = next(m for m in FLEET if m.kind == "wind").gsrn
    house = next(m for m in FLEET if m.kind == "household").gsrn
    solar = next(m for m in FLEET if m.kind == "solar").gsrn
    with engine.begin() as conn:
        conn.execute(update(db.meters).where(db.meters.c.gsrn == wind).values(tech_type=None, fuel_type=None))
    meters.set_sector(engine, house, "DK9")
    meters.set_disabled(engine, solar, True)
    importer().run(BEGIN, END)
    held = {wind: "technology and fuel", house: "sector the ledger has", solar: "disabled"}
    for g, why in held.items():
        assert any(why in w for w in meters.show(engine, g, SECTORS)["waiting_for"])
        with engine.connect() as conn:
            rows = conn.execute(select(db.measurements).where(db.measurements.c.gsrn == g)).fetchall()
        assert rows and all(r.seq is None and r.batch is None for r in rows)
    meters.set_technology(engine, wind, "T020000", "F01050100")
    meters.set_sector(engine, house, "DK1")
    meters.set_disabled(engine, solar, False)
    importer().run(BEGIN, END)
    assert all(r.seq is not None for r in certified(engine))


def test_a_refused_batch_quarantines_its_meter_and_publishes_the_rest(make_world):
    """The ledger takes hourly periods only: the 15-minute meters' batches are refused. Each such
    meter is quarantined with the ledger's reason, and every other measurement is published."""
    world = make_world(resolutions_s=[3600])
    report = world.importer().run(BEGIN, END)
    quarters = {m.gsrn for m in FLEET if m.resolution == "PT15M"}
    assert {g for g, _ in report.quarantined} == quarters
    assert all(e["code"] == "invalid_period" for _, e in report.quarantined)
    rows = certified(world.engine)
    assert all((r.seq is None) == (r.gsrn in quarters) for r in rows)  # nothing else stranded
    for g in quarters:
        assert any("invalid_period" in w for w in meters.show(world.engine, g, SECTORS)["waiting_for"])
    with world.engine.connect() as conn:
        refused = conn.execute(select(db.import_issues).where(db.import_issues.c.kind == "refused")).fetchall()
    assert {r.gsrn for r in refused} == quarters and all("invalid_period" in r.detail for r in refused)


def test_a_refusal_of_the_issuing_body_strands_nothing(make_world):
    """The ledger does not know the service's issuer key: the import stops saying so, and every
    measurement stays unclaimed; with the right key the next run publishes them all."""
    world = make_world()
    wrong = world.importer(issuer_key=Key().secret)
    with pytest.raises(LedgerRefusesIssuer, match="unauthorized"):
        wrong.run(BEGIN, END)
    assert all(r.batch is None and r.seq is None for r in certified(world.engine))
    report = world.importer().run(BEGIN, END)
    assert report.published == len(certified(world.engine)) and not report.quarantined


def test_a_ledger_of_another_id_is_refused_before_anything(make_world):
    world = make_world()
    with pytest.raises(LedgerRefusesIssuer, match=r"not 'other\.origin/dk'"):
        world.importer(ledger_id="other.origin/dk").run(BEGIN, END)


def test_time_is_sane(make_world):
    """No reading of a period not yet ended is stored; production too old for a living GGO is
    published without one, and reported."""
    world = make_world(ggo_lifetime_s=2 * 86400)
    importer_ = world.importer()
    future = [timeseries.Reading(FLEET[0].gsrn, END + 3600 * i, END + 3600 * (i + 1), 5, "A04") for i in range(3)]
    report = Report()
    importer_.clock = lambda: END + 3600  # the first has ended, the others not
    importer_.store(future, report)
    assert report.stored == 1 and report.future == 2
    importer_.clock = lambda: END + 3 * 86400  # two days after: every GGO of the day would be expired
    report = importer_.run(BEGIN, END)
    issued = [a for a in world.ledger.publications() if world.ledger.node.store.record(
        addresses.in_namespace(addresses.GGO, a)) is not None]  # fmt: skip
    assert report.expired > 0 and issued == []
    with world.engine.connect() as conn:
        expired = conn.execute(select(db.import_issues).where(db.import_issues.c.kind == "expired")).fetchall()
    assert len(expired) == report.expired


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


def test_readings_outside_the_authorisation_are_not_stored(make_world):
    """A customer's authorisation ends inside the period: what comes after is not theirs to give."""
    world = make_world()
    ends = parse_time("2025-10-26T11:00:00Z")
    with world.engine.begin() as conn:
        conn.execute(update(db.meters).values(access_to_s=ends))
    report = world.importer().run(BEGIN, END, sync=False)  # the DataHub's own list would say so too
    assert report.outside_access > 0
    assert all(r.end_s <= ends for r in certified(world.engine))


def test_stored_meters_are_published_while_the_next_are_fetched(make_world, monkeypatch):
    """The DataHub's answer for the second share of meters comes only once a batch of the first
    is on the ledger: an importer that fetched everything before publishing would wait for ever."""
    monkeypatch.setattr(importer_module, "FETCH_METERS", 4)
    world = make_world()
    importer_ = world.importer()
    committed = threading.Event()
    real_post, real_timeseries = importer_.post, world.datahub.timeseries
    calls = []

    def post(method, url, body=None, **kw):
        answer = real_post(method, url, body, **kw)
        if method == "POST":
            committed.set()
        return answer

    def timeseries(gsrns, begin_s, end_s):
        calls.append(gsrns)
        if len(calls) > 1:
            assert committed.wait(30), "nothing was published while the next meters were fetched"
        return real_timeseries(gsrns, begin_s, end_s)

    importer_.post, world.datahub.timeseries = post, timeseries
    report = importer_.run(BEGIN, END)
    assert [len(c) for c in calls] == [4, 4]
    assert report.published == len(certified(world.engine)) == len(set(world.ledger.publications())) > 0


@pytest.mark.parametrize("failure", [DataHubError("the DataHub refused: 50000"), Kill()])
def test_a_failed_fetch_stops_the_import_and_the_next_run_publishes_everything_once(make_world, monkeypatch,
                                                                                      failure):  # fmt: skip
    """The second share of meters fails (the DataHub's error, or the process killed): the
    import stops with it, what it had claimed is published or resubmitted, and the next run
    publishes every certified measurement exactly once."""
    monkeypatch.setattr(importer_module, "FETCH_METERS", 4)
    world = make_world()
    importer_ = world.importer()
    real_timeseries = world.datahub.timeseries
    calls = []

    def timeseries(gsrns, begin_s, end_s):
        calls.append(gsrns)
        if len(calls) == 2:
            raise failure
        return real_timeseries(gsrns, begin_s, end_s)

    world.datahub.timeseries = timeseries
    with pytest.raises(type(failure)):
        importer_.run(BEGIN, END)
    world.datahub.timeseries = real_timeseries
    report = world.importer().run(BEGIN, END)
    rows = certified(world.engine)
    assert {r.gsrn for r in rows} == {m.gsrn for m in FLEET if m.type_of_mp in ("E17", "E18")}
    assert all(r.seq is not None for r in rows) and report.stored > 0
    published = world.ledger.publications()
    assert sorted(published) == sorted(r.address for r in rows)


def test_a_meter_left_unclaimed_that_gets_new_measurements_is_published_once(make_world):
    """The first run stores the first half of the day and is killed at its first submission;
    the next one, over the whole day, finds each meter twice (left unclaimed, and stored anew):
    every measurement is published exactly once."""
    world = make_world()
    world.ledger.kill_before = 1
    with pytest.raises(Kill):
        world.importer().run(BEGIN, BEGIN + 12 * 3600)
    world.ledger.kill_before = None
    report = world.importer().run(BEGIN, END)
    rows = certified(world.engine)
    assert report.stored > 0 and all(r.seq is not None for r in rows)
    assert sorted(world.ledger.publications()) == sorted(r.address for r in rows)


def test_a_meter_listed_twice_to_claim_is_read_once(make_world):
    """Left unclaimed and stored anew, a meter is twice in the list of meters to claim: a batch
    that drains it holds each of its measurements once, and the list is done."""
    world = make_world()
    importer_ = world.importer()
    hourly = next(m.gsrn for m in FLEET if m.resolution == "PT1H" and m.type_of_mp == "E18")
    readings, _ = world.datahub.timeseries([hourly], BEGIN, BEGIN + 3 * 3600)
    importer_.store(readings, Report())
    todo = deque([hourly, hourly])
    _, body = importer_._claim_batch(importer_.ledger_config(), Report(), todo)
    published = [t["payload"]["address"] for t in parse(body)["transactions"] if t["type"] == "publish_measurement"]
    assert len(published) == len(set(published)) == 3 and not todo
