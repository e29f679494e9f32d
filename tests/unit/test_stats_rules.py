"""Pure statistics rules: ranges, trend buckets (ISO weeks, months), change_pct, AFV rounding, changed days."""
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from functions.stats import rules
from functions.stats.rules import Bucket
from shared_lib.contracts import ExpenseRecorded, IncomeUpdated
from shared_lib.errors import BadRequest
from shared_lib.periods import Period

D = date


# --- ranges ------------------------------------------------------------------------------------------------------


def test_default_range_is_the_current_month_to_date():
    assert rules.resolve_range(None, None, D(2026, 11, 25)) == (D(2026, 11, 1), D(2026, 11, 25))


def test_default_range_on_the_first_of_the_month_is_that_one_day():
    assert rules.resolve_range(None, None, D(2026, 12, 1)) == (D(2026, 12, 1), D(2026, 12, 1))


def test_only_date_from_runs_to_today_and_only_date_to_starts_its_month():
    assert rules.resolve_range(D(2026, 9, 10), None, D(2026, 11, 25)) == (D(2026, 9, 10), D(2026, 11, 25))
    assert rules.resolve_range(None, D(2026, 10, 20), D(2026, 11, 25)) == (D(2026, 10, 1), D(2026, 10, 20))


def test_reversed_range_names_date_to():
    with pytest.raises(BadRequest) as exc:
        rules.resolve_range(D(2026, 11, 10), D(2026, 11, 9), D(2026, 11, 25))
    assert exc.value.errors == [{"loc": ["query", "date_to"], "msg": "must not be before date_from"}]


def test_date_from_after_the_default_date_to_names_date_from():
    with pytest.raises(BadRequest) as exc:
        rules.resolve_range(D(2026, 12, 1), None, D(2026, 11, 25))
    assert exc.value.errors[0]["loc"] == ["query", "date_from"]


def test_range_longer_than_ten_years_is_refused():
    assert rules.resolve_range(D(2016, 1, 1), D(2026, 1, 7), D(2026, 11, 25))[1] == D(2026, 1, 7)  # 3660 days
    with pytest.raises(BadRequest) as exc:
        rules.resolve_range(D(2016, 1, 1), D(2026, 1, 8), D(2026, 11, 25))
    assert exc.value.errors[0]["loc"] == ["query", "date_from"]


# --- buckets -----------------------------------------------------------------------------------------------------


def test_weekly_buckets_are_iso_weeks_from_monday_clipped_to_the_range():
    # 2026-11-01 is a Sunday: the first bucket is that one day, then Monday-to-Sunday weeks.
    assert rules.buckets(D(2026, 11, 1), D(2026, 11, 17), "weekly") == [
        Bucket(D(2026, 11, 1), D(2026, 11, 1)),
        Bucket(D(2026, 11, 2), D(2026, 11, 8)),
        Bucket(D(2026, 11, 9), D(2026, 11, 15)),
        Bucket(D(2026, 11, 16), D(2026, 11, 17)),
    ]


def test_a_week_spanning_new_year_is_one_bucket():
    # ISO week 53 of 2026 runs Monday 2026-12-28 to Sunday 2027-01-03.
    assert rules.buckets(D(2026, 12, 28), D(2027, 1, 4), "weekly") == [
        Bucket(D(2026, 12, 28), D(2027, 1, 3)), Bucket(D(2027, 1, 4), D(2027, 1, 4))]


def test_monthly_buckets_follow_calendar_months_including_february_in_a_leap_year():
    assert rules.buckets(D(2028, 1, 15), D(2028, 3, 2), "monthly") == [
        Bucket(D(2028, 1, 15), D(2028, 1, 31)), Bucket(D(2028, 2, 1), D(2028, 2, 29)),
        Bucket(D(2028, 3, 1), D(2028, 3, 2))]


def test_daily_buckets_are_single_days():
    assert rules.buckets(D(2026, 2, 27), D(2026, 3, 1), "daily") == [
        Bucket(D(2026, 2, 27), D(2026, 2, 27)), Bucket(D(2026, 2, 28), D(2026, 2, 28)),
        Bucket(D(2026, 3, 1), D(2026, 3, 1))]


def test_too_many_buckets_names_granularity():
    assert len(rules.checked_buckets(D(2025, 1, 1), D(2026, 12, 31), "daily")) == 730
    with pytest.raises(BadRequest) as exc:
        rules.checked_buckets(D(2024, 1, 1), D(2026, 12, 31), "daily")
    assert exc.value.errors[0]["loc"] == ["query", "granularity"]
    assert len(rules.checked_buckets(D(2017, 1, 1), D(2026, 12, 31), "monthly")) == 120


