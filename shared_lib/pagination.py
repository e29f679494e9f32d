"""Keyset pagination: opaque cursors (url-safe base64 of a JSON list), page-size limits, pages of rows."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel

from .errors import invalid
from .isodate import in_bounds
from .text import bad_body_text

# A cursor holds a few sort keys; anything much longer is not one of ours.
_MAX_CURSOR_LENGTH = 1024


def _encode_value(value: Any) -> str | int:
    if isinstance(value, bool):  # an int to Python, but never a sort key of ours
        raise TypeError("cursor values cannot be bool")
    if isinstance(value, (str, int)):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("cursor values must be finite")
        return str(value)  # as text: a JSON number would go through float
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot put a {type(value).__name__} in a cursor")


def encode_cursor(*values: Any) -> str:
    """The sort key of a page's last row as an opaque string; str, int, Decimal, date, datetime, UUID."""
    payload = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    # Unpadded: "=" would need escaping in a query string.
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


# A cursor is client input: every value it decodes to must be one PostgreSQL and the driver accept, or a crafted
# cursor turns into a 500 (NUL in text: 22021; a year-1 timestamp at +14:00 overflows while pg8000 encodes it,
# after part of the query was sent). Our own cursors hold row values, all far inside these bounds; dates and times
# take the request fields' bounds (shared_lib/isodate.py).
_INT8 = 2**63
_MAX_DECIMAL = Decimal("1e15")  # NUMERIC(14,2) is the widest sort key


def _from_str(kind: Callable[[str], Any]) -> Callable[[Any], Any]:
    def parse(raw: Any) -> Any:
        if not isinstance(raw, str):
            raise ValueError
        return kind(raw)

    return parse


def _text(raw: Any) -> str:
    if not isinstance(raw, str) or bad_body_text(raw) or len(raw) > 512:
        raise ValueError
    return raw


def _int(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not -_INT8 <= raw < _INT8:
        raise ValueError
    return raw


def _decimal(raw: Any) -> Decimal:
    if not isinstance(raw, str) or not (value := Decimal(raw)).is_finite() or abs(value) >= _MAX_DECIMAL \
            or value.as_tuple().exponent < -12:
        raise ValueError
    return value


def _date(raw: Any) -> date:
    value = _from_str(date.fromisoformat)(raw)
    if not in_bounds(value):
        raise ValueError
    return value


def _datetime(raw: Any) -> datetime:
    value = _from_str(datetime.fromisoformat)(raw)
    # Checked in UTC too: an offset can carry a date inside the window outside it (0001-01-01T00:00+14:00).
    if not in_bounds(value):
        raise ValueError
    return value


# By exact type: a cursor decodes to the types the query sorts by.
_DECODERS: dict[type, Callable[[Any], Any]] = {
    str: _text,
    int: _int,
    Decimal: _decimal,
    datetime: _datetime,
    date: _date,
    UUID: _from_str(UUID),
}


def decode_cursor(cursor: str, types: tuple[type, ...]) -> tuple[Any, ...]:
    """The values encode_cursor was given, checked against `types`; ValueError("invalid cursor") otherwise."""
    unknown = [kind.__name__ for kind in types if kind not in _DECODERS]
    if unknown:  # a programming error, not a bad cursor
        raise TypeError(f"cursors cannot hold {', '.join(unknown)}")
    try:
        if len(cursor) > _MAX_CURSOR_LENGTH:
            raise ValueError
        padded = cursor + "=" * (-len(cursor) % 4)
        # validate=True: plain b64decode would silently skip characters outside the alphabet.
        raw = json.loads(base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True))
        if not isinstance(raw, list) or len(raw) != len(types):
            raise ValueError
        return tuple(_DECODERS[kind](value) for kind, value in zip(types, raw))
    except (ValueError, TypeError, OverflowError, InvalidOperation, binascii.Error, UnicodeError):
        # json.JSONDecodeError is a ValueError. One message for every kind of garbage:
        # a client only needs to know to start again from the first page.
        raise ValueError("invalid cursor") from None


PageT = TypeVar("PageT", bound=BaseModel)


def cursor_key(cursor: str | None, types: tuple[type, ...]) -> tuple[Any, ...] | None:
    """The sort key of the previous page's last row, or None on the first page; 400 `query.cursor` otherwise."""
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor, types)
    except ValueError:
        # One answer for every kind of garbage: the client only needs to start again.
        raise invalid(["query", "cursor"], "invalid cursor; start again from the first page") from None


def page_of(rows: Sequence[Any], *, limit: int, item: type[BaseModel], page: type[PageT],
            key: Callable[[Any], tuple[Any, ...]]) -> PageT:
    """The first `limit` rows as `item`s; a row beyond them (the query asks for limit + 1) means a next page,
    whose cursor is the last item's `key`."""
    items = [item.model_validate(r, from_attributes=True) for r in rows[:limit]]
    next_cursor = encode_cursor(*key(items[-1])) if len(rows) > limit else None
    return page(items=items, next_cursor=next_cursor)
