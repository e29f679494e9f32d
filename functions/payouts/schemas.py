"""Payouts request/response models."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from shared_lib.isodate import IsoDate
from shared_lib.money import Money, Rate
from shared_lib.periods import PeriodStr
from shared_lib.record_fields import PageQuery, Strict

# Payout line kinds: the first release's, then the second's (bonus bands, hourly pay, adjustments, carries).
Kind = Literal["commission", "fixed_salary", "manager_tick", "other_income_share", "deduction",
               "bonus", "hourly", "adjustment", "carried_forward", "carried_balance"]
Status = Literal["open", "closed"]
# Payments (issue #15): how a payment was made, and what a payout item says about its money.
PaymentMethod = Literal["bank", "cash", "crypto", "paypal", "wise", "other"]
PaymentStatus = Literal["unpaid", "paid", "nothing_due"]


class CalculateRequest(Strict):
    period: PeriodStr
    user_id: uuid.UUID | None = None


class PeriodQuery(Strict):
    period: PeriodStr


class PayoutsQuery(PageQuery):
    period: PeriodStr
    user_id: uuid.UUID | None = None


class ModelPayoutsQuery(PageQuery):
    period: PeriodStr


class StatementQuery(Strict):
    period: PeriodStr
    format: Literal["csv", "pdf"] = "pdf"


class Totals(BaseModel):
    period: str
    status: Status
    gross_income: Money
    platform_fees: Money
    net_income: Money
    employee_payouts: Money
    model_payouts: Money
    expenses: Money
    agency_profit: Money
    calculated_at: datetime | None


class PayoutLine(BaseModel):
    kind: Kind
    model_id: uuid.UUID | None
    basis: Money
    rate: Money | None
    amount: Money
    detail: str = ""


class UserPayout(BaseModel):
    user_id: uuid.UUID
    display_name: str | None
    period: str
    lines: list[PayoutLine]
    total: Money
    status: Status
    payment_status: PaymentStatus = Field(
        description="paid once its payment is recorded; nothing_due when the total is 0.00 (or below)")
    paid_at: date | None = None
    method: PaymentMethod | None = None
    reference: str | None = None


class PayoutsPage(BaseModel):
    items: list[UserPayout] = Field(description="by display_name (case-insensitive), then user_id")
    next_cursor: str | None


class ModelPayoutItem(BaseModel):
    model_id: uuid.UUID
    name: str = Field(description="the model's name")
    effective_from: date
    base: Money
    model_share_percent: Rate
    split_chatting_costs: bool
    amount: Money
    payment_status: PaymentStatus = Field(
        description="paid once its payment is recorded; nothing_due when the model's total is 0.00 (or below)")
    paid_at: date | None = None
    method: PaymentMethod | None = None
    reference: str | None = None


class ModelPayoutsPage(BaseModel):
    items: list[ModelPayoutItem] = Field(description="by model name (case-insensitive), model_id, effective_from")
    next_cursor: str | None


class PeriodClosedReply(BaseModel):
    period: str
    status: Status


# --- payments and the payroll export (issue #15; G2's section) ---------------------------------------------------

class PaymentRequest(Strict):
    """Who was paid (exactly one of user_id, model_id), when, how; the amount is the closed payout, not sent."""

    user_id: uuid.UUID | None = None
    model_id: uuid.UUID | None = None
    paid_at: IsoDate = Field(description="the day the money left (the agency's local date; not in the future)")
    method: PaymentMethod
    reference: str = Field(min_length=1, max_length=200, description="the bank's or the wallet's reference")

    @model_validator(mode="after")
    def _exactly_one_payee(self):
        if (self.user_id is None) == (self.model_id is None):
            raise PydanticCustomError("payee", "give exactly one of user_id and model_id")
        return self


class Payment(BaseModel):
    id: uuid.UUID
    period: str
    user_id: uuid.UUID | None
    model_id: uuid.UUID | None
    amount: Money
    paid_at: date
    method: PaymentMethod
    reference: str


class PaymentsQuery(PageQuery):
    pass


class PaymentsPage(BaseModel):
    items: list[Payment] = Field(description="in the order they were recorded (created_at, id)")
    next_cursor: str | None


# --- adjustments (issue #15; G1's section) ---------------------------------------------------------------------

ADJUSTMENT_LIMIT = Decimal("1000000.00")


def _adjustment_amount(d: Decimal) -> Decimal:
    if d == 0:
        raise PydanticCustomError("adjustment_zero", "must not be 0.00 (a bonus is > 0, a penalty < 0)")
    if abs(d) > ADJUSTMENT_LIMIT:
        raise PydanticCustomError("money_over_limit", "must be between -1000000.00 and 1000000.00")
    return d


AdjustmentAmount = Annotated[Money, AfterValidator(_adjustment_amount)]


class AdjustmentRequest(Strict):
    """A bonus (> 0), penalty (< 0) or correction for one person's open period: one `adjustment` payout line."""

    user_id: uuid.UUID
    period: PeriodStr
    amount: AdjustmentAmount
    reason: str = Field(min_length=1, max_length=500)


class ReverseRequest(Strict):
    reason: str | None = Field(None, min_length=1, max_length=500,
                               description='default: "reversal of <the original\'s reason>" (cut to 500)')


class Adjustment(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    period: str
    amount: Money
    reason: str
    reverses: uuid.UUID | None = Field(description="the adjustment this one reverses (opposite amount)")
    created_by: uuid.UUID
    created_at: datetime


class AdjustmentsQuery(PageQuery):
    period: PeriodStr | None = None
    user_id: uuid.UUID | None = None


class AdjustmentsPage(BaseModel):
    items: list[Adjustment] = Field(description="newest first (created_at, then id)")
    next_cursor: str | None
