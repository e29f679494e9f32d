"""Money arithmetic: half-up cents, the golden figures of BUSINESS_RULES.md, allocation, boundary types."""
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from shared_lib.money import (
    CENT,
    Money,
    NonNegativeMoney,
    PositiveMoney,
    Rate,
    allocate,
    divide_to_cents,
    has_at_most_cents,
    percent_of,
    prorate,
    to_cents,
)

D = Decimal


# --- to_cents -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        # Banker's rounding would give 0.12, 0.14, 2.68 (2.67 via float), -0.12.
        ("0.125", "0.13"),
        ("0.135", "0.14"),
        ("2.675", "2.68"),
        ("-0.125", "-0.13"),
        ("0.124999", "0.12"),
        ("1", "1.00"),
        ("1E+2", "100.00"),
        ("-0.004", "0.00"),
    ],
)
def test_to_cents_rounds_half_up(value, cents):
    result = to_cents(D(value))
    assert result == D(cents)
    assert str(result) == cents


def test_to_cents_accepts_int_and_str():
    assert str(to_cents(5)) == "5.00"
    assert str(to_cents("0.005")) == "0.01"


def test_to_cents_never_gives_negative_zero():
    assert str(to_cents(D("-0.001"))) == "0.00"
    assert str(to_cents(D("-0"))) == "0.00"


@pytest.mark.parametrize("bad", [1.5, True, None])
def test_to_cents_refuses_non_decimal_types(bad):
    with pytest.raises(TypeError):
        to_cents(bad)


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", D("NaN"), D("-Infinity")])
def test_to_cents_refuses_non_finite_or_garbage(bad):
    with pytest.raises(ValueError):
        to_cents(bad)


def test_cent_is_one_hundredth():
    assert CENT == D("0.01")


# --- percent_of: the worked example of BUSINESS_RULES.md ---------------------------------


@pytest.mark.parametrize(
    ("gross", "fee", "net"),
    [
        ("1255.50", "251.10", "1004.40"),
        ("5000.00", "1000.00", "4000.00"),
        ("2500.00", "500.00", "2000.00"),
        ("10000.00", "2000.00", "8000.00"),
        ("3000.00", "600.00", "2400.00"),
    ],
)
def test_platform_fee_of_the_worked_example(gross, fee, net):
    fee_amount = percent_of(D(gross), D("20.00"))
    assert fee_amount == D(fee)
    assert D(gross) - fee_amount == D(net)


def test_worked_example_commission_tick_and_model_lines():
    assert percent_of(D("1004.40"), D("5.00")) == D("50.22")  # C2 commission
    tick = percent_of(D("6000.00"), 5) + percent_of(D("8000.00"), 5) + percent_of(D("1004.40"), 5)
    assert tick == D("750.22")  # M's tick, one line per model and rate
    assert percent_of(D("400.00"), D("25")) == D("100.00")  # other income share
    assert percent_of(D("7004.40") - D("600.00") - D("50.22"), D("50.00")) == D("3177.09")  # model A
    assert percent_of(D("10400.00"), D("60.00")) == D("6240.00")  # model B


def test_percent_of_rounds_half_up_once():
    assert percent_of(D("0.25"), D("50")) == D("0.13")  # exactly 0.125
    assert percent_of(D("-0.25"), D("50")) == D("-0.13")
    assert percent_of(D("0.01"), D("0.01")) == D("0.00")


def test_percent_of_the_largest_amount():
    assert percent_of(D("999999999999.99"), D("33.33")) == D("333300000000.00")  # …99999.996667
    assert percent_of(D("999999999999.99"), D("99.99")) == D("999899999999.99")  # …99999.990001


def test_percent_of_refuses_float():
    with pytest.raises(TypeError):
        percent_of(D("100"), 20.0)


# --- prorate and divide_to_cents -----------------------------------------------------


def test_prorate_21_of_31_days():
    assert prorate(D("1500.00"), 21, 31) == D("1016.13")  # 1016.129…


def test_prorate_full_and_empty_period():
    assert prorate(D("1500.00"), 30, 30) == D("1500.00")
    assert prorate(D("1500.00"), 0, 30) == D("0.00")


def test_prorate_halves_round_up():
    assert prorate(D("0.01"), 1, 2) == D("0.01")  # exactly 0.005
    assert prorate(D("2000.00"), 15, 28) == D("1071.43")  # 1071.428…


@pytest.mark.parametrize(("days", "period"), [(-1, 30), (31, 30), (1, 0)])
def test_prorate_refuses_days_outside_the_period(days, period):
    with pytest.raises(ValueError):
        prorate(D("1500.00"), days, period)


def test_divide_to_cents_afv_of_the_worked_example():
    assert divide_to_cents(D("7004.40"), 1000) == D("7.00")
    assert divide_to_cents(D("10400.00"), 2000) == D("5.20")
    assert divide_to_cents(D("14000.00"), 3000) == D("4.67")
    assert divide_to_cents(D("-1"), 8) == D("-0.13")  # exactly -0.125


