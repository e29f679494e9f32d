"""Calendar dates at the HTTP boundary: only "YYYY-MM-DD" text (pydantic's date would also take 1699920000)."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
EARLIEST = date(2000, 1, 1)


def _parse(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE_TEXT.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("date_value", "is not a calendar date") from None
    raise PydanticCustomError("date_format", 'must be a date such as "2026-11-05"')


IsoDate = Annotated[
    date,
    PlainValidator(_parse),
    PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date", "example": "2026-11-05"}),
]
