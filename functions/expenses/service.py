"""Expenses service use cases: record, read, change and delete expenses (Owner writes, Manager reads)."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from shared_lib.closing import ensure_open
from shared_lib.contracts import ExpenseChange, ExpenseSnapshot
from shared_lib.dated_records import DatedRecords, ensure_not_future
from shared_lib.db import UnitOfWork
from shared_lib.pagination import cursor_key, page_of
from shared_lib.rbac import Caller

from . import queries
from .schemas import Expense, ExpensesPage, ExpensesQuery, ExpenseWrite


def expense_record(*, uow: UnitOfWork, caller: Caller, cmd: ExpenseWrite) -> Expense:
    """Record a one-off expense; publishes expense.recorded."""
    ensure_not_future(caller, cmd.expense_date, "expense_date")
    ensure_open(uow, caller.agency_id, cmd.expense_date)
    row = queries.insert_expense(uow, {**cmd.model_dump(), "agency_id": caller.agency_id,
                                       "created_by": caller.user_id})
    RECORDS.emit(uow, caller, "recorded", reason="recorded", old=None, new=row)
    return Expense.model_validate(row, from_attributes=True)


def expense_get(*, uow: UnitOfWork, caller: Caller, expense_id: uuid.UUID) -> Expense:
    return Expense.model_validate(RECORDS.get(uow, caller, expense_id), from_attributes=True)


def expense_update(*, uow: UnitOfWork, caller: Caller, expense_id: uuid.UUID, cmd: ExpenseWrite) -> Expense:
    """Replace an expense; both its old and new date must be in open periods; expense.updated carries both."""
    current = RECORDS.get(uow, caller, expense_id, for_update=True)
    ensure_not_future(caller, cmd.expense_date, "expense_date")
    ensure_open(uow, caller.agency_id, current.expense_date, cmd.expense_date)
    row = queries.update_expense(uow, expense_id, cmd.model_dump())
    RECORDS.emit(uow, caller, "updated", reason="edited", old=current, new=row)
    return Expense.model_validate(row, from_attributes=True)


def expense_delete(*, uow: UnitOfWork, caller: Caller, expense_id: uuid.UUID) -> None:
    RECORDS.delete(uow, caller, expense_id)


def expense_list(*, uow: UnitOfWork, caller: Caller, q: ExpensesQuery) -> ExpensesPage:
    after = cursor_key(q.cursor, (date, datetime, uuid.UUID))
    rows = queries.list_expenses(uow, caller.agency_id, date_from=q.date_from, date_to=q.date_to, after=after,
                                 limit=q.limit + 1)
    return page_of(rows, limit=q.limit, item=Expense, page=ExpensesPage,
                   key=lambda e: (e.expense_date, e.created_at, e.id))


def event_data(contract: type[ExpenseChange], row, *, reason: str, old, new) -> ExpenseChange:
    """The expense.* payload (`contract`: ExpenseRecorded, ExpenseUpdated or ExpenseDeleted): the expense's date
    now and before the change, and old and new snapshots."""
    before = None if old is None else ExpenseSnapshot.model_validate(old, from_attributes=True)
    after = None if new is None else ExpenseSnapshot.model_validate(new, from_attributes=True)
    return contract(
        expense_id=row.id, agency_id=row.agency_id, schedule_id=row.schedule_id, reason=reason,
        expense_date=(after or before).expense_date, old_expense_date=None if before is None else before.expense_date,
        old=before, new=after,
    )


RECORDS = DatedRecords(noun="expense", date_field="expense_date", events="expense",
                       find=queries.get_expense, remove=queries.delete_expense, event_data=event_data)
