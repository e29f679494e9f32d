"""Recurring other income: schedules (create, read, end) and the generator that turns due dates into records."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from shared_lib import recurrence
from shared_lib.db import UnitOfWork
from shared_lib.errors import NotFound, invalid
from shared_lib.outbox_batch import emit_many
from shared_lib.pagination import decode_cursor, encode_cursor
from shared_lib.rbac import Caller, Role, user_scope

from . import queries, rules
from .schemas import (
    IncomeSchedule,
    IncomeScheduleCreate,
    IncomeSchedulePatch,
    IncomeSchedulesPage,
    IncomeSchedulesQuery,
)
from .service import event_data

_COLUMNS = """id, agency_id, source, amount, frequency, day_of_week, day_of_month, start_date, end_date, model_id,
    assigned_to_user_id, split_percent, split_fixed_amount, notes, created_by, created_at, updated_at"""


def _scope(caller: Caller) -> tuple[str, dict[str, Any]]:
    """Owner: all; Manager: what they created and splits to themselves or their team (Chatters get 403)."""
    predicate, params = user_scope(caller, "assigned_to_user_id")
    if caller.role is Role.manager:
        predicate = f"({predicate} OR created_by = :_scope_user)"
    return predicate, params


def income_schedule_create(*, uow: UnitOfWork, caller: Caller, cmd: IncomeScheduleCreate) -> IncomeSchedule:
    """A recurring other income; the scheduler job generates its occurrences (from start_date, catching up)."""
    if cmd.model_id is not None and not queries.model_in_agency(uow, caller.agency_id, cmd.model_id):
        raise invalid(["body", "model_id"], "model not found", NotFound)
    rules.check_split_user(uow, caller=caller, user_id=cmd.assigned_to_user_id)
    row = uow.execute(
        f"""
        INSERT INTO income_service.recurring_income_schedules
            (agency_id, source, amount, frequency, day_of_week, day_of_month, start_date, end_date, model_id,
             assigned_to_user_id, split_percent, split_fixed_amount, notes, created_by)
        VALUES (:agency_id, :source, :amount, :frequency, :day_of_week, :day_of_month, :start_date, :end_date,
                :model_id, :assigned_to_user_id, :split_percent, :split_fixed_amount, :notes, :created_by)
        RETURNING {_COLUMNS}
        """,
        {**cmd.model_dump(), "agency_id": caller.agency_id, "created_by": caller.user_id},
    ).one()
    return IncomeSchedule.model_validate(row, from_attributes=True)


def income_schedule_get(*, uow: UnitOfWork, caller: Caller, schedule_id: uuid.UUID) -> IncomeSchedule:
    return IncomeSchedule.model_validate(_get(uow, caller, schedule_id), from_attributes=True)


def income_schedule_end(*, uow: UnitOfWork, caller: Caller, schedule_id: uuid.UUID,
                        cmd: IncomeSchedulePatch) -> IncomeSchedule:
    """Set or clear end_date: nothing after it is generated; what was generated stays."""
    current = _get(uow, caller, schedule_id, for_update=True)
    if cmd.end_date is not None and cmd.end_date < current.start_date:
        raise invalid(["body", "end_date"], "must not be before start_date")
    row = uow.execute(
        f"UPDATE income_service.recurring_income_schedules SET end_date = :e, updated_at = now() "
        f"WHERE id = :id RETURNING {_COLUMNS}",
        {"e": cmd.end_date, "id": schedule_id},
    ).one()
    return IncomeSchedule.model_validate(row, from_attributes=True)


def income_schedule_list(*, uow: UnitOfWork, caller: Caller, q: IncomeSchedulesQuery) -> IncomeSchedulesPage:
    predicate, params = _scope(caller)
    where = f"agency_id = :_scope_agency AND {predicate}"
    if q.cursor is not None:
        try:
            created, last_id = decode_cursor(q.cursor, (datetime, uuid.UUID))
        except ValueError:
            raise invalid(["query", "cursor"], "invalid cursor; start again from the first page") from None
        where += " AND (created_at, id) < (:c_at, :c_id)"
        params.update(c_at=created, c_id=last_id)
    rows = uow.execute(
        f"SELECT {_COLUMNS} FROM income_service.recurring_income_schedules WHERE {where} "
        "ORDER BY created_at DESC, id DESC LIMIT :limit",
        {**params, "limit": q.limit + 1},
    ).all()
    items = [IncomeSchedule.model_validate(r, from_attributes=True) for r in rows[: q.limit]]
    more = len(rows) > q.limit
    return IncomeSchedulesPage(items=items,
                         next_cursor=encode_cursor(items[-1].created_at, items[-1].id) if more else None)


GENERATOR = dict(  # the tables and the INSERT the shared generator runs for this service
    schedules="income_service.recurring_income_schedules",
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
        FROM claimed c JOIN income_service.recurring_income_schedules s ON s.id = c.schedule_id
        ORDER BY c.schedule_id, c.occurrence_date
        RETURNING {queries.RECORD_COLUMNS.replace("r.", "")}
    """,
)


def income_recurring_generate(*, uow: UnitOfWork, as_of: date) -> int:
    """Every occurrence due up to as_of, for every agency, exactly once: one other_income record each (the
    schedule's source, amount, model, split and author), one income.registered each. Returns how many."""
    rows = recurrence.generate(uow, as_of=as_of, **GENERATOR)
    emit_many(uow, "income.registered",
              [(r.agency_id, r.id, event_data(r, reason="generated", old=None, new=r)) for r in rows])
    return len(rows)


def _get(uow: UnitOfWork, caller: Caller, schedule_id: uuid.UUID, *, for_update: bool = False):
    predicate, params = _scope(caller)
    row = uow.execute(
        f"SELECT {_COLUMNS} FROM income_service.recurring_income_schedules "
        f"WHERE id = :id AND agency_id = :_scope_agency AND {predicate}{' FOR UPDATE' if for_update else ''}",
        {**params, "id": schedule_id},
    ).one_or_none()
    if row is None:
        raise NotFound("recurring income schedule not found")
    return row
