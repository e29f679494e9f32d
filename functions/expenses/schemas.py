"""Expenses service request and response models (its events: shared_lib/contracts.py)."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from shared_lib.isodate import IsoDate
from shared_lib.money import Money
from shared_lib.recurrence import RecurrenceFields, StoredSchedule
from shared_lib.record_fields import Amount, DatedPageQuery, NotAncientDate, PageQuery, Strict


class ExpenseWrite(Strict):
    """POST /api/expenses/ and PUT /api/expenses/{id}/."""

    amount: Amount
    expense_date: NotAncientDate = Field(description="local date in the agency's time zone; not in the future")
    source: str = Field(min_length=1, max_length=200, description="what it was for, e.g. software, ads")
    notes: str | None = Field(None, max_length=2000)


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


ExpensesQuery = DatedPageQuery


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


class ExpenseSchedule(StoredSchedule):
    notes: str | None
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime


ExpenseSchedulesQuery = PageQuery


class ExpenseSchedulesPage(BaseModel):
    items: list[ExpenseSchedule]
    next_cursor: str | None
