"""Periods ("YYYY-MM"), local dates in an agency's time zone, recurring-day clamping and overlaps."""
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfoNotFoundError

import pytest
from pydantic import BaseModel, ValidationError

from shared_lib.periods import (
    Period,
    PeriodStr,
    clamp_day,
    date_range,
    days_in_month,
    iso_week_start,
    local_date_of,
    local_today,
    month_start,
    overlap_days,
    parse_period,
)

# --- Period ---------------------------------------------------------------------------


def test_parse_period_and_back():
    period = parse_period("2026-11")
    assert period == Period(2026, 11)
    assert str(period) == "2026-11"
    assert Period.parse("0001-01") == Period(1, 1)


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "26-11", "2026-1", "2026/11", "2026-11-01",
                                 "2026-11\n", " 2026-11", "0000-01", "", "２０２６-11"])
def test_parse_period_refuses(bad):
    with pytest.raises(ValueError):
        parse_period(bad)


def test_parse_period_refuses_non_strings():
    with pytest.raises(ValueError):
        parse_period(202611)


@pytest.mark.parametrize(("year", "month"), [(2026, 0), (2026, 13), (0, 1), (10000, 1)])
def test_period_refuses_impossible_months(year, month):
    with pytest.raises(ValueError):
        Period(year, month)


def test_period_bounds_november():
    period = Period(2026, 11)
    assert (period.first_day, period.last_day, period.days) == (date(2026, 11, 1), date(2026, 11, 30), 30)


def test_period_bounds_february_leap_and_not():
    assert Period(2028, 2).last_day == date(2028, 2, 29)
    assert Period(2026, 2).days == 28


def test_period_of_a_date():
    assert Period.of(date(2026, 12, 31)) == Period(2026, 12)


def test_next_and_prev_cross_the_year():
    assert Period(2026, 12).next() == Period(2027, 1)
    assert Period(2027, 1).prev() == Period(2026, 12)
    assert Period(2026, 5).next().prev() == Period(2026, 5)


def test_periods_order_by_time():
    assert Period(2025, 12) < Period(2026, 1) < Period(2026, 11)
    assert max(Period(2026, 2), Period(2025, 12)) == Period(2026, 2)
    assert sorted([Period(2026, 10), Period(2025, 11)]) == [Period(2025, 11), Period(2026, 10)]


def test_period_contains_its_days_only():
    period = Period(2026, 11)
    assert date(2026, 11, 1) in period
    assert date(2026, 11, 30) in period
    assert date(2026, 12, 1) not in period
    assert date(2025, 11, 15) not in period


def test_period_is_hashable_and_frozen():
    assert {Period(2026, 11), Period(2026, 11)} == {Period(2026, 11)}
    with pytest.raises(AttributeError):
        Period(2026, 11).month = 12  # type: ignore[misc]


class Query(BaseModel):
    period: PeriodStr


def test_period_str_validates_to_a_period_and_dumps_as_text():
    query = Query.model_validate_json('{"period": "2026-11"}')
    assert query.period == Period(2026, 11)
    assert query.model_dump() == {"period": "2026-11"}
    assert query.model_dump_json() == '{"period":"2026-11"}'
    assert Query(period=Period(2026, 1)).period == Period(2026, 1)


@pytest.mark.parametrize("bad", ['"2026-13"', '"26-11"', "202611", "null"])
def test_period_str_rejects(bad):
    with pytest.raises(ValidationError) as caught:
        Query.model_validate_json(f'{{"period": {bad}}}')
    [error] = caught.value.errors()
    assert (error["loc"], error["type"], error["msg"]) == (
        ("period",), "period_format", 'must be a period such as "2026-11"')


def test_period_str_schema_is_a_pattern_string():
    assert Query.model_json_schema()["properties"]["period"] == {
        "type": "string",
        "pattern": r"^\d{4}-(0[1-9]|1[0-2])$",
        "example": "2026-11",
        "title": "Period",
    }


# --- local dates ------------------------------------------------------------------------


def test_local_today_crosses_into_the_next_month_in_berlin():
    now = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert local_today("Europe/Berlin", now) == date(2026, 12, 1)
    assert local_today("UTC", now) == date(2026, 11, 30)
    assert Period.of(local_today("Europe/Berlin", now)) == Period(2026, 12)


def test_local_today_west_of_utc_is_still_yesterday():
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert local_today("America/Los_Angeles", now) == date(2026, 11, 30)


