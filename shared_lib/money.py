"""All money arithmetic: cents rounded half up, percent-of, proration, allocation, pydantic types."""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from fractions import Fraction
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

CENT = Decimal("0.01")
# NUMERIC(14,2) holds 12 integer digits; a larger amount would only fail later, in the database.
MAX_AMOUNT = Decimal("999999999999.99")
# 60 significant digits: a product of two NUMERIC(14,2) values is exact, and a
# non-terminating quotient is known far past the cent it is rounded to, so
# nothing is rounded before the one quantize the rules ask for.
_PRECISION = 60

Number = Decimal | int | str


def _dec(x: Number, name: str = "amount") -> Decimal:
    # bool is an int and float is inexact: neither belongs on the money path.
    if isinstance(x, bool) or not isinstance(x, (Decimal, int, str)):
        raise TypeError(f"{name} must be a Decimal, int or str, not {type(x).__name__}")
    try:
        d = Decimal(x)
    except InvalidOperation:
        raise ValueError(f"{name} is not a number: {x!r}") from None
    if not d.is_finite():
        raise ValueError(f"{name} must be finite, got {x!r}")
    return d


def to_cents(x: Number) -> Decimal:
    """Round to cents, half up (a bare quantize or round() would round half to even)."""
    if type(x) is Decimal and x.is_finite() and x.as_tuple().exponent == -2 and x.adjusted() < _PRECISION - 2:
        # In cents already (every amount read from NUMERIC(14,2) or parsed): the quantize below would return it
        # as it is; only the context switch is saved (issue #13: a register rounds some 16 amounts).
        return abs(x) if x.is_zero() else x
    with localcontext(prec=_PRECISION):
        cents = _dec(x).quantize(CENT, rounding=ROUND_HALF_UP)
    # -0.004 rounds to -0.00; show it as 0.00.
    return abs(cents) if cents.is_zero() else cents


def percent_of(amount: Number, percent: Number) -> Decimal:
    """round(amount × percent / 100) — the fee, commission, tick and share rule."""
    a, p = _dec(amount), _dec(percent, "percent")
    with localcontext(prec=_PRECISION):
        return to_cents(a * p / 100)


def divide_to_cents(numerator: Number, denominator: Number) -> Decimal:
    """round(numerator / denominator) to cents, e.g. AFV = net / subscribers; raises on a zero denominator."""
    n, d = _dec(numerator, "numerator"), _dec(denominator, "denominator")
    if d.is_zero():
        raise ZeroDivisionError("denominator is zero")
    with localcontext(prec=_PRECISION):
        return to_cents(n / d)


def prorate(amount: Number, days: int, days_in_period: int) -> Decimal:
    """round(amount × days / days_in_period) — a monthly salary for the days a version is in effect."""
    if days_in_period < 1 or not 0 <= days <= days_in_period:
        raise ValueError(f"cannot prorate {days} of {days_in_period} days")
    a = _dec(amount)
    with localcontext(prec=_PRECISION):
        return to_cents(a * days / days_in_period)


def has_at_most_cents(x: Decimal | int) -> bool:
    """True for a finite amount written with at most 2 decimal places ("1.230" has 3)."""
    d = Decimal(x)
    return d.is_finite() and d.as_tuple().exponent >= -2


def allocate(total: Number, weights: Sequence[Number]) -> list[Decimal]:
    """Split total into parts proportional to weights, in cents, by the largest remainder.

    The parts always sum to total exactly; each is within one cent of its exact
    share; a zero weight gets 0.00; ties of remainders go to the earlier index.
    A negative total splits like its absolute value, negated.
    """
    amount = _dec(total, "total")
    if not has_at_most_cents(amount):
        raise ValueError(f"total must be a whole number of cents, got {total!r}")
    shares = [Fraction(_dec(w, "weight")) for w in weights]
    if any(s < 0 for s in shares):
        raise ValueError("weights must not be negative")
    whole = sum(shares, Fraction(0))
    if whole == 0:
        raise ValueError("at least one weight must be positive")

    cents = int(amount.scaleb(2))
    sign, cents = (-1 if cents < 0 else 1), abs(cents)
    # Exact rational shares: no Decimal context can round them behind our back.
    exact = [cents * s / whole for s in shares]
    parts = [math.floor(e) for e in exact]
    leftover = cents - sum(parts)
    by_remainder = sorted(range(len(parts)), key=lambda i: (parts[i] - exact[i], i))
    for i in by_remainder[:leftover]:
        parts[i] += 1
    return [Decimal(sign * p).scaleb(-2) for p in parts]


# --- pydantic types for the HTTP and event boundary -------------------------------

# ASCII digits only: Decimal() would also accept "١٢٣", "1_000", "1e3" and " 1 ".
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_NOT_DECIMAL_TEXT = 'must be a decimal string such as "{example}"'
_FRACTIONAL_NUMBER = 'must be a string such as "{example}", not a fractional number'


def _parse_amount(value: Any, *, example: str = "1500.00") -> Decimal:
    shown = {"example": example}
    if isinstance(value, float):
        # A JSON number with a fraction arrives as a float and has already lost exactness.
        raise PydanticCustomError("money_float", _FRACTIONAL_NUMBER, shown)
    if isinstance(value, int) and not isinstance(value, bool):
        d = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise PydanticCustomError("money_type", "must be a finite number")
        d = value
    elif isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value):
        d = Decimal(value)
    else:
        raise PydanticCustomError("money_type", _NOT_DECIMAL_TEXT, shown)
    if not has_at_most_cents(d):
        raise PydanticCustomError("money_decimal_places", "must have at most 2 decimal places")
    if abs(d) > MAX_AMOUNT:
        raise PydanticCustomError("money_too_large", "must be at most 999999999999.99 in absolute value")
    return to_cents(d)  # canonical: always exactly 2 places


def _positive(value: Any) -> Decimal:
    d = _parse_amount(value)
    if d <= 0:
        raise PydanticCustomError("money_not_positive", "must be greater than 0.00")
    return d


def _non_negative(value: Any) -> Decimal:
    d = _parse_amount(value)
    if d < 0:
        raise PydanticCustomError("money_negative", "must not be negative")
    return d


def _rate(value: Any) -> Decimal:
    d = _parse_amount(value, example="10.00")
    if not 0 <= d <= 100:
        raise PydanticCustomError("rate_range", "must be between 0.00 and 100.00")
    return d


def _to_json(value: Decimal) -> str:
    return format(to_cents(value), "f")


# model_dump() keeps the Decimal; model_dump(mode="json") and JSON give "1500.00".
_AS_STRING = PlainSerializer(_to_json, return_type=str, when_used="json")
_SIGNED = r"^-?\d+(\.\d{1,2})?$"
_UNSIGNED = r"^\d+(\.\d{1,2})?$"

Money = Annotated[
    Decimal,
    PlainValidator(_parse_amount),
    _AS_STRING,
    WithJsonSchema({"type": "string", "pattern": _SIGNED, "example": "1500.00"}),
]
PositiveMoney = Annotated[
    Decimal,
    PlainValidator(_positive),
    _AS_STRING,
    WithJsonSchema({"type": "string", "pattern": _UNSIGNED, "example": "1500.00"}),
]
NonNegativeMoney = Annotated[
    Decimal,
    PlainValidator(_non_negative),
    _AS_STRING,
    WithJsonSchema({"type": "string", "pattern": _UNSIGNED, "example": "1500.00"}),
]
Rate = Annotated[
    Decimal,
    PlainValidator(_rate),
    _AS_STRING,
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,3}(\.\d{1,2})?$", "example": "10.00"}),
]