def test_divide_to_cents_refuses_zero():
    with pytest.raises(ZeroDivisionError):
        divide_to_cents(D("1"), 0)


# --- has_at_most_cents -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [("1", True), ("1.5", True), ("1.50", True), ("1E+3", True),
     ("1.234", False), ("1.230", False), ("NaN", False), ("Infinity", False)],
)
def test_has_at_most_cents(value, ok):
    assert has_at_most_cents(D(value)) is ok


# --- allocate --------------------------------------------------------------------------


def test_allocate_thirds_gives_the_extra_cent_to_the_first():
    assert allocate(D("100.00"), [1, 1, 1]) == [D("33.34"), D("33.33"), D("33.33")]


def test_allocate_negative_total_mirrors_the_positive():
    assert allocate(D("-100.00"), [1, 1, 1]) == [D("-33.34"), D("-33.33"), D("-33.33")]


def test_allocate_largest_remainder_wins_not_the_first():
    # Exact shares 0.0333…, 0.0666…: the second has the larger remainder.
    assert allocate(D("0.10"), [D("1"), D("2")]) == [D("0.03"), D("0.07")]


def test_allocate_zero_weight_gets_nothing():
    assert allocate(D("0.05"), [0, 1, 0, 1]) == [D("0.00"), D("0.03"), D("0.00"), D("0.02")]


def test_allocate_parts_have_two_places():
    assert [str(p) for p in allocate(D("1"), [1, 3])] == ["0.25", "0.75"]


@pytest.mark.parametrize("weights", [[], [0, 0], [D("1"), D("-1")]])
def test_allocate_refuses_bad_weights(weights):
    with pytest.raises(ValueError):
        allocate(D("1.00"), weights)


def test_allocate_refuses_fractions_of_a_cent():
    with pytest.raises(ValueError):
        allocate(D("1.005"), [1, 1])


cents_amounts = st.integers(min_value=-10**14 + 1, max_value=10**14 - 1).map(lambda c: D(c).scaleb(-2))
weight_lists = st.lists(
    st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=12,
).filter(lambda ws: any(ws))


@given(cents_amounts, weight_lists)
def test_allocate_parts_sum_exactly_to_the_total(total, weights):
    parts = allocate(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts, D(0)) == total
    assert all(has_at_most_cents(p) for p in parts)


@given(cents_amounts, weight_lists)
def test_allocate_each_part_within_a_cent_of_its_exact_share(total, weights):
    whole = sum(Fraction(w) for w in weights)
    for part, weight in zip(allocate(total, weights), weights):
        exact = Fraction(total) * Fraction(weight) / whole
        assert abs(Fraction(part) - exact) < Fraction(1, 100)
        if weight == 0:
            assert part == 0


@given(cents_amounts, weight_lists)
def test_allocate_negative_is_the_mirror_of_positive(total, weights):
    assert allocate(-total, weights) == [-p for p in allocate(total, weights)]


# --- pydantic boundary types ------------------------------------------------------------


class Amounts(BaseModel):
    amount: Money
    rate: Rate | None = None
    positive: PositiveMoney | None = None
    non_negative: NonNegativeMoney | None = None


@pytest.mark.parametrize(
    ("json_value", "python", "text"),
    [
        ('"1500.00"', D("1500.00"), "1500.00"),
        ('"1500"', D("1500.00"), "1500.00"),
        ('"0.00"', D("0.00"), "0.00"),
        ('"-12.5"', D("-12.50"), "-12.50"),
        ('"-0.00"', D("0.00"), "0.00"),
        ("5", D("5.00"), "5.00"),
        ('"999999999999.99"', D("999999999999.99"), "999999999999.99"),
    ],
)
def test_money_round_trips_as_a_two_place_string(json_value, python, text):
    model = Amounts.model_validate_json(f'{{"amount": {json_value}}}')
    assert model.amount == python
    assert str(model.amount) == text  # canonical: always two places
    assert model.model_dump()["amount"] == python
    assert model.model_dump(mode="json")["amount"] == text
    assert model.model_dump_json() == (
        f'{{"amount":"{text}","rate":null,"positive":null,"non_negative":null}}'
    )
    assert Amounts.model_validate_json(model.model_dump_json()) == model


def test_money_accepts_decimal_from_python_code():
    assert Amounts(amount=D("1.5")).amount == D("1.50")