def test_local_today_defaults_to_the_real_now():
    assert local_today("UTC") in {datetime.now(UTC).date(), datetime.now(UTC).date() - timedelta(days=1)}


def test_local_date_of_honours_daylight_saving():
    # Berlin is UTC+2 in summer, UTC+1 in winter.
    assert local_date_of(datetime(2026, 7, 31, 22, 30, tzinfo=UTC), "Europe/Berlin") == date(2026, 8, 1)
    assert local_date_of(datetime(2026, 1, 31, 22, 30, tzinfo=UTC), "Europe/Berlin") == date(2026, 1, 31)


def test_local_date_of_converts_from_any_offset():
    ts = datetime(2026, 11, 30, 20, 0, tzinfo=timezone(timedelta(hours=-5)))  # 01:00Z on Dec 1
    assert local_date_of(ts, "UTC") == date(2026, 12, 1)


def test_local_date_of_refuses_naive_timestamps():
    with pytest.raises(ValueError):
        local_date_of(datetime(2026, 11, 30, 23, 30), "UTC")


def test_unknown_time_zone_is_an_error():
    with pytest.raises(ZoneInfoNotFoundError):
        local_today("Mars/Olympus_Mons", datetime(2026, 1, 1, tzinfo=UTC))


# --- calendar helpers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "month", "day", "expected"),
    [
        (2026, 2, 31, date(2026, 2, 28)),
        (2028, 2, 30, date(2028, 2, 29)),
        (2026, 4, 31, date(2026, 4, 30)),
        (2026, 1, 31, date(2026, 1, 31)),
        (2026, 2, 15, date(2026, 2, 15)),
        (2026, 3, 1, date(2026, 3, 1)),
    ],
)
def test_clamp_day_moves_past_the_end_to_the_last_day(year, month, day, expected):
    assert clamp_day(year, month, day) == expected


@pytest.mark.parametrize("day", [0, 32, -1])
def test_clamp_day_refuses_days_outside_1_to_31(day):
    with pytest.raises(ValueError):
        clamp_day(2026, 1, day)


def test_days_in_month():
    assert [days_in_month(2026, m) for m in (1, 2, 4, 12)] == [31, 28, 30, 31]
    assert days_in_month(2000, 2) == 29 and days_in_month(2100, 2) == 28


def test_iso_week_starts_on_monday():
    assert iso_week_start(date(2026, 11, 1)) == date(2026, 10, 26)  # a Sunday
    assert iso_week_start(date(2026, 11, 2)) == date(2026, 11, 2)  # a Monday
    assert iso_week_start(date(2027, 1, 1)) == date(2026, 12, 28)  # across the year


def test_month_start():
    assert month_start(date(2026, 11, 30)) == date(2026, 11, 1)


def test_date_range_is_inclusive():
    assert list(date_range(date(2026, 11, 29), date(2026, 12, 2))) == [
        date(2026, 11, 29), date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)]
    assert list(date_range(date(2026, 11, 1), date(2026, 11, 1))) == [date(2026, 11, 1)]
    assert list(date_range(date(2026, 11, 2), date(2026, 11, 1))) == []


NOV = (date(2026, 11, 1), date(2026, 11, 30))


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (date(2026, 1, 1), None, 30),  # version in effect before and after
        (date(2026, 11, 10), None, 21),  # mid-month start: 10..30
        (date(2026, 11, 1), date(2026, 11, 9), 9),  # replaced on the 10th
        (date(2026, 11, 30), None, 1),
        (date(2026, 10, 1), date(2026, 10, 31), 0),  # ended before
        (date(2026, 12, 1), None, 0),  # starts after
        (date(2026, 10, 15), date(2026, 11, 1), 1),  # touches the first day
        (date(2026, 11, 5), date(2026, 11, 4), 0),  # empty range
    ],
)
def test_overlap_days_of_a_settings_version_with_november(start, end, days):
    assert overlap_days(start, end, *NOV) == days
    assert overlap_days(*NOV, start, end) == days  # symmetric


def test_overlap_days_both_open_ended():
    days = overlap_days(date(2026, 11, 1), None, date(2026, 11, 20), None)
    assert days == (date.max - date(2026, 11, 20)).days + 1


def test_versions_of_a_period_add_up_to_its_days():
    first = overlap_days(date(2026, 1, 1), date(2026, 11, 20), *NOV)
    second = overlap_days(date(2026, 11, 21), None, *NOV)
    assert (first, second) == (20, 10)
    assert first + second == Period(2026, 11).days