@given(st.dates(D(2000, 1, 1), D(2040, 1, 1)), st.integers(0, 800), st.sampled_from(["daily", "weekly", "monthly"]))
def test_buckets_tile_the_range_without_gaps_or_overlaps(start, length, granularity):
    end = start + timedelta(days=length)
    bs = rules.buckets(start, end, granularity)
    assert bs[0].start == start and bs[-1].end == end
    for a, b in zip(bs, bs[1:]):
        assert b.start == a.end + timedelta(days=1)
    for b in bs:
        if granularity == "weekly":
            assert b.end.weekday() == 6 or b.end == end
            assert b.start.weekday() == 0 or b.start == start
        if granularity == "monthly":
            assert (b.start.year, b.start.month) == (b.end.year, b.end.month)
            assert b.start.day == 1 or b.start == start
            assert b.end == Period.of(b.end).last_day or b.end == end


# --- change_pct and AFV ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, previous, expected", [
    ("150.00", "100.00", 50),
    ("50.00", "100.00", -50),
    ("100.00", "100.00", 0),
    ("0.00", "100.00", -100),
    ("2800.00", "15004.40", -81),      # -81.339…
    ("100.50", "100.00", 1),           # 0.5 rounds half up
    ("99.50", "100.00", -1),           # -0.5 rounds away from zero, as money does
    ("100.49", "100.00", 0),
    ("1.00", "0.01", 9900),
])
def test_change_pct_rounds_half_up_to_whole_percent(value, previous, expected):
    assert rules.change_pct(Decimal(value), Decimal(previous)) == expected


@pytest.mark.parametrize("value, previous", [("10.00", "0.00"), ("10.00", None), (None, "10.00"), ("0.00", "0")])
def test_change_pct_is_null_when_previous_is_zero_or_missing(value, previous):
    assert rules.change_pct(None if value is None else Decimal(value),
                            None if previous is None else Decimal(previous)) is None


def test_trend_buckets_carry_change_against_the_previous_bucket():
    b = [Bucket(D(2026, 11, d), D(2026, 11, d)) for d in (1, 2, 3, 4)]
    out = rules.with_change(zip(b, [Decimal("0.00"), Decimal("10.00"), Decimal("15.00"), None]))
    assert [o["change_pct"] for o in out] == [None, None, 50, None]


def test_afv_of_the_worked_example():
    assert rules.afv(Decimal("7004.40"), 1000) == Decimal("7.00")
    assert rules.afv(Decimal("10400.00"), 2000) == Decimal("5.20")
    assert rules.afv(Decimal("14000.00"), 3000) == Decimal("4.67")   # 4.6666…


def test_afv_rounds_half_up_not_to_even():
    assert rules.afv(Decimal("0.25"), 10) == Decimal("0.03")   # 0.025
    assert rules.afv(Decimal("0.45"), 10) == Decimal("0.05")   # 0.045 (banker's rounding would give 0.04)
    assert rules.afv(Decimal("1.00"), 3) == Decimal("0.33")


def test_afv_is_null_without_subscribers():
    assert rules.afv(Decimal("100.00"), None) is None
    assert rules.afv(Decimal("100.00"), 0) is None
    assert rules.afv(Decimal("0.00"), 5) == Decimal("0.00")


# --- which days an event touches -----------------------------------------------------------------------------------


def _income_moved(old_day: str, new_day: str) -> dict:
    """income.updated as published when a sale moves from old_day to new_day (shared_lib/contracts.py)."""
    snap = {"type": "message_sale", "model_id": None, "chatter_id": None, "manager_id": None,
            "assigned_to_user_id": None, "gross_amount": "1.00", "fee_amount": "0.00", "net_amount": "1.00"}
    return {"income_id": str(uuid.uuid4()), "agency_id": str(uuid.uuid4()), "schedule_id": None, "reason": "edited",
            "sale_date": new_day, "old_sale_date": old_day, "model_id": None, "chatter_id": None,
            "old": {**snap, "sale_date": old_day}, "new": {**snap, "sale_date": new_day}}


def test_changed_days_reads_old_and_new_dates_of_income_and_expense_payloads():
    income = IncomeUpdated.model_validate(_income_moved("2026-10-31", "2026-11-01"))
    assert income.days() == {D(2026, 10, 31), D(2026, 11, 1)}
    expense = ExpenseRecorded.model_validate({
        "expense_id": str(uuid.uuid4()), "agency_id": str(uuid.uuid4()), "schedule_id": None, "reason": "recorded",
        "expense_date": "2026-11-05", "old_expense_date": None, "old": None,
        "new": {"expense_date": "2026-11-05", "amount": "2.00", "source": "ads"}})
    assert expense.days() == {D(2026, 11, 5)}


def test_changed_days_refuses_what_is_not_a_date():
    # The contract, not a walk over every key ending in _date: a payload whose date is not one never validates
    # (the event is dead-lettered); an amount that looks like a date is just an amount.
    with pytest.raises(ValidationError):
        IncomeUpdated.model_validate(_income_moved("not a date", "2026-11-05"))


def test_a_snapshot_changes_the_periods_from_its_own_up_to_today():
    assert rules.periods_from(D(2026, 9, 30), D(2026, 11, 25)) == [Period(2026, 9), Period(2026, 10), Period(2026, 11)]
    assert len(rules.periods_from(D(2020, 1, 1), D(2026, 11, 25))) == 24
    assert rules.periods_from(D(2026, 12, 2), D(2026, 11, 25)) == [Period(2026, 12)]
