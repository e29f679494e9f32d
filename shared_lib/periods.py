"""Payout periods ("YYYY-MM") and calendar helpers for local dates in an agency's time zone."""
from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from . import clock

# ASCII digits only, and the whole string (re's "$" would let a trailing newline through).
_PERIOD_TEXT = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


def days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


@dataclass(frozen=True, order=True, slots=True)
class Period:
    """A calendar month, the payout period; orders by time."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1 <= self.year <= 9999 and 1 <= self.month <= 12):
            raise ValueError(f"not a period: {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> Period:
        """'2026-11' → Period(2026, 11); ValueError on anything else."""
        match = _PERIOD_TEXT.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f'period must look like "2026-11", got {text!r}')
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, d: date) -> Period:
        """The period a local date falls in (localize a timestamp first: local_date_of)."""
        return cls(d.year, d.month)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, self.days)

    @property
    def days(self) -> int:
        return days_in_month(self.year, self.month)

    def next(self) -> Period:
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)

    def prev(self) -> Period:
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)

    def __contains__(self, d: date) -> bool:
        return (d.year, d.month) == (self.year, self.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


parse_period = Period.parse


def _validate_period(value: Any) -> Period:
    if isinstance(value, Period):
        return value
    try:
        return Period.parse(value)
    except ValueError:
        raise PydanticCustomError("period_format", 'must be a period such as "2026-11"') from None


# Validates to a Period; dumps as "YYYY-MM" in every mode, since pydantic would turn
# a dataclass into a {"year", "month"} dict in model_dump().
PeriodStr = Annotated[
    Period,
    PlainValidator(_validate_period),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$", "example": "2026-11"}),
]


def local_date_of(ts: datetime, tz_name: str) -> date:
    """The agency-local date of an instant; a naive timestamp is refused, since its zone is a guess."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware")
    return ts.astimezone(ZoneInfo(tz_name)).date()


def local_today(tz_name: str, now: datetime | None = None) -> date:
    """Today in the agency's time zone (IANA name): shared_lib.clock's today, or that of a given instant `now`."""
    return local_date_of(now, tz_name) if now is not None else clock.today_in(tz_name)


def clamp_day(year: int, month: int, day: int) -> date:
    """The date of day-of-month `day` in that month; 29–31 past the month's end give its last day."""
    if not 1 <= day <= 31:
        raise ValueError(f"day of month must be 1–31, got {day}")
    return date(year, month, min(day, days_in_month(year, month)))


def iso_week_start(d: date) -> date:
    """The Monday of d's ISO week."""
    return d - timedelta(days=d.weekday())


def month_start(d: date) -> date:
    return d.replace(day=1)


def date_range(start: date, end: date) -> Iterator[date]:
    """start, start + 1 day, …, end (inclusive); nothing when end < start."""
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


def overlap_days(a_start: date, a_end: date | None, b_start: date, b_end: date | None) -> int:
    """Days two inclusive date ranges share; an end of None is open-ended."""
    start = max(a_start, b_start)
    end = min(a_end or date.max, b_end or date.max)
    return max(0, (end - start).days + 1)
