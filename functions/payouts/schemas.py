"""Payouts request/response models."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared_lib.money import Money, Rate
from shared_lib.periods import PeriodStr
from shared_lib.record_fields import PageQuery, Strict

Kind = Literal["commission", "fixed_salary", "manager_tick", "other_income_share", "deduction"]
Status = Literal["open", "closed"]


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


class ModelPayoutsPage(BaseModel):
    items: list[ModelPayoutItem] = Field(description="by model name (case-insensitive), model_id, effective_from")
    next_cursor: str | None


class PeriodClosedReply(BaseModel):
    period: str
    status: Status
