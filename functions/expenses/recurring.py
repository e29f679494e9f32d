"""Recurring expenses: schedules (create, read, end) and the generator that turns due dates into expenses."""
from __future__ import annotations

import uuid
from datetime import date

from shared_lib import recurrence
from shared_lib.contracts import ExpenseRecorded
from shared_lib.db import UnitOfWork
from shared_lib.rbac import Caller
from shared_lib.recurring_schedules import ScheduleTable

from .queries import EXPENSE_COLUMNS
from .schemas import (
    ExpenseSchedule,
    ExpenseScheduleCreate,
    ExpenseSchedulePatch,
    ExpenseSchedulesPage,
    ExpenseSchedulesQuery,
)
from .service import event_data

_TABLE = "expense_service.recurring_expense_schedules"

SCHEDULES = ScheduleTable(
    table=_TABLE,
    columns="""id, agency_id, source, amount, frequency, day_of_week, day_of_month, start_date, end_date, notes,
    created_by, created_at, updated_at""",
    model=ExpenseSchedule, page_model=ExpenseSchedulesPage,
    # Expenses are the agency's: whoever may use the endpoint (the role decides) sees every schedule.
    scope=lambda caller: ("agency_id = :a", {"a": caller.agency_id}),
    not_found="recurring expense schedule not found",
)


def expense_schedule_create(*, uow: UnitOfWork, caller: Caller, cmd: ExpenseScheduleCreate) -> ExpenseSchedule:
    """A recurring expense; the scheduler job generates its occurrences (from start_date, catching up)."""
    return SCHEDULES.create(uow=uow, caller=caller, cmd=cmd)


def expense_schedule_get(*, uow: UnitOfWork, caller: Caller, schedule_id: uuid.UUID) -> ExpenseSchedule:
    return SCHEDULES.get(uow=uow, caller=caller, schedule_id=schedule_id)


def expense_schedule_end(*, uow: UnitOfWork, caller: Caller, schedule_id: uuid.UUID,
                         cmd: ExpenseSchedulePatch) -> ExpenseSchedule:
    """Set or clear end_date: nothing after it is generated; what was generated stays."""
    return SCHEDULES.end(uow=uow, caller=caller, schedule_id=schedule_id, end_date=cmd.end_date)


def expense_schedule_list(*, uow: UnitOfWork, caller: Caller, q: ExpenseSchedulesQuery) -> ExpenseSchedulesPage:
    return SCHEDULES.list_page(uow=uow, caller=caller, limit=q.limit, cursor=q.cursor)


GENERATOR = dict(  # the tables and the INSERT the shared generator runs for this service
    schedules=_TABLE,
    occurrences="expense_service.recurring_expense_occurrences",
    record_column="expense_id",
    insert_records=f"""
        INSERT INTO expense_service.expenses
            (id, agency_id, amount, expense_date, source, notes, schedule_id, occurrence_date, created_by)
        SELECT c.record_id, s.agency_id, s.amount, c.occurrence_date, s.source, s.notes, s.id,
               c.occurrence_date, s.created_by
        FROM claimed c JOIN {_TABLE} s ON s.id = c.schedule_id
        ORDER BY c.schedule_id, c.occurrence_date
        RETURNING {EXPENSE_COLUMNS}
    """,
)


def expenses_recurring_generate(*, uow: UnitOfWork, as_of: date) -> int:
    """Every occurrence due up to as_of, for every agency, exactly once: one expense each (the schedule's
    amount, source, notes and author), one expense.recorded each. Returns how many."""
    rows = recurrence.generate(uow, as_of=as_of, **GENERATOR)
    uow.emit_many("expense.recorded",
              [(r.agency_id, r.id, event_data(ExpenseRecorded, r, reason="generated", old=None, new=r))
               for r in rows])
    return len(rows)
