"""Dates and times at the HTTP boundary: ISO text only, inside bounds every computation downstream can take."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC 3339: a date, "T" (or a space), a time with optional fraction, and an offset ("Z" or ±hh:mm) always.
_DATETIME_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})")
EARLIEST = date(2000, 1, 1)  # the business floor of a sale or expense date (record_fields.NotAncientDate)

# What any client-given date or time may be, in its own offset and in UTC: far inside what Python's date
# (years 1-9999), pg8000's encoder (it converts to UTC: 0001-01-01T00:00+14:00 overflows) and PostgreSQL take,
# with room for the arithmetic that follows (the next trend bucket, a week start, a shift's +24 h, a local date
# in any time zone). Cursors (shared_lib/pagination.py) decode within the same bounds.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2999, 12, 31)
_BOUNDS = f"between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}"


def in_bounds(value: date | datetime) -> bool:
    """A date, or a datetime both as given and in UTC, within MIN_DATE..MAX_DATE."""
    if isinstance(value, datetime):
        try:
            utc = value.astimezone(timezone.utc) if value.tzinfo is not None else value
        except OverflowError:  # the offset carries it past year 1 or 9999
            return False
        return MIN_DATE <= value.date() <= MAX_DATE and MIN_DATE <= utc.date() <= MAX_DATE
    return MIN_DATE <= value <= MAX_DATE


def _parse_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and _DATE_TEXT.fullmatch(value):
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("date_value", "is not a calendar date") from None
    else:
        raise PydanticCustomError("date_format", 'must be a date such as "2026-11-05"')
    if not in_bounds(parsed):
        raise PydanticCustomError("date_range", f"must be {_BOUNDS}")
    return parsed


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:
        parsed = value
    elif isinstance(value, str) and _DATETIME_TEXT.fullmatch(value):
        try:
            # fromisoformat takes "Z" from Python 3.11; "t"/"z" in lower case are RFC 3339 too.
            parsed = datetime.fromisoformat(value.upper())
        except ValueError:
            raise PydanticCustomError("datetime_value", "is not a valid date and time") from None
    else:
        raise PydanticCustomError(
            "datetime_format", 'must be a date and time with an offset such as "2026-11-05T09:30:00+01:00"')
    if not in_bounds(parsed):
        raise PydanticCustomError("datetime_range", f"must be {_BOUNDS} (also in UTC)")
    return parsed


IsoDate = Annotated[
    date,
    PlainValidator(_parse_date),
    PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date", "example": "2026-11-05"}),
]

IsoDateTime = Annotated[
    datetime,
    PlainValidator(_parse_datetime),
    PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2026-11-05T09:30:00+01:00"}),
]
"""An aware date and time: RFC 3339 text with its offset (no Unix numbers, no naive times), within the bounds."""
