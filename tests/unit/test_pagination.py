"""Keyset cursors survive a round trip exactly, and garbage is refused with one clear error."""
import base64
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from shared_lib.pagination import decode_cursor, encode_cursor

ROW_ID = UUID("0b9f6c1e-7d2a-4c3b-9e8f-1a2b3c4d5e6f")


def _raw(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_round_trip_of_every_supported_type():
    values = ("C1", 42, Decimal("1004.40"), date(2026, 11, 30),
              datetime(2026, 11, 30, 23, 30, 5, 123456, tzinfo=UTC), ROW_ID)
    types = (str, int, Decimal, date, datetime, UUID)
    decoded = decode_cursor(encode_cursor(*values), types)
    assert decoded == values
    assert [type(v) for v in decoded] == list(types)
    assert str(decoded[2]) == "1004.40"  # trailing zero kept: no float on the way


def test_round_trip_of_a_naive_datetime_and_negative_amount():
    values = (datetime(2026, 1, 2, 3, 4), Decimal("-0.01"))
    assert decode_cursor(encode_cursor(*values), (datetime, Decimal)) == values


def test_cursor_is_url_safe_and_unpadded():
    cursor = encode_cursor("ünïcødé ??? ///", Decimal("1"))
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(cursor, (str, Decimal)) == ("ünïcødé ??? ///", Decimal("1"))


def test_empty_cursor_for_no_keys():
    assert decode_cursor(encode_cursor(), ()) == ()


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "!!!not-base64!!!",
        "abc",  # bad length
        "a",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),  # not UTF-8
        _raw("a string, not a list"),
        _raw(["C1"]),  # too few values
        _raw(["C1", 1, 2]),  # too many
        _raw([1, 1]),  # int where a str is expected
        _raw(["C1", "1"]),  # str where an int is expected
        _raw(["C1", True]),  # bool is not an int
        _raw(["C1", 1.5]),
        "x" * 5000,
        "ümlaut",
    ],
)
def test_garbage_is_an_invalid_cursor(garbage):
    with pytest.raises(ValueError, match="^invalid cursor$"):
        decode_cursor(garbage, (str, int))


@pytest.mark.parametrize(
    ("payload", "types"),
    [
        (["NaN"], (Decimal,)),
        (["abc"], (Decimal,)),
        ([1.5], (Decimal,)),  # a JSON number went through float
        (["2026-13-01"], (date,)),
        (["2026-11-30T23:30:00"], (date,)),
        (["yesterday"], (datetime,)),
        (["not-a-uuid"], (UUID,)),
        ([None], (str,)),
    ],
)
def test_values_of_the_wrong_shape_are_an_invalid_cursor(payload, types):
    with pytest.raises(ValueError, match="^invalid cursor$"):
        decode_cursor(_raw(payload), types)


def test_non_string_cursor_is_invalid():
    with pytest.raises(ValueError, match="^invalid cursor$"):
        decode_cursor(None, (str,))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [1.5, True, None, object(), Decimal("NaN")])
def test_encode_refuses_unsupported_values(value):
    with pytest.raises((TypeError, ValueError)):
        encode_cursor(value)


def test_decode_refuses_unsupported_types_as_a_programming_error():
    with pytest.raises(TypeError):
        decode_cursor(encode_cursor(1), (float,))

