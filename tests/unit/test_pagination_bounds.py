"""A crafted cursor decodes only to values PostgreSQL and the driver accept; anything else is an invalid cursor."""
import base64
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from shared_lib.pagination import decode_cursor, encode_cursor

ROW_ID = "0b9f6c1e-7d2a-4c3b-9e8f-1a2b3c4d5e6f"


def _raw(*values) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


@pytest.mark.parametrize("payload,types", [
    (("0001-01-01T00:00:00+14:00", ROW_ID), (datetime, UUID)),   # overflows in UTC
    (("9999-12-31T23:59:59-14:00", ROW_ID), (datetime, UUID)),
    (("1899-12-31T23:59:59+00:00", ROW_ID), (datetime, UUID)),
    (("3000-01-01T00:00:00", ROW_ID), (datetime, UUID)),
    (("0001-01-01", ROW_ID), (date, UUID)),
    (("9999-12-31", ROW_ID), (date, UUID)),
    (("a\u0000b", ROW_ID), (str, UUID)),                            # PostgreSQL text cannot hold NUL
    (("x" * 513, ROW_ID), (str, UUID)),
    ((2**63,), (int,)),
    ((-(2**63) - 1,), (int,)),
    (("1e15",), (Decimal,)),
    (("-1e999999",), (Decimal,)),
    (("1e-13",), (Decimal,)),
])
def test_values_outside_what_the_database_takes_are_an_invalid_cursor(payload, types):
    with pytest.raises(ValueError, match="invalid cursor"):
        decode_cursor(_raw(*payload), types)


def test_values_at_the_edges_of_the_window_still_round_trip():
    values = (datetime(1900, 1, 1, 0, 0, tzinfo=UTC), date(2999, 12, 31), "ünïcødé", 2**63 - 1,
              Decimal("999999999999.99"), UUID(ROW_ID))
    assert decode_cursor(encode_cursor(*values), (datetime, date, str, int, Decimal, UUID)) == values
