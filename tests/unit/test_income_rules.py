"""Pure income rules: fee and net per record, and the register body's own checks."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from functions.income.rules import amounts, refund_amounts
from functions.income.schemas import IncomeRegister, IncomeScheduleCreate

D = Decimal


@pytest.mark.parametrize("gross, fee, net", [("5000.00", "1000.00", "4000.00"), ("2500.00", "500.00", "2000.00"),
                                             ("10000.00", "2000.00", "8000.00"), ("1255.50", "251.10", "1004.40"),
                                             ("3000.00", "600.00", "2400.00")])
def test_golden_fees_at_20_percent(gross, fee, net):
    assert amounts("message_sale", D(gross), D("20.00")) == (D("20.00"), D(fee), D(net))


def test_fee_rounds_half_up_once_per_record():
    assert amounts("tip_sale", D("0.10"), D("25.00")) == (D("25.00"), D("0.03"), D("0.07"))
    assert amounts("tip_sale", D("0.02"), D("25.00")) == (D("25.00"), D("0.01"), D("0.01"))


def test_other_income_has_no_platform_fee_whatever_the_setting():
    assert amounts("other_income", D("400.00"), D("20.00")) == (D("0.00"), D("0.00"), D("400.00"))


@given(gross=st.decimals(D("0.01"), D("1000000.00"), places=2), pct=st.decimals(D("0.00"), D("100.00"), places=2))
def test_fee_plus_net_is_gross_and_both_are_cents(gross, pct):
    _, fee, net = amounts("message_sale", gross, pct)
    assert fee + net == gross and fee >= 0 and net >= 0
    assert fee.as_tuple().exponent == -2 and net.as_tuple().exponent == -2


def errors(model, body) -> list[tuple]:
    with pytest.raises(ValidationError) as exc:
        model.model_validate(body)
    return [(e["loc"], e["msg"]) for e in exc.value.errors()]


SALE = {"type": "message_sale", "gross_amount": "100.00", "sale_date": "2026-11-05", "model_id": str(uuid.uuid4())}


def test_register_body_normalises_amounts_to_cents():
    cmd = IncomeRegister.model_validate({**SALE, "gross_amount": "100"})
    assert cmd.gross_amount == D("100.00") and cmd.chatting
    assert cmd.model_dump(mode="json")["gross_amount"] == "100.00"


def test_register_body_checks_fields_against_the_type():
    assert errors(IncomeRegister, {**SALE, "model_id": None, "split_percent": "5.00"}) == [
        (("model_id",), "required for a chatting sale"), (("split_percent",), "only other income is split")]
    other = {"type": "other_income", "gross_amount": "100.00", "sale_date": "2026-11-05"}
    assert errors(IncomeRegister, {**other, "chatter_id": str(uuid.uuid4()), "customer_username": "fan"}) == [
        (("chatter_id",), "other income has no chatter"), (("customer_username",), "only for chatting sales")]


def test_a_bad_split_amount_does_not_pile_a_second_error_on_the_user_field():
    body = {"type": "other_income", "gross_amount": "100.00", "sale_date": "2026-11-05",
            "split_percent": "abc", "assigned_to_user_id": str(uuid.uuid4())}
    assert [loc for loc, _ in errors(IncomeRegister, body)] == [("split_percent",)]


def test_schedule_split_is_compared_with_the_schedule_amount():
    body = {"source": "x", "amount": "50.00", "frequency": "daily", "start_date": "2026-11-01",
            "split_fixed_amount": "50.01", "assigned_to_user_id": str(uuid.uuid4())}
    assert errors(IncomeScheduleCreate, body) == [(("split_fixed_amount",), "must not exceed amount")]
    ok = IncomeScheduleCreate.model_validate({**body, "split_fixed_amount": "50.00"})
    assert ok.split_fixed_amount == D("50.00")


@given(gross=st.decimals(min_value=D("0.01"), max_value=D("1000000.00"), places=2),
       pct=st.decimals(min_value=D("0.00"), max_value=D("100.00"), places=2))
def test_a_full_refund_mirrors_its_sale_to_the_cent(gross, pct):
    _, fee, net = amounts("message_sale", gross, pct)
    assert refund_amounts(gross, pct) == (-gross, -fee, -net)


def test_worked_example_2_refunds():
    assert refund_amounts(D("500.00"), D("20.00")) == (D("-500.00"), D("-100.00"), D("-400.00"))
    assert refund_amounts(D("300.00"), D("20.00")) == (D("-300.00"), D("-60.00"), D("-240.00"))
    assert refund_amounts(D("0.05"), D("25.00")) == (D("-0.05"), D("-0.01"), D("-0.04"))  # 0.0125 → 0.01
