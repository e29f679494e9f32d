"""timetracking_service.worked_minutes_for, the hourly line's input: closed entries only, per user and local
shift-start date, and the per-version sum the payouts service forms from it (under its role)."""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from functions.timetracking import service
from functions.timetracking.schemas import ClockCommand
from shared_lib.db import engine, unit_of_work
from tests import factories as f


def utc(mo, d, h, mi=0) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=UTC)


def worked(owner, period: str) -> list[tuple]:
    return [tuple(r) for r in f.sql("SELECT user_id, shift_day, minutes FROM "
                                    "timetracking_service.worked_minutes_for(:a, :p)", a=owner.agency_id, p=period)]


def check(owner, person, action, at: datetime):
    with unit_of_work() as uow:
        getattr(service, action)(uow=uow, caller=owner.caller(), cmd=ClockCommand(user_id=person.id, at=at))


def worked_shift(owner, person, start: datetime, end: datetime, out: datetime | None):
    f.shift(person, start, end)
    check(owner, person, "clock_in", start)
    if out is not None:
        check(owner, person, "clock_out", out)


@pytest.fixture
def d2(db):
    """Worked example 2's D2: three shifts of 09:00-19:00, out at 19:00, 19:00 and 19:30."""
    owner = f.make_agency().owner
    d2 = f.make_user(owner, display_name="D2")
    for day, out in ((12, utc(10, 12, 19)), (13, utc(10, 13, 19)), (14, utc(10, 14, 19, 30))):
        worked_shift(owner, d2, utc(10, day, 9), utc(10, day, 19), out)
    return owner, d2


def test_worked_example_2_d2_worked_1830_minutes(d2):
    owner, d2 = d2
    assert worked(owner, "2026-10") == [(d2.id, date(2026, 10, 12), 600), (d2.id, date(2026, 10, 13), 600),
                                        (d2.id, date(2026, 10, 14), 630)]
    assert sum(m for *_, m in worked(owner, "2026-10")) == 1830
    assert worked(owner, "2026-11") == []


def test_an_open_entry_counts_once_it_is_closed(d2):
    owner, d2 = d2
    worked_shift(owner, d2, utc(10, 15, 9), utc(10, 15, 19), out=None)
    assert [day for _, day, _ in worked(owner, "2026-10")] == [date(2026, 10, d) for d in (12, 13, 14)]
    check(owner, d2, "clock_out", utc(10, 15, 18))
    assert worked(owner, "2026-10")[-1] == (d2.id, date(2026, 10, 15), 540)


def test_payouts_sum_the_minutes_per_settings_version_under_their_role(d2):
    """The join the hourly line is: each day on the version in effect on it, one sum and one rate per version."""
    owner, d2 = d2
    f.set_financial_settings(d2, date(2026, 9, 1), compensation_type="hourly_plus_commission",
                             commission_rate="5.00")
    f.sql("UPDATE user_service.user_financial_settings SET hourly_rate = 6.00 WHERE user_id = :u", u=d2.id)
    f.set_financial_settings(d2, date(2026, 10, 14), compensation_type="hourly_plus_commission",
                             commission_rate="5.00")
    f.sql("UPDATE user_service.user_financial_settings SET hourly_rate = 8.00 "
          "WHERE user_id = :u AND effective_from = DATE '2026-10-14'", u=d2.id)
    with engine().begin() as c:
        c.execute(text("SET LOCAL ROLE om_payouts"))
        rows = c.execute(text("""
            SELECT v.version_id, v.effective_from, v.hourly_rate, sum(w.minutes)::integer AS minutes
            FROM timetracking_service.worked_minutes_for(:a, :p) w
            JOIN user_service.user_financial_settings_versions v
              ON v.user_id = w.user_id AND w.shift_day BETWEEN v.effective_from AND coalesce(v.effective_to, 'infinity')
            WHERE v.compensation_type IN ('hourly', 'hourly_plus_commission')
            GROUP BY v.version_id, v.effective_from, v.hourly_rate
            ORDER BY v.effective_from"""), {"a": owner.agency_id, "p": "2026-10"}).all()
    assert [(r.effective_from, r.hourly_rate, r.minutes) for r in rows] == [
        (date(2026, 9, 1), Decimal("6.00"), 1200), (date(2026, 10, 14), Decimal("8.00"), 630)]


def test_a_shift_counts_on_its_local_start_date_and_only_in_its_agency(db):
    owner = f.make_agency(timezone="America/New_York").owner
    other = f.make_agency().owner
    night, elsewhere = f.make_user(owner), f.make_user(other)
    ny = ZoneInfo("America/New_York")
    # 2026-10-31 22:00 EDT is 2026-11-01 02:00 UTC: October's, in New York.
    worked_shift(owner, night, datetime(2026, 10, 31, 22, tzinfo=ny), datetime(2026, 11, 1, 6, tzinfo=ny),
                 datetime(2026, 11, 1, 6, tzinfo=ny))
    worked_shift(other, elsewhere, utc(10, 20, 9), utc(10, 20, 17), utc(10, 20, 17))
    assert worked(owner, "2026-10") == [(night.id, date(2026, 10, 31), 540)]  # the night the clocks went back
    assert worked(owner, "2026-11") == []
    assert worked(other, "2026-10") == [(elsewhere.id, date(2026, 10, 20), 480)]


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "oct", None])
def test_a_malformed_period_is_refused(db, period):
    owner = f.make_agency().owner
    with pytest.raises(DBAPIError, match="period must look like 2026-11"):
        worked(owner, period)