@pytest.mark.parametrize(
    ("json_value", "error_type", "message"),
    [
        ('"1.234"', "money_decimal_places", "must have at most 2 decimal places"),
        ('"1.230"', "money_decimal_places", "must have at most 2 decimal places"),
        ('"abc"', "money_type", 'must be a decimal string such as "1500.00"'),
        ('"NaN"', "money_type", 'must be a decimal string such as "1500.00"'),
        ('"Infinity"', "money_type", 'must be a decimal string such as "1500.00"'),
        ('"1e3"', "money_type", 'must be a decimal string such as "1500.00"'),
        ('"1_000"', "money_type", 'must be a decimal string such as "1500.00"'),
        ('" 1"', "money_type", 'must be a decimal string such as "1500.00"'),
        ('"\u0661"', "money_type", 'must be a decimal string such as "1500.00"'),  # Arabic-Indic 1
        ('""', "money_type", 'must be a decimal string such as "1500.00"'),
        ("true", "money_type", 'must be a decimal string such as "1500.00"'),
        ("null", "money_type", 'must be a decimal string such as "1500.00"'),
        ("1.5", "money_float", 'must be a string such as "1500.00", not a fractional number'),
        ("5.0", "money_float", 'must be a string such as "1500.00", not a fractional number'),
        ('"1000000000000.00"', "money_too_large", "must be at most 999999999999.99 in absolute value"),
        ("100000000000000000000000000000000", "money_too_large",
         "must be at most 999999999999.99 in absolute value"),
    ],
)
def test_money_rejects(json_value, error_type, message):
    with pytest.raises(ValidationError) as caught:
        Amounts.model_validate_json(f'{{"amount": {json_value}}}')
    [error] = caught.value.errors()
    assert error["loc"] == ("amount",)
    assert error["type"] == error_type
    assert error["msg"] == message


@pytest.mark.parametrize("bad", [1.5, D("NaN"), D("Infinity"), D("0.001")])
def test_money_rejects_floats_and_non_finite_from_python_code(bad):
    with pytest.raises(ValidationError):
        Amounts(amount=bad)


@pytest.mark.parametrize(("value", "text"), [('"0.00"', "0.00"), ("5", "5.00"), ('"10"', "10.00"),
                                             ('"99.99"', "99.99"), ('"100.00"', "100.00")])
def test_rate_accepts_percents(value, text):
    model = Amounts.model_validate_json(f'{{"amount": "0", "rate": {value}}}')
    assert model.model_dump(mode="json")["rate"] == text


@pytest.mark.parametrize(
    ("value", "error_type"),
    [('"100.01"', "rate_range"), ('"-0.01"', "rate_range"), ('"1.234"', "money_decimal_places"),
     ("12.5", "money_float"), ('"abc"', "money_type")],
)
def test_rate_rejects(value, error_type):
    with pytest.raises(ValidationError) as caught:
        Amounts.model_validate_json(f'{{"amount": "0", "rate": {value}}}')
    [error] = caught.value.errors()
    assert (error["loc"], error["type"]) == (("rate",), error_type)


def test_rate_error_names_a_rate_example():
    with pytest.raises(ValidationError) as caught:
        Amounts.model_validate_json('{"amount": "0", "rate": "x"}')
    assert caught.value.errors()[0]["msg"] == 'must be a decimal string such as "10.00"'


def test_positive_money_refuses_zero_and_negative():
    assert Amounts(amount=0, positive="0.01").positive == D("0.01")
    for bad in ("0", "0.00", "-1"):
        with pytest.raises(ValidationError) as caught:
            Amounts(amount=0, positive=bad)
        assert caught.value.errors()[0]["type"] == "money_not_positive"


def test_non_negative_money_accepts_zero_refuses_negative():
    assert Amounts(amount=0, non_negative="0").non_negative == D("0.00")
    with pytest.raises(ValidationError) as caught:
        Amounts(amount=0, non_negative="-0.01")
    assert caught.value.errors()[0]["type"] == "money_negative"


def test_openapi_schema_shows_money_as_a_pattern_string():
    properties = Amounts.model_json_schema()["properties"]
    assert properties["amount"] == {
        "type": "string",
        "pattern": r"^-?\d+(\.\d{1,2})?$",
        "example": "1500.00",
        "title": "Amount",
    }
    assert properties["rate"]["anyOf"][0] == {
        "type": "string",
        "pattern": r"^\d{1,3}(\.\d{1,2})?$",
        "example": "10.00",
    }
    assert Amounts.model_json_schema(mode="serialization")["properties"]["amount"]["type"] == "string"


def test_to_cents_of_an_amount_in_cents_already_is_that_amount_as_the_quantize_gives_it():
    """to_cents skips its context switch for a Decimal with two places (issue #13): the same answer."""
    from decimal import ROUND_HALF_UP, Decimal, localcontext

    from shared_lib.money import to_cents

    for text in ("0.00", "-0.00", "1.00", "-12.34", "999999999999.99", "1" * 57 + ".00", "1" * 70 + ".00"):
        d = Decimal(text)
        with localcontext(prec=80):
            expected = abs(q) if (q := d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)).is_zero() else q
        if d.adjusted() < 58:
            assert to_cents(d) == expected and str(to_cents(d)) == str(expected)
        else:  # past 60 significant digits the quantize refuses, as before
            import pytest

            with pytest.raises(Exception):
                to_cents(d)
