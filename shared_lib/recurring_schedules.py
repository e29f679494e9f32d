"""Recurring schedule use cases shared by income and expenses: create, read, end and list a service's schedules."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from .db import UnitOfWork
from .errors import Invalid, NotFound
from .pagination import cursor_key, page_of
from .rbac import Caller


@dataclass(frozen=True)
class ScheduleTable:
    """One service's schedule table and what differs between the services."""

    table: str
    columns: str  # what every statement returns
    model: type[BaseModel]
    page_model: type[BaseModel]
    # The caller's visible rows: WHERE terms (the agency's included) and their parameters.
    scope: Callable[[Caller], tuple[str, dict[str, Any]]]
    not_found: str

    def create(self, *, uow: UnitOfWork, caller: Caller, cmd: BaseModel) -> Any:
        """Insert the request's fields (named as the table's columns) for the caller's agency, by the caller."""
        values = {**cmd.model_dump(), "agency_id": caller.agency_id, "created_by": caller.user_id}
        row = uow.execute(
            f"INSERT INTO {self.table} ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)}) "
            f"RETURNING {self.columns}",
            values,
        ).one()
        return self.model.model_validate(row, from_attributes=True)

    def get(self, *, uow: UnitOfWork, caller: Caller, schedule_id: uuid.UUID) -> Any:
        return self.model.model_validate(self._row(uow, caller, schedule_id), from_attributes=True)

    def end(self, *, uow: UnitOfWork, caller: Caller, schedule_id: uuid.UUID, end_date) -> Any:
        """Set or clear end_date: nothing after it is generated; what was generated stays."""
        current = self._row(uow, caller, schedule_id, for_update=True)
        if end_date is not None and end_date < current.start_date:
            raise Invalid("must not be before start_date", field="end_date")
        row = uow.execute(
            f"UPDATE {self.table} SET end_date = :e, updated_at = now() WHERE id = :id RETURNING {self.columns}",
            {"e": end_date, "id": schedule_id},
        ).one()
        return self.model.model_validate(row, from_attributes=True)

    def list_page(self, *, uow: UnitOfWork, caller: Caller, limit: int, cursor: str | None) -> Any:
        """The caller's visible schedules, newest first: the keyset (created_at, id) of the list index."""
        where, params = self.scope(caller)
        after = cursor_key(cursor, (datetime, uuid.UUID))
        if after is not None:
            where += " AND (created_at, id) < (:c_at, :c_id)"
            params.update(c_at=after[0], c_id=after[1])
        rows = uow.execute(
            f"SELECT {self.columns} FROM {self.table} WHERE {where} ORDER BY created_at DESC, id DESC LIMIT :limit",
            {**params, "limit": limit + 1},
        ).all()
        return page_of(rows, limit=limit, item=self.model, page=self.page_model, key=lambda s: (s.created_at, s.id))

    def _row(self, uow: UnitOfWork, caller: Caller, schedule_id: uuid.UUID, *, for_update: bool = False):
        where, params = self.scope(caller)
        row = uow.execute(
            f"SELECT {self.columns} FROM {self.table} WHERE id = :id AND {where}{' FOR UPDATE' if for_update else ''}",
            {**params, "id": schedule_id},
        ).one_or_none()
        if row is None:
            raise NotFound(self.not_found)
        return row
