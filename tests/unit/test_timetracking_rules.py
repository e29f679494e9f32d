"""The time-tracking rules as pure functions: lateness, overtime, worked minutes, missed check-out, auto clock-out."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.timetracking import rules

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
END = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)


def at(hh: int, mm: int, ss: int = 0, day: int = 20) -> datetime:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=UTC)


def test_the_business_rules_example():
    a = rules.attendance(shift_start=START, shift_end=END, checked_in_at=at(9, 12), checked_out_at=at(17, 30),
                         grace_minutes=5)
    assert a == rules.Attendance(late_minutes=12, overtime_minutes=30, worked_minutes=498)
    assert rules.late_minutes(START, at(9, 4), 5) == 0


@pytest.mark.parametrize("grace", range(0, 16))
def test_lateness_is_zero_up_to_the_grace_and_every_minute_above_it(grace):
    for minutes in range(-130, 200):
        checked_in = START + timedelta(minutes=minutes)
        expected = minutes if minutes > grace else 0
        assert rules.late_minutes(START, checked_in, grace) == expected, (grace, minutes)


def test_a_minute_that_has_only_begun_does_not_count():
    assert rules.late_minutes(START, at(9, 5, 59), 5) == 0  # 5 whole minutes: not above the grace
    assert rules.late_minutes(START, at(9, 6, 0), 5) == 6
    assert rules.late_minutes(START, at(9, 6, 59), 5) == 6
    assert rules.worked_minutes(at(9, 0, 30), at(9, 1, 29)) == 0
    assert rules.worked_minutes(at(9, 0, 30), at(9, 1, 30)) == 1
    assert rules.overtime_minutes(END, at(17, 0, 59)) == 0


def test_whole_minutes_rounds_down_for_negative_spans_too():
    assert rules.whole_minutes(START, START - timedelta(seconds=1)) == -1
    assert rules.whole_minutes(START, START + timedelta(microseconds=59_999_999)) == 0


def test_overtime_counts_only_after_the_end():
    assert rules.overtime_minutes(END, at(16, 0)) == 0
    assert rules.overtime_minutes(END, END) == 0
    assert rules.overtime_minutes(END, at(17, 1)) == 1
    assert rules.overtime_minutes(END, at(19, 45)) == 165


def test_worked_time_includes_an_early_check_in_and_is_never_negative():
    assert rules.worked_minutes(at(8, 30), at(17, 0)) == 510
    assert rules.worked_minutes(at(10, 0), at(9, 0)) == 0


def test_open_entry_has_lateness_but_no_worked_or_overtime_yet():
    a = rules.attendance(shift_start=START, shift_end=END, checked_in_at=at(9, 20), checked_out_at=None,
                         grace_minutes=5)
    assert a == rules.Attendance(20, None, None)


def test_a_shift_crossing_midnight_in_a_non_utc_zone():
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 11, 30, 22, 0, tzinfo=berlin)
    end = datetime(2026, 12, 1, 6, 0, tzinfo=berlin)
    a = rules.attendance(shift_start=start, shift_end=end, checked_in_at=datetime(2026, 11, 30, 22, 7, tzinfo=berlin),
                         checked_out_at=datetime(2026, 12, 1, 6, 15, tzinfo=berlin), grace_minutes=5)
    assert a == rules.Attendance(late_minutes=7, overtime_minutes=15, worked_minutes=488)


def test_worked_minutes_follow_real_time_across_a_dst_change():
    berlin = ZoneInfo("Europe/Berlin")
    # 2026-10-25 03:00 CEST becomes 02:00 CET: the night from 22:00 to 06:00 lasts 9 hours.
    checked_in = datetime(2026, 10, 24, 22, 0, tzinfo=berlin)
    checked_out = datetime(2026, 10, 25, 6, 0, tzinfo=berlin)
    assert rules.worked_minutes(checked_in, checked_out) == 540


def test_a_check_in_belongs_to_a_shift_it_covers_or_that_starts_within_two_hours():
    assert rules.can_open(START, END, at(7, 0))
    assert not rules.can_open(START, END, at(6, 59, 59))
    assert rules.can_open(START, END, at(16, 59, 59))
    assert not rules.can_open(START, END, END)


def test_missed_check_out_is_four_hours_after_the_shift_end():
    assert not rules.missed_check_out(END, at(20, 59, 59))
    assert rules.missed_check_out(END, at(21, 0))


def test_auto_clock_out_after_max_shift_hours_at_the_shift_end():
    checked_in = at(9, 3)
    assert not rules.auto_close_due(checked_in, 12, at(21, 2, 59))
    assert rules.auto_close_due(checked_in, 12, at(21, 3))
    assert rules.auto_close_at(shift_end=END, checked_in_at=checked_in, max_shift_hours=12) == END
    # A limit shorter than the shift closes at the limit, never at a time that has not happened yet.
    assert rules.auto_close_at(shift_end=END, checked_in_at=checked_in, max_shift_hours=4) == at(13, 3)


def test_sweep_cutoff_is_the_end_of_the_utc_date_but_never_beyond_now():
    now = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    assert rules.sweep_cutoff(date(2026, 11, 20), now) == datetime(2026, 11, 21, tzinfo=UTC)
    assert rules.sweep_cutoff(date(2026, 11, 25), now) == now
    assert rules.sweep_cutoff(date(2026, 12, 31), now) == now


moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))


@given(start=moments, length=st.integers(1, 24 * 60), in_offset=st.integers(-120, 24 * 60),
       stay=st.integers(0, 24 * 60 * 60), grace=st.integers(0, 120))
def test_attendance_laws(start, length, in_offset, stay, grace):
    in_offset = min(in_offset, length - 1)  # a check-in is always before the shift's end
    end = start + timedelta(minutes=length)
    checked_in = start + timedelta(minutes=in_offset)
    checked_out = checked_in + timedelta(seconds=stay)
    a = rules.attendance(shift_start=start, shift_end=end, checked_in_at=checked_in, checked_out_at=checked_out,
                         grace_minutes=grace)
    assert a.worked_minutes == stay // 60
    assert a.late_minutes == (in_offset if in_offset > grace else 0)
    assert a.overtime_minutes == max(0, rules.whole_minutes(end, checked_out))
    assert 0 <= a.overtime_minutes <= a.worked_minutes


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        rules.whole_minutes(datetime(2026, 11, 20, 9, 0), END)


def test_rules_compare_instants_not_wall_clocks_in_the_dst_fold():
    berlin = ZoneInfo("Europe/Berlin")
    # 02:30 happens twice on 2026-10-25; fold=1 is the later one (CET), an hour after fold=0 (CEST).
    first, second = datetime(2026, 10, 25, 2, 30, tzinfo=berlin), datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=berlin)
    assert rules.whole_minutes(first, second) == 60
    assert rules.late_minutes(first, second, 5) == 60
    assert rules.missed_check_out(first, second + timedelta(hours=3)) is True
