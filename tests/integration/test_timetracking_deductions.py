"""timetracking_service.deductions_for, the payouts' read API: negative lines, the right rate, local periods."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from functions.timetracking import service, sweep
from functions.timetracking.schemas import ClockCommand, SettingsPut
from shared_lib.db import engine, unit_of_work
from shared_lib.errors import PeriodClosed
from shared_lib.money import to_cents
from tests import factories as f


def utc(mo, d, h, mi=0) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=UTC)


def deductions(owner, period):
    return [tuple(r) for r in f.sql(
        "SELECT user_id, kind, quantity, rate, amount FROM timetracking_service.deductions_for(:a, :p)",
        a=owner.agency_id, p=period)]


def late_shift(owner, person, start: datetime, late: int):
    f.shift(person, start, start + timedelta(hours=8))
    with unit_of_work() as uow:
        service.clock_in(uow=uow, caller=owner.caller(),
                         cmd=ClockCommand(user_id=person.id, at=start + timedelta(minutes=late)))
    with unit_of_work() as uow:
        service.clock_out(uow=uow, caller=owner.caller(),
                          cmd=ClockCommand(user_id=person.id, at=start + timedelta(hours=8)))


def run_sweep(as_of: date):
    with unit_of_work() as uow:
        sweep.sweep(uow=uow, as_of=as_of, now=datetime(2026, 11, 25, 8, tzinfo=UTC))


@pytest.fixture
def agency_with_fees(db):
    owner = f.make_agency().owner
    f.set_timetracking_settings(owner, effective_from="2026-01-01", fee_per_late_minute="0.50",
                                fee_per_missed_shift="25.00")
    return owner


def test_late_minutes_and_missed_shifts_become_negative_lines(agency_with_fees):
    owner = agency_with_fees
    c1, c2 = f.make_user(owner), f.make_user(owner)
    late_shift(owner, c1, utc(11, 3, 9), 12)
    late_shift(owner, c1, utc(11, 4, 9), 17)
    late_shift(owner, c1, utc(11, 5, 9), 4)  # within the grace: no late minutes
    late_shift(owner, c2, utc(11, 3, 9), 0)
    f.shift(c1, utc(11, 6, 9), utc(11, 6, 17))
    f.shift(c2, utc(11, 6, 9), utc(11, 6, 17))
    f.shift(c2, utc(11, 7, 9), utc(11, 7, 17))
    run_sweep(date(2026, 11, 7))
    expected = sorted([
        (c1.id, "late_minutes", 29, Decimal("0.50"), Decimal("-14.50")),
        (c1.id, "missed_shift", 1, Decimal("25.00"), Decimal("-25.00")),
        (c2.id, "missed_shift", 2, Decimal("25.00"), Decimal("-50.00")),
    ], key=lambda r: (str(r[0]), r[1]))
    assert sorted(deductions(owner, "2026-11"), key=lambda r: (str(r[0]), r[1])) == expected
    for _, _, quantity, rate, amount in expected:  # one rounding per line, half up, negative
        assert amount == -to_cents(quantity * rate)
    assert deductions(owner, "2026-10") == []


def test_each_shift_uses_the_fees_in_effect_on_its_local_date(agency_with_fees):
    owner = agency_with_fees
    f.set_timetracking_settings(owner, effective_from="2026-11-15", fee_per_late_minute="0.75",
                                fee_per_missed_shift="0.00")
    c1 = f.make_user(owner)
    late_shift(owner, c1, utc(11, 10, 9), 10)
    late_shift(owner, c1, utc(11, 16, 9), 20)
    late_shift(owner, c1, utc(11, 17, 9), 7)
    f.shift(c1, utc(11, 18, 9), utc(11, 18, 17))  # missed, but the fee is 0.00 from the 15th: no line
    run_sweep(date(2026, 11, 18))
    assert deductions(owner, "2026-11") == [
        (c1.id, "late_minutes", 10, Decimal("0.50"), Decimal("-5.00")),
        (c1.id, "late_minutes", 27, Decimal("0.75"), Decimal("-20.25")),
    ]


def test_a_shift_counts_in_the_period_of_its_local_start_date(db):
    owner = f.make_agency(timezone="America/New_York").owner
    f.set_timetracking_settings(owner, effective_from="2026-01-01", fee_per_late_minute="1.00")
    chatter = f.make_user(owner)
    ny = ZoneInfo("America/New_York")
    # 2026-10-31 23:00 in New York is 2026-11-01 03:00 UTC: October's.
    late_shift(owner, chatter, datetime(2026, 10, 31, 23, 0, tzinfo=ny), 30)
    assert deductions(owner, "2026-10") == [(chatter.id, "late_minutes", 30, Decimal("1.00"), Decimal("-30.00"))]
    assert deductions(owner, "2026-11") == []


def test_no_fees_no_lines_and_other_agencies_never_mix(agency_with_fees):
    owner = agency_with_fees
    free = f.make_agency().owner
    late_shift(free, f.make_user(free), utc(11, 3, 9), 30)
    assert deductions(free, "2026-11") == []
    assert deductions(owner, "2026-11") == []


def test_the_period_must_be_a_month(agency_with_fees):
    with pytest.raises(DBAPIError, match="period must look like 2026-11"):
        deductions(agency_with_fees, "2026-13")


def test_settings_versions_are_saved_announced_and_refused_in_a_closed_period(db):
    owner = f.make_agency().owner
    cmd = SettingsPut(grace_minutes=3, late_event_threshold_minutes=10, max_shift_hours=14,
                      fee_per_late_minute="0.20", fee_per_missed_shift="30.00", effective_from=date(2026, 11, 1))
    with unit_of_work() as uow:
        saved = service.settings_put(uow=uow, caller=owner.caller(), cmd=cmd)
    assert (saved.effective_from, saved.grace_minutes, saved.fee_per_late_minute) == (date(2026, 11, 1), 3,
                                                                                      Decimal("0.20"))
    assert f.outbox_data("timetracking.settings.updated") == [
        {"agency_id": str(owner.agency_id), "effective_from": "2026-11-01", "period": "2026-11"}]
    with unit_of_work() as uow:
        current = service.settings_get(uow=uow, caller=owner.caller())
    assert current.current == saved and current.history == [saved]
    with engine().begin() as c:
        c.execute(text("INSERT INTO financial_calculations.periods (agency_id, period, status) "
                       "VALUES (:a, '2026-10', 'closed')"), {"a": owner.agency_id})
    before = f.counts()
    with pytest.raises(PeriodClosed):
        with unit_of_work() as uow:
            service.settings_put(uow=uow, caller=owner.caller(),
                                 cmd=cmd.model_copy(update={"effective_from": date(2026, 10, 31)}))
    assert f.counts() == before


def test_defaults_before_any_version(db):
    owner = f.make_agency().owner
    with unit_of_work() as uow:
        s = service.settings_get(uow=uow, caller=owner.caller())
    assert s.model_dump(mode="json") == {"current": {
        "effective_from": None, "grace_minutes": 5, "late_event_threshold_minutes": 15, "max_shift_hours": 12,
        "fee_per_late_minute": "0.00", "fee_per_missed_shift": "0.00"}, "history": []}
