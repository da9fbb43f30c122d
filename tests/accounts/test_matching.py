"""Hourly matching against a fixture computed by hand across the end of summer time (the Danish
day of 2025-10-26 has 25 hours, and 02:00 twice), and its properties."""

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from origin.accounts import db, matching, wallets
from origin.accounts.custody import LocalKek
from origin.protocol.times import parse_time

H = 3600
T0 = parse_time("2025-10-25T21:00:00Z")  # 23:00 in Copenhagen (summer time)
KEK = LocalKek(bytes(32))


@pytest.fixture
def engine(database_url):
    engine = db.connect(database_url)
    yield engine
    engine.dispose()


def account(engine) -> str:
    return wallets.create(engine, KEK, "Consumer", 0).id


def fill(engine, who: str, rows: list[tuple[int, int, int, str, int]], techs: dict[int, str] | None = None) -> None:
    """Consumption measurements (begin_s, seconds long, amount, sector, retired), each retired
    Wh as one GGO of the technology given for its index (solar by default)."""
    techs = techs or {}
    with engine.begin() as conn:
        for i, (begin, length, amount, sector, retired) in enumerate(rows):
            key = hashlib.sha256(f"{who} {i}".encode()).hexdigest()
            address = f"fbb4f9{key}"
            conn.execute(insert(db.measurements).values(address=address, account=who, meter=0, begin_s=begin,
                                                        end_s=begin + length, sector=sector, type="CONSUMPTION",
                                                        amount_wh=amount, retired_wh=retired, seq=1))  # fmt: skip
            if retired:
                ggo = f"62fe8a{key}"
                conn.execute(insert(db.ggos).values(address=ggo, account=who, origin=ggo, begin_s=begin, end_s=begin + length,
                                                    amount_wh=retired, sector=sector, tech_type=techs.get(i, "T010000"),
                                                    fuel_type="F01010101", source="received", key_path="0'/0",
                                                    state="retired", seq=1))  # fmt: skip
                conn.execute(insert(db.retirements).values(ggo=ggo, account=who, measurement=address, amount_wh=retired,
                                                           seq=2))  # fmt: skip


def dst_fixture() -> list[tuple[int, int, int, str, int]]:
    rows = [(T0, H, 1000, "DK1", 100)]  # 23:00 on the 25th: 10 %
    for n in range(1, 26):  # the 25 hours of the 26th: n = 3 is 02:00 summer time, n = 4 02:00 winter time
        begin = T0 + n * H
        if n == 13:  # 10:00Z = 11:00 local: four quarter hours, two of them fully retired
            rows += [(begin + q * 900, 900, 250, "DK1", [250, 250, 0, 0][q]) for q in range(4)]
        else:
            rows.append((begin, H, 1000, "DK1", {1: 0, 3: 1000, 4: 500}.get(n, 0)))
    rows.append((T0 + 26 * H, H, 1000, "DK1", 1000))  # 00:00 on the 27th, fully matched
    rows.append((T0 + 13 * H, H, 1000, "DK2", 1000))  # another price area in the same hour
    return rows


def test_a_hand_computed_fixture_across_the_end_of_summer_time(engine):
    who = account(engine)
    fill(engine, who, dst_fixture(), techs={0: "T020000"})
    with engine.connect() as conn:
        day = matching.matching(conn, who, T0, T0 + 27 * H, "day", sector="DK1")
        profile = {p["period"]: p for p in day.profile}
        both = matching.matching(conn, who, T0, T0 + 27 * H, "day")
        hourly = matching.matching(conn, who, T0, T0 + 27 * H, "hour", sector="DK1")
    periods = {p["period"]: (p["consumption_wh"], p["matched_wh"]) for p in day.periods}
    # By hand: the 25th has one hour (23:00); the 26th 25 hours of 1000 Wh, 1000 (02:00 summer
    # time) + 500 (02:00 winter time) + 500 (the quarters of 11:00) matched; the 27th its first
    # hour, all matched.
    assert periods == {"2025-10-25": (1000, 100), "2025-10-26": (25_000, 2_000), "2025-10-27": (1000, 1000)}
    assert day.consumption_wh == 27_000 and day.matched_wh == 3_100
    assert day.out()["score"] == pytest.approx(3_100 / 27_000)
    # 02:00 comes twice on the 26th (00:00Z in summer time, 01:00Z in winter time).
    assert (profile["02"]["consumption_wh"], profile["02"]["matched_wh"]) == (2000, 1500)
    assert (profile["03"]["consumption_wh"], profile["03"]["matched_wh"]) == (1000, 0)
    assert (profile["23"]["consumption_wh"], profile["23"]["matched_wh"]) == (2000, 100)
    assert (profile["00"]["consumption_wh"], profile["00"]["matched_wh"]) == (2000, 1000)
    assert (profile["11"]["consumption_wh"], profile["11"]["matched_wh"]) == (1000, 500)  # the quarters, in their hour
    assert len(hourly.periods) == 27 and sum(1 for p in hourly.periods if "T02:00:00" in p["period"]) == 2
    assert day.technologies == {"T010000": 3000, "T020000": 100}
    # The other price area's hour counts only for itself: it never covers DK1's.
    assert both.consumption_wh == 28_000 and both.matched_wh == 4_100


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.integers(0, 47), st.integers(0, 5000), st.integers(0, 100)), min_size=1, max_size=30),
       extra=st.integers(0, 100), cut=st.integers(1, 99))  # fmt: skip
def test_matching_properties(engine, rows, extra, cut):
    """The score is between 0 and 1; retiring more never lowers it; a retirement split in two
    GGOs changes nothing."""
    who = account(engine)
    hours = [(T0 + h * H, H, amount, "DK1", amount * pct // 100) for h, amount, pct in rows]

    def score() -> float | None:
        with engine.connect() as conn:
            return matching.matching(conn, who, T0, T0 + 48 * H, "day").out()["score"]

    def reset(with_rows):
        with engine.begin() as conn:
            for table in (db.retirements, db.ggos, db.measurements):
                conn.execute(delete(table).where(table.c.account == who))
        fill(engine, who, with_rows)

    reset(hours)
    first = score()
    assert first is None or 0 <= first <= 1
    more = [(b, n, c, s, min(c, r + c * extra // 100)) for b, n, c, s, r in hours]
    reset(more)
    second = score()
    assert first is None or second >= first
    with engine.connect() as conn:
        before = matching.matching(conn, who, T0, T0 + 48 * H, "hour").out()
    split = []
    for b, n, c, s, r in more:  # each retirement as two GGOs of the same total
        part = r * cut // 100
        split += [(b, n, c, s, part), (b, n, 0, s, r - part)]
    reset(split)
    with engine.connect() as conn:
        after = matching.matching(conn, who, T0, T0 + 48 * H, "hour").out()
    assert (after["consumption_wh"], after["matched_wh"]) == (before["consumption_wh"], before["matched_wh"])
    assert [(p["period"], p["matched_wh"]) for p in after["periods"]] == [(p["period"], p["matched_wh"])
                                                                          for p in before["periods"]]  # fmt: skip
