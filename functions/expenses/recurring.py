"""Recurring expenses: schedules (create, read, end) and the generator that turns due dates into expenses."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from shared_lib import recurrence
from shared_lib.db import UnitOfWork
from shared_lib.errors import NotFound, invalid
from shared_lib.outbox_batch import emit_many
from shared_lib.pagination import decode_cursor, encode_cursor
from shared_lib.rbac import Caller

from .queries import EXPENSE_COLUMNS
from .schemas import (
    ExpenseSchedule,
    ExpenseScheduleCreate,
    ExpenseSchedulePatch,
    ExpenseSchedulesPage,
    ExpenseSchedulesQuery,
)
from .service import event_data

_COLUMNS = """id, agency_id, source, amount, frequency, day_of_week, day_of_month, start_date, end_date, notes,
    created_by, created_at, updated_at"""


def expense_schedule_create(*, uow: UnitOfWork, caller: Caller, cmd: ExpenseScheduleCreate) -> ExpenseSchedule:
    """A recurring expense; the scheduler job generates its occurrences (from start_date, catching up)."""
    row = uow.execute(
        f"""
        INSERT INTO expense_service.recurring_expense_schedules
            (agency_id, source, amount, frequency, day_of_week, day_of_month, start_date, end_date, notes, created_by)
        VALUES (:agency_id, :source, :amount, :frequency, :day_of_week, :day_of_month, :start_date, :end_date,
                :notes, :created_by)
        RETURNING {_COLUMNS}
        """,
        {**cmd.model_dump(), "agency_id": caller.agency_id, "created_by": caller.user_id},
    ).one()
    return ExpenseSchedule.model_validate(row, from_attributes=True)


def expense_schedule_get(*, uow: UnitOfWork, caller: Caller, schedule_id: uuid.UUID) -> ExpenseSchedule:
    return ExpenseSchedule.model_validate(_get(uow, caller, schedule_id), from_attributes=True)


def expense_schedule_end(*, uow: UnitOfWork, caller: Caller, schedule_id: uuid.UUID,
                         cmd: ExpenseSchedulePatch) -> ExpenseSchedule:
    """Set or clear end_date: nothing after it is generated; what was generated stays."""
    current = _get(uow, caller, schedule_id, for_update=True)
    if cmd.end_date is not None and cmd.end_date < current.start_date:
        raise invalid(["body", "end_date"], "must not be before start_date")
    row = uow.execute(
        f"UPDATE expense_service.recurring_expense_schedules SET end_date = :e, updated_at = now() "
        f"WHERE id = :id RETURNING {_COLUMNS}",
        {"e": cmd.end_date, "id": schedule_id},
    ).one()
    return ExpenseSchedule.model_validate(row, from_attributes=True)


def expense_schedule_list(*, uow: UnitOfWork, caller: Caller, q: ExpenseSchedulesQuery) -> ExpenseSchedulesPage:
    where, params = "agency_id = :a", {"a": caller.agency_id, "limit": q.limit + 1}
    if q.cursor is not None:
        try:
            created, last_id = decode_cursor(q.cursor, (datetime, uuid.UUID))
        except ValueError:
            raise invalid(["query", "cursor"], "invalid cursor; start again from the first page") from None
        where += " AND (created_at, id) < (:c_at, :c_id)"
        params.update(c_at=created, c_id=last_id)
    rows = uow.execute(
        f"SELECT {_COLUMNS} FROM expense_service.recurring_expense_schedules WHERE {where} "
        "ORDER BY created_at DESC, id DESC LIMIT :limit",
        params,
    ).all()
    items = [ExpenseSchedule.model_validate(r, from_attributes=True) for r in rows[: q.limit]]
    more = len(rows) > q.limit
    return ExpenseSchedulesPage(items=items,
                                next_cursor=encode_cursor(items[-1].created_at, items[-1].id) if more else None)


GENERATOR = dict(  # the tables and the INSERT the shared generator runs for this service
    schedules="expense_service.recurring_expense_schedules",
    occurrences="expense_service.recurring_expense_occurrences",
    record_column="expense_id",
    insert_records=f"""
        INSERT INTO expense_service.expenses
            (id, agency_id, amount, expense_date, source, notes, schedule_id, occurrence_date, created_by)
        SELECT c.record_id, s.agency_id, s.amount, c.occurrence_date, s.source, s.notes, s.id,
               c.occurrence_date, s.created_by
        FROM claimed c JOIN expense_service.recurring_expense_schedules s ON s.id = c.schedule_id
        ORDER BY c.schedule_id, c.occurrence_date
        RETURNING {EXPENSE_COLUMNS}
    """,
)


def expenses_recurring_generate(*, uow: UnitOfWork, as_of: date) -> int:
    """Every occurrence due up to as_of, for every agency, exactly once: one expense each (the schedule's
    amount, source, notes and author), one expense.recorded each. Returns how many."""
    rows = recurrence.generate(uow, as_of=as_of, **GENERATOR)
    emit_many(uow, "expense.recorded",
              [(r.agency_id, r.id, event_data(r, reason="generated", old=None, new=r)) for r in rows])
    return len(rows)


def _get(uow: UnitOfWork, caller: Caller, schedule_id: uuid.UUID, *, for_update: bool = False):
    row = uow.execute(
        f"SELECT {_COLUMNS} FROM expense_service.recurring_expense_schedules WHERE id = :id AND agency_id = :a"
        f"{' FOR UPDATE' if for_update else ''}",
        {"id": schedule_id, "a": caller.agency_id},
    ).one_or_none()
    if row is None:
        raise NotFound("recurring expense schedule not found")
    return row
