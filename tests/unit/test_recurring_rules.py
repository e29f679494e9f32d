"""The recurring schedule fields (shared_lib.recurrence) and ISO dates at the boundary (shared_lib.isodate)."""
from __future__ import annotations

from datetime import date

import pytest
from pydantic import BaseModel, ValidationError

from shared_lib.isodate import IsoDate
from shared_lib.recurrence import RecurrenceFields


class When(BaseModel):
    d: IsoDate


@pytest.mark.parametrize("raw", ["2026-02-29", "2026-11-5", "20261105", "2026-11-05T00:00:00", 1699920000, True,
                                 None, "２０２６-11-05", " 2026-11-05"])
def test_only_real_yyyy_mm_dd_dates_pass(raw):
    with pytest.raises(ValidationError):
        When(d=raw)


def test_iso_dates_round_trip_as_text():
    assert When(d="2024-02-29").d == date(2024, 2, 29)
    assert When(d="2024-02-29").model_dump(mode="json") == {"d": "2024-02-29"}
    assert When.model_json_schema()["properties"]["d"]["format"] == "date"


def fields_errors(**body) -> list[tuple]:
    with pytest.raises(ValidationError) as exc:
        RecurrenceFields.model_validate(body)
    return [(e["loc"], e["msg"]) for e in exc.value.errors()]


def test_each_frequency_takes_exactly_its_own_day_field():
    assert RecurrenceFields.model_validate({"frequency": "daily", "start_date": "2026-11-01"}).day_of_week is None
    assert RecurrenceFields.model_validate({"frequency": "weekly", "day_of_week": 7,
                                            "start_date": "2026-11-01"}).day_of_week == 7
    assert RecurrenceFields.model_validate({"frequency": "monthly", "day_of_month": 31,
                                            "start_date": "2026-11-01"}).day_of_month == 31
    assert fields_errors(frequency="weekly", start_date="2026-11-01") == [
        (("day_of_week",), "required for a weekly schedule (1 = Monday … 7 = Sunday)")]
    assert fields_errors(frequency="monthly", day_of_week=1, start_date="2026-11-01") == [
        (("day_of_week",), "only for a weekly schedule"), (("day_of_month",), "required for a monthly schedule (1–31)")]
    assert fields_errors(frequency="daily", day_of_month=1, start_date="2026-11-01") == [
        (("day_of_month",), "only for a monthly schedule")]


def test_day_numbers_are_json_integers_in_range():
    assert [loc for loc, _ in fields_errors(frequency="weekly", day_of_week="1", start_date="2026-11-01")] == \
        [("day_of_week",)]
    assert [loc for loc, _ in fields_errors(frequency="weekly", day_of_week=0, start_date="2026-11-01")] == \
        [("day_of_week",)]
    assert [loc for loc, _ in fields_errors(frequency="monthly", day_of_month=32, start_date="2026-11-01")] == \
        [("day_of_month",)]


def test_end_date_is_on_or_after_start_date():
    ok = RecurrenceFields.model_validate({"frequency": "daily", "start_date": "2026-11-01", "end_date": "2026-11-01"})
    assert ok.end_date == ok.start_date
    assert fields_errors(frequency="daily", start_date="2026-11-02", end_date="2026-11-01") == [
        (("end_date",), "must not be before start_date")]
    assert fields_errors(frequency="daily", start_date="1999-12-31") == [
        (("start_date",), "must not be before 2000-01-01")]


def test_an_unknown_frequency_is_reported_once():
    assert [loc for loc, _ in fields_errors(frequency="hourly", day_of_week=3, start_date="2026-11-01")] == \
        [("frequency",)]
