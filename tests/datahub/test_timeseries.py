"""The DataHub time-series parser, against responses in the real format, DST days included."""

import pytest

from origin.datahub import timeseries
from origin.protocol.times import format_time, parse_time

GSRN = "571313000000000006"


def response(periods, gsrn=GSRN, extra_items=()):
    """A gettimeseries response in the DataHub's format."""
    return {"result": [{
        "success": True, "errorCode": 10000, "errorText": "NoError", "id": gsrn, "stackTrace": None,
        "MyEnergyData_MarketDocument": {
            "mRID": "b1a2", "createdDateTime": "2025-11-01T10:00:00Z", "sender_MarketParticipant.name": "",
            "period.timeInterval": {"start": periods[0][0], "end": periods[-1][1]},
            "TimeSeries": [{
                "mRID": gsrn, "businessType": "A01", "curveType": "A01", "measurement_Unit.name": "KWH",
                "MarketEvaluationPoint": {"mRID": {"codingScheme": "A10", "name": gsrn}},
                "Period": [{"resolution": resolution, "timeInterval": {"start": start, "end": end},
                            "Point": points} for start, end, resolution, points in periods]}]}},
        *extra_items]}  # fmt: skip


def points(count, quantity="1.234", quality="A04"):
    return [{"position": str(i + 1), "out_Quantity.quantity": quantity, "out_Quantity.quality": quality}
            for i in range(count)]  # fmt: skip


@pytest.mark.parametrize("day,start,end,count", [
    ("winter", "2025-01-14T23:00:00Z", "2025-01-15T23:00:00Z", 24),
    ("spring DST, 23 h", "2025-03-29T23:00:00Z", "2025-03-30T22:00:00Z", 23),
    ("summer", "2025-06-30T22:00:00Z", "2025-07-01T22:00:00Z", 24),
    ("autumn DST, 25 h", "2025-10-25T22:00:00Z", "2025-10-26T23:00:00Z", 25),
])  # fmt: skip
def test_hourly_days(day, start, end, count):
    readings, errors = timeseries.parse(response([(start, end, "PT1H", points(count))]))
    assert not errors and len(readings) == count
    assert [format_time(r.begin_s) for r in readings[:2]] == [start, format_time(parse_time(start) + 3600)]
    assert readings[-1].end_s == parse_time(end)
    assert all(r.amount_wh == 1234 and r.certified for r in readings)


def test_a_quarter_hour_day_of_autumn_has_100_points():
    readings, _ = timeseries.parse(response([("2025-10-25T22:00:00Z", "2025-10-26T23:00:00Z", "PT15M", points(100))]))
    assert len(readings) == 100 and {r.end_s - r.begin_s for r in readings} == {900}


@pytest.mark.parametrize("kwh,wh", [("0.123", 123), ("1.5", 1500), ("0", 0), ("12345.678", 12345678), ("0.000", 0)])
def test_kwh_to_whole_wh_exactly(kwh, wh):
    assert timeseries.kwh_to_wh(kwh) == wh


@pytest.mark.parametrize("kwh", ["0.0005", "-1", "1e400", "1e3", "NaN", "abc", "", None, "１.5", "+1", "1.", ".5"])
def test_quantities_that_are_not_whole_wh(kwh):
    with pytest.raises(timeseries.FormatError):
        timeseries.kwh_to_wh(kwh)


def test_qualities_and_gaps():
    day = points(24)
    day[3] = {"position": "4", "out_Quantity.quality": "A02"}  # not available: no quantity
    day[4]["out_Quantity.quality"] = "A03"  # estimated
    day[5]["out_Quantity.quality"] = "A01"  # adjusted: certified by policy
    readings, _ = timeseries.parse(response([("2025-01-14T23:00:00Z", "2025-01-15T23:00:00Z", "PT1H", day)]))
    assert [(r.quality, r.amount_wh, r.certified) for r in readings[3:6]] == [
        ("A02", None, False),
        ("A03", 1234, False),
        ("A01", 1234, True),
    ]


def test_a_failed_item_beside_a_good_one():
    failed = {"success": False, "errorCode": 20003, "errorText": "MeteringPointIdNot18CharsLong", "id": "5713"}
    readings, errors = timeseries.parse(response([("2025-01-14T23:00:00Z", "2025-01-15T23:00:00Z", "PT1H", points(24))],
                                                 extra_items=[failed]))  # fmt: skip
    assert len(readings) == 24 and errors == [timeseries.ItemError("5713", 20003, "MeteringPointIdNot18CharsLong")]


@pytest.mark.parametrize("broken", [
    lambda r: r["result"][0]["MyEnergyData_MarketDocument"]["TimeSeries"][0].update({"measurement_Unit.name": "MWH"}),
    lambda r: r["result"][0]["MyEnergyData_MarketDocument"]["TimeSeries"][0]["Period"][0].update({"resolution": "P1D"}),
    lambda r: r["result"][0]["MyEnergyData_MarketDocument"]["TimeSeries"][0]["Period"][0]["Point"].append(
        {"position": "25", "out_Quantity.quantity": "1", "out_Quantity.quality": "A04"}),
    lambda r: r["result"][0]["MyEnergyData_MarketDocument"]["TimeSeries"][0]["Period"][0]["Point"][0].update(
        {"position": "2"}),
    lambda r: r["result"][0]["MyEnergyData_MarketDocument"]["TimeSeries"][0]["Period"][0]["Point"][0].update(
        {"out_Quantity.quality": "Z99"}),
])  # fmt: skip
def test_a_malformed_item_is_that_meters_error_only(broken):
    """One meter's unreadable answer is reported for it; the other meters' readings stand."""
    good = response([("2025-01-14T23:00:00Z", "2025-01-15T23:00:00Z", "PT1H", points(24))])["result"][0]
    r = response([("2025-01-14T23:00:00Z", "2025-01-15T23:00:00Z", "PT1H", points(24))])
    broken(r)
    r["result"].append({**good, "id": "other"})
    readings, errors = timeseries.parse(r)
    assert len(readings) == 24 and len(errors) == 1 and errors[0].text.startswith("unreadable")


def test_an_answer_without_a_result_list_is_malformed():
    with pytest.raises(timeseries.FormatError):
        timeseries.parse({})
