"""Expenses service request, response and event models."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from shared_lib.isodate import EARLIEST, IsoDate
from shared_lib.money import Money, PositiveMoney
from shared_lib.recurrence import Frequency, RecurrenceFields

# The same ceiling as one income record: a larger single expense is a typo far more often than a fact.
MAX_AMOUNT = Decimal("1000000.00")


def _at_most_limit(d: Decimal) -> Decimal:
    if d > MAX_AMOUNT:
        raise PydanticCustomError("money_over_limit", "must be at most 1000000.00")
    return d


Amount = Annotated[PositiveMoney, AfterValidator(_at_most_limit)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ExpenseWrite(Strict):
    """POST /api/expenses/ and PUT /api/expenses/{id}/."""

    amount: Amount
    expense_date: IsoDate = Field(description="local date in the agency's time zone; not in the future")
    source: str = Field(min_length=1, max_length=200, description="what it was for, e.g. software, ads")
    notes: str | None = Field(None, max_length=2000)

    @field_validator("expense_date")
    @classmethod
    def _not_ancient(cls, v: date) -> date:
        if v < EARLIEST:
            raise PydanticCustomError("invalid", "must not be before 2000-01-01")
        return v


class Expense(BaseModel):
    id: uuid.UUID
    amount: Money
    expense_date: date
    source: str
    notes: str | None
    schedule_id: uuid.UUID | None = Field(description="the recurring schedule that generated it")
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime


class ExpensesQuery(Strict):
    date_from: IsoDate | None = Field(None, description="inclusive")
    date_to: IsoDate | None = Field(None, validate_default=True, description="inclusive")
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=1024)

    @field_validator("date_to")
    @classmethod
    def _range(cls, v, info: ValidationInfo):
        start = info.data.get("date_from")
        if v is not None and start is not None and v < start:
            raise PydanticCustomError("invalid", "must not be before date_from")
        return v


class ExpensesPage(BaseModel):
    items: list[Expense]
    next_cursor: str | None


class ExpenseScheduleCreate(RecurrenceFields):
    source: str = Field(min_length=1, max_length=200)
    amount: Amount
    notes: str | None = Field(None, max_length=2000)


class ExpenseSchedulePatch(Strict):
    """End (or pause) a schedule: no occurrence after end_date is generated; past ones are never deleted."""

    end_date: IsoDate | None = Field(description="inclusive; null = no end (the next run catches up)")


class ExpenseSchedule(BaseModel):
    id: uuid.UUID
    source: str
    amount: Money
    frequency: Frequency
    day_of_week: int | None
    day_of_month: int | None
    start_date: date
    end_date: date | None
    notes: str | None
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime


class ExpenseSchedulesQuery(Strict):
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=1024)


class ExpenseSchedulesPage(BaseModel):
    items: list[ExpenseSchedule]
    next_cursor: str | None


class ExpenseSnapshot(BaseModel):
    expense_date: date
    amount: Money
    source: str


class ExpenseEventData(BaseModel):
    """expense.recorded (old = null), expense.updated (both), expense.deleted (new = null); expense_date is the
    date now (for a deletion: as it was), old_expense_date the date before the change (null when recorded)."""

    expense_id: uuid.UUID
    agency_id: uuid.UUID
    schedule_id: uuid.UUID | None
    reason: Literal["recorded", "generated", "edited", "deleted"]
    expense_date: date
    old_expense_date: date | None
    old: ExpenseSnapshot | None
    new: ExpenseSnapshot | None
