"""Time-tracking rules as pure functions: lateness, overtime, worked minutes, missed check-outs, auto clock-out."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

MINUTE = timedelta(minutes=1)
CHECK_IN_WINDOW = timedelta(hours=2)  # a check-in may open a shift that starts within 2 h
MISSED_CHECK_OUT_AFTER = timedelta(hours=4)  # still open this long after the shift's end: a missed check-out
MAX_SHIFT_LENGTH = timedelta(hours=24)
# How far a chatter app's own `at` may be from when Firestore received the document, ahead (a device clock) or
# behind (a short offline spell); firestore.rules bounds it by request.time the same. More lenient would let a
# Chatter erase lateness they cannot erase over HTTP.
CLOCK_SKEW = timedelta(minutes=5)


def _utc(ts: datetime) -> datetime:
    # Python subtracts and compares two datetimes of the same zone by wall clock; across a DST change that
    # is off by an hour. In UTC it is real elapsed time.
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return ts.astimezone(UTC)


def whole_minutes(start: datetime, end: datetime) -> int:
    """Whole minutes from start to end, rounded down: a minute that has only begun does not count."""
    return (_utc(end) - _utc(start)) // MINUTE  # timedelta floor division is exact (integer microseconds)


def late_minutes(shift_start: datetime, checked_in_at: datetime, grace_minutes: int) -> int:
    """Minutes after the shift's start, counted only when above the grace (then all of them: 12 with grace 5)."""
    minutes = whole_minutes(shift_start, checked_in_at)
    return minutes if minutes > grace_minutes else 0


def overtime_minutes(shift_end: datetime, checked_out_at: datetime) -> int:
    return max(0, whole_minutes(shift_end, checked_out_at))


def worked_minutes(checked_in_at: datetime, checked_out_at: datetime) -> int:
    return max(0, whole_minutes(checked_in_at, checked_out_at))


@dataclass(frozen=True)
class Attendance:
    late_minutes: int
    overtime_minutes: int | None  # None while the entry is open
    worked_minutes: int | None


def attendance(*, shift_start: datetime, shift_end: datetime, checked_in_at: datetime,
               checked_out_at: datetime | None, grace_minutes: int) -> Attendance:
    late = late_minutes(shift_start, checked_in_at, grace_minutes)
    if checked_out_at is None:
        return Attendance(late, None, None)
    return Attendance(late, overtime_minutes(shift_end, checked_out_at), worked_minutes(checked_in_at, checked_out_at))


def can_open(shift_start: datetime, shift_end: datetime, at: datetime) -> bool:
    """Whether a check-in at `at` belongs to this shift: it covers `at` or starts within the next 2 h."""
    return _utc(shift_start) - CHECK_IN_WINDOW <= _utc(at) < _utc(shift_end)


def auto_close_due(checked_in_at: datetime, max_shift_hours: int, at: datetime) -> bool:
    """An entry still open max_shift_hours after its check-in is closed by the system."""
    return _utc(at) >= _utc(checked_in_at) + timedelta(hours=max_shift_hours)


def auto_close_at(*, shift_end: datetime, checked_in_at: datetime, max_shift_hours: int) -> datetime:
    """Where the system closes it: the shift's end, or earlier when max_shift_hours is shorter than the shift
    (never a time that has not happened yet)."""
    return min(_utc(shift_end), _utc(checked_in_at) + timedelta(hours=max_shift_hours))


def missed_check_out(shift_end: datetime, open_until: datetime) -> bool:
    """Whether an entry still open at `open_until` counts as a missed check-out."""
    return _utc(open_until) >= _utc(shift_end) + MISSED_CHECK_OUT_AFTER


def sweep_cutoff(as_of: date, now: datetime) -> datetime:
    """The sweep looks at everything up to the end of the UTC date as_of, but never beyond now."""
    return min(_utc(now), datetime.combine(as_of + timedelta(days=1), time(0), UTC))
