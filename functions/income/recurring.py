"""Recurring other income: schedules (create, read, end) and the generator that turns due dates into records."""
from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from shared_lib import recurrence
from shared_lib.contracts import IncomeRegistered
from shared_lib.db import UnitOfWork
from shared_lib.errors import NotFound
from shared_lib.rbac import Caller, Role, model_in_agency, user_scope
from shared_lib.recurring_schedules import ScheduleTable

from . import queries, rules
from .schemas import (
    IncomeSchedule,
    IncomeScheduleCreate,
    IncomeSchedulePatch,
    IncomeSchedulesPage,
    IncomeSchedulesQuery,
)
from .service import event_data

_TABLE = "income_service.recurring_income_schedules"


def _scope(caller: Caller) -> tuple[str, dict[str, Any]]:
    """Owner: all; Manager: what they created and splits to themselves or their team (Chatters get 403)."""
    predicate, params = user_scope(caller, "assigned_to_user_id")
    if caller.role is Role.manager:
        predicate = f"({predicate} OR created_by = :_scope_user)"
    return f"agency_id = :_scope_agency AND {predicate}", params


SCHEDULES = ScheduleTable(
    table=_TABLE,
    columns="""id, agency_id, source, amount, frequency, day_of_week, day_of_month, start_date, end_date, model_id,
    assigned_to_user_id, split_percent, split_fixed_amount, notes, created_by, created_at, updated_at""",
    model=IncomeSchedule, page_model=IncomeSchedulesPage, scope=_scope,
    not_found="recurring income schedule not found",
)


def income_schedule_create(*, uow: UnitOfWork, caller: Caller, cmd: IncomeScheduleCreate) -> IncomeSchedule:
    """A recurring other income; the scheduler job generates its occurrences (from start_date, catching up)."""
    if cmd.model_id is not None and not model_in_agency(uow, caller.agency_id, cmd.model_id):
        raise NotFound("model not found", field="model_id")
    rules.check_split_user(uow, caller=caller, user_id=cmd.assigned_to_user_id)
    return SCHEDULES.create(uow=uow, caller=caller, cmd=cmd)


def income_schedule_get(*, uow: UnitOfWork, caller: Caller, schedule_id: uuid.UUID) -> IncomeSchedule:
    return SCHEDULES.get(uow=uow, caller=caller, schedule_id=schedule_id)


def income_schedule_end(*, uow: UnitOfWork, caller: Caller, schedule_id: uuid.UUID,
                        cmd: IncomeSchedulePatch) -> IncomeSchedule:
    """Set or clear end_date: nothing after it is generated; what was generated stays."""
    return SCHEDULES.end(uow=uow, caller=caller, schedule_id=schedule_id, end_date=cmd.end_date)


def income_schedule_list(*, uow: UnitOfWork, caller: Caller, q: IncomeSchedulesQuery) -> IncomeSchedulesPage:
    return SCHEDULES.list_page(uow=uow, caller=caller, limit=q.limit, cursor=q.cursor)


GENERATOR = dict(  # the tables and the INSERT the shared generator runs for this service
    schedules=_TABLE,
    occurrences="income_service.recurring_income_occurrences",
    record_column="income_record_id",
    insert_records=f"""
        INSERT INTO income_service.income_records
            (id, agency_id, type, gross_amount, fee_percent, fee_amount, net_amount, sale_date, model_id,
             registered_by_user_id, source, notes, assigned_to_user_id, split_percent, split_fixed_amount,
             schedule_id, occurrence_date)
        SELECT c.record_id, s.agency_id, 'other_income', s.amount, 0, 0, s.amount, c.occurrence_date,
               s.model_id, s.created_by, s.source, s.notes, s.assigned_to_user_id, s.split_percent,
               s.split_fixed_amount, s.id, c.occurrence_date
        FROM claimed c JOIN {_TABLE} s ON s.id = c.schedule_id
        ORDER BY c.schedule_id, c.occurrence_date
        RETURNING {queries.RECORD_COLUMNS.replace("r.", "")}
    """,
)


def income_recurring_generate(*, uow: UnitOfWork, as_of: date) -> int:
    """Every occurrence due up to as_of, for every agency, exactly once: one other_income record each (the
    schedule's source, amount, model, split and author), one income.registered each. Returns how many."""
    rows = recurrence.generate(uow, as_of=as_of, **GENERATOR)
    uow.emit_many("income.registered",
              [(r.agency_id, r.id, event_data(IncomeRegistered, r, reason="generated", old=None, new=r))
               for r in rows])
    return len(rows)
