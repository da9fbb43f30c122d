"""No measurement is ever stranded, as a property over random fault schedules: imports killed
before or after the ledger commits, the ledger down, two importers at once, a ledger that
refuses some meters (it takes hourly periods only, so the 15-minute meters are refused), the
issuing body releasing a quarantined meter. After the schedule and one clean run, every
certified measurement is on the ledger exactly once, or its meter is quarantined with the
ledger's reason in the import issues."""

import contextlib
import threading

from datahub_world import BEGIN, END, FLEET, SECTORS, Kill
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from origin.datahub import db, meters
from origin.datahub.importer import LedgerUnavailable

HOUR_S = 3600
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("run"), st.integers(0, 24)),
        st.tuples(st.sampled_from(["kill_before", "kill_after"]), st.integers(1, 6)),
        st.tuples(st.just("ledger_down"), st.integers(1, 4)),
        st.tuples(st.just("two_at_once"), st.integers(0, 24)),
        st.tuples(st.just("release"), st.integers(0, len(FLEET) - 1)),
    ),
    max_size=6,
)


def run_quietly(importer, begin, end):
    with contextlib.suppress(Kill, LedgerUnavailable):
        importer.run(begin, end)


def apply(world, step):
    kind, n = step
    ledger = world.ledger
    if kind == "run":
        run_quietly(world.importer(), BEGIN, BEGIN + n * HOUR_S + HOUR_S)
    elif kind in ("kill_before", "kill_after"):
        ledger.posts = 0
        setattr(ledger, kind, n)
        run_quietly(world.importer(), BEGIN, END)
        ledger.kill_before = ledger.kill_after = None
    elif kind == "ledger_down":
        importer = world.importer()
        calls = [0]
        real = importer.post

        def flaky(method, url, body=None, **kw):
            calls[0] += 1
            if method == "POST" and calls[0] > n:
                raise ConnectionRefusedError("ledger down")
            return real(method, url, body, **kw)

        importer.post = flaky
        run_quietly(importer, BEGIN, END)
    elif kind == "two_at_once":
        threads = [threading.Thread(target=run_quietly, args=(world.importer(), BEGIN, BEGIN + n * HOUR_S + HOUR_S))
                   for _ in range(2)]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elif kind == "release":
        gsrn = FLEET[n].gsrn
        if meters.show(world.engine, gsrn, SECTORS)["quarantine"]:
            meters.release(world.engine, gsrn)


def check_nothing_stranded(world):
    published = world.ledger.publications()
    assert len(published) == len(set(published)), "a measurement was published twice"
    published = set(published)
    with world.engine.connect() as conn:
        rows = conn.execute(select(db.measurements)).fetchall()
        refused = {r.gsrn for r in conn.execute(select(db.import_issues).where(db.import_issues.c.kind == "refused"))}
    assert rows
    quarantined = {m.gsrn for m in FLEET if meters.show(world.engine, m.gsrn, SECTORS)["quarantine"]}
    assert quarantined <= {m.gsrn for m in FLEET if m.resolution == "PT15M"}, "a healthy meter was refused"
    for r in rows:
        meter = meters.show(world.engine, r.gsrn, SECTORS)
        if r.seq is not None:
            assert r.address in published and r.batch is not None
        else:
            assert r.address not in published, f"{r.gsrn} {r.begin_s} is on the ledger but not recorded so"
            assert meter["quarantine"] and r.gsrn in refused, f"{r.gsrn} {r.begin_s} is stranded: {meter}"


@given(STEPS)
@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_no_measurement_is_stranded(make_world, steps):
    world = make_world(resolutions_s=[3600])  # the 15-minute meters are refused, and quarantined
    for step in steps:
        apply(world, step)
    world.importer().run(BEGIN, END)  # the run after the faults
    check_nothing_stranded(world)


def test_an_importer_overtaken_while_it_claims_claims_anew(make_world):
    """Importer B claims between importer A's reading the measurements and A's claiming them: A
    claims anew (PostgreSQL), or B waits for A's claim (SQLite); nothing is published twice and
    no healthy meter is refused."""
    world = make_world()
    a, b = world.importer(), world.importer()
    real_unit, raced = a._unit, []

    def racing_unit(*args):
        if not raced:
            raced.append(threading.Thread(target=run_quietly, args=(b, BEGIN, END)))
            raced[0].start()
            raced[0].join(2)  # on SQLite B waits for A's write lock; A goes on
        return real_unit(*args)

    a._unit = racing_unit
    run_quietly(a, BEGIN, END)
    raced[0].join()
    check_nothing_stranded(world)
    assert not any(meters.show(world.engine, m.gsrn, SECTORS)["quarantine"] for m in FLEET)
