"""Expenses service use cases: record, read, change and delete expenses (Owner writes, Manager reads)."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from shared_lib.closing import ensure_open
from shared_lib.db import UnitOfWork
from shared_lib.errors import NotFound, invalid
from shared_lib.pagination import decode_cursor, encode_cursor
from shared_lib.periods import local_today
from shared_lib.rbac import Caller

from . import queries
from .schemas import Expense, ExpenseEventData, ExpenseSnapshot, ExpensesPage, ExpensesQuery, ExpenseWrite


def expense_record(*, uow: UnitOfWork, caller: Caller, cmd: ExpenseWrite) -> Expense:
    """Record a one-off expense; publishes expense.recorded."""
    _not_future(caller, cmd.expense_date)
    ensure_open(uow, caller.agency_id, cmd.expense_date)
    row = queries.insert_expense(uow, {**cmd.model_dump(), "agency_id": caller.agency_id,
                                       "created_by": caller.user_id})
    uow.emit("expense.recorded", agency_id=caller.agency_id, subject=row.id,
             data=event_data(row, reason="recorded", old=None, new=row))
    return Expense.model_validate(row, from_attributes=True)


def expense_get(*, uow: UnitOfWork, caller: Caller, expense_id: uuid.UUID) -> Expense:
    row = queries.get_expense(uow, caller.agency_id, expense_id)
    if row is None:
        raise NotFound("expense not found")
    return Expense.model_validate(row, from_attributes=True)


def expense_update(*, uow: UnitOfWork, caller: Caller, expense_id: uuid.UUID, cmd: ExpenseWrite) -> Expense:
    """Replace an expense; both its old and new date must be in open periods; expense.updated carries both."""
    current = queries.get_expense(uow, caller.agency_id, expense_id, for_update=True)
    if current is None:
        raise NotFound("expense not found")
    _not_future(caller, cmd.expense_date)
    ensure_open(uow, caller.agency_id, current.expense_date, cmd.expense_date)
    row = queries.update_expense(uow, expense_id, cmd.model_dump())
    uow.emit("expense.updated", agency_id=caller.agency_id, subject=row.id,
             data=event_data(row, reason="edited", old=current, new=row))
    return Expense.model_validate(row, from_attributes=True)


def expense_delete(*, uow: UnitOfWork, caller: Caller, expense_id: uuid.UUID) -> None:
    current = queries.get_expense(uow, caller.agency_id, expense_id, for_update=True)
    if current is None:
        raise NotFound("expense not found")
    ensure_open(uow, caller.agency_id, current.expense_date)
    queries.delete_expense(uow, expense_id)
    uow.emit("expense.deleted", agency_id=caller.agency_id, subject=expense_id,
             data=event_data(current, reason="deleted", old=current, new=None))


def expense_list(*, uow: UnitOfWork, caller: Caller, q: ExpensesQuery) -> ExpensesPage:
    after = None
    if q.cursor is not None:
        try:
            after = decode_cursor(q.cursor, (date, datetime, uuid.UUID))
        except ValueError:
            raise invalid(["query", "cursor"], "invalid cursor; start again from the first page") from None
    rows = queries.list_expenses(uow, caller.agency_id, date_from=q.date_from, date_to=q.date_to, after=after,
                                 limit=q.limit + 1)
    items = [Expense.model_validate(r, from_attributes=True) for r in rows[: q.limit]]
    next_cursor = None
    if len(rows) > q.limit:
        next_cursor = encode_cursor(items[-1].expense_date, items[-1].created_at, items[-1].id)
    return ExpensesPage(items=items, next_cursor=next_cursor)


def event_data(row, *, reason: str, old, new) -> dict:
    """The expense.* payload: the expense's date now and before the change, and old and new snapshots."""
    before = None if old is None else ExpenseSnapshot.model_validate(old, from_attributes=True)
    after = None if new is None else ExpenseSnapshot.model_validate(new, from_attributes=True)
    return ExpenseEventData(
        expense_id=row.id, agency_id=row.agency_id, schedule_id=row.schedule_id, reason=reason,
        expense_date=(after or before).expense_date, old_expense_date=None if before is None else before.expense_date,
        old=before, new=after,
    ).model_dump(mode="json")


def _not_future(caller: Caller, day: date) -> None:
    if day > local_today(caller.agency_timezone):
        raise invalid(["body", "expense_date"], "must not be in the future")
