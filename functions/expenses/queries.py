"""Expenses service SQL."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from shared_lib.dated_records import date_window
from shared_lib.db import UnitOfWork
from shared_lib.rbac import Caller

EXPENSE_COLUMNS = """id, agency_id, amount, expense_date, source, notes, schedule_id, created_by, created_at,
    updated_at"""


def get_expense(uow: UnitOfWork, caller: Caller, expense_id: uuid.UUID, *, for_update: bool = False):
    """The expense if it is the caller's agency's (every role that may read expenses sees them all)."""
    return uow.execute(
        f"SELECT {EXPENSE_COLUMNS} FROM expense_service.expenses WHERE id = :id AND agency_id = :a"
        f"{' FOR UPDATE' if for_update else ''}",
        {"id": expense_id, "a": caller.agency_id},
    ).one_or_none()


def insert_expense(uow: UnitOfWork, values: dict[str, Any]):
    return uow.execute(
        f"""
        INSERT INTO expense_service.expenses (agency_id, amount, expense_date, source, notes, created_by)
        VALUES (:agency_id, :amount, :expense_date, :source, :notes, :created_by)
        RETURNING {EXPENSE_COLUMNS}
        """,
        values,
    ).one()


def update_expense(uow: UnitOfWork, expense_id: uuid.UUID, values: dict[str, Any]):
    return uow.execute(
        f"""
        UPDATE expense_service.expenses
           SET amount = :amount, expense_date = :expense_date, source = :source, notes = :notes,
               updated_at = clock_timestamp()
         WHERE id = :id
        RETURNING {EXPENSE_COLUMNS}
        """,
        {**values, "id": expense_id},
    ).one()


def delete_expense(uow: UnitOfWork, expense_id: uuid.UUID) -> None:
    uow.execute("DELETE FROM expense_service.expenses WHERE id = :id", {"id": expense_id})


def list_expenses(uow: UnitOfWork, agency_id: uuid.UUID, *, date_from: date | None, date_to: date | None,
                  after: tuple[date, datetime, uuid.UUID] | None, limit: int):
    """One page, newest expense date first; the keyset (expense_date, created_at, id) matches expenses_list."""
    terms, window, order = date_window("", "expense_date", date_from=date_from, date_to=date_to, after=after)
    return uow.execute(
        f"SELECT {EXPENSE_COLUMNS} FROM expense_service.expenses WHERE {' AND '.join(['agency_id = :a', *terms])} "
        f"{order} LIMIT :limit",
        {"a": agency_id, **window, "limit": limit},
    ).all()
