"""Income records and expenses alike: dated records found in the caller's scope, listed by date, changed by event."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from .closing import ensure_open
from .contracts import CONTRACTS, Contract
from .db import UnitOfWork
from .errors import Invalid, NotFound
from .periods import local_today
from .rbac import Caller


def ensure_not_future(caller: Caller, day: date, field: str) -> None:
    """A sale or expense date (`field`) is a local date in the agency's time zone and may not be after its today."""
    if day > local_today(caller.agency_timezone):
        raise Invalid("must not be in the future", field=field)


def date_window(alias: str, date_column: str, *, date_from: date | None, date_to: date | None,
                after: tuple[Any, ...] | None) -> tuple[list[str], dict[str, Any], str]:
    """WHERE terms and parameters of a list newest first by the records' own date (from and to inclusive; on a
    later page, what sorts after the cursor's key), and its ORDER BY: the key (date, created_at, id) of the
    service's list index. `alias` prefixes the columns ("r." or "")."""
    terms: list[str] = []
    params: dict[str, Any] = {}
    if date_from is not None:
        terms.append(f"{alias}{date_column} >= :date_from")
        params["date_from"] = date_from
    if date_to is not None:
        terms.append(f"{alias}{date_column} <= :date_to")
        params["date_to"] = date_to
    if after is not None:
        terms.append(f"({alias}{date_column}, {alias}created_at, {alias}id) < (:a_date, :a_created, :a_id)")
        params.update(a_date=after[0], a_created=after[1], a_id=after[2])
    return terms, params, f"ORDER BY {alias}{date_column} DESC, {alias}created_at DESC, {alias}id DESC"


@dataclass(frozen=True)
class DatedRecords:
    """How one service finds, deletes and announces its records; the use cases around them stay the service's."""

    noun: str  # 404 "<noun> not found"
    date_field: str  # the record's own date: the one the closed-period rule reads
    events: str  # the event type prefix: "<events>.updated", "<events>.deleted"
    find: Callable[..., Any]  # (uow, caller, record_id, *, for_update) -> the row in the caller's scope, or None
    remove: Callable[[UnitOfWork, uuid.UUID], None]
    event_data: Callable[..., Contract]  # (contract, row, *, reason, old, new) -> the event's payload

    def get(self, uow: UnitOfWork, caller: Caller, record_id: uuid.UUID, *, for_update: bool = False):
        """The record, if the caller may see it; out of scope and another agency's alike answer 404."""
        row = self.find(uow, caller, record_id, for_update=for_update)
        if row is None:
            raise NotFound(f"{self.noun} not found")
        return row

    def emit(self, uow: UnitOfWork, caller: Caller, event: str, *, reason: str, old, new) -> None:
        """One `<events>.<event>` in the outbox of this transaction; old is None when created, new when deleted."""
        row = new if new is not None else old
        type = f"{self.events}.{event}"
        uow.emit(type, agency_id=caller.agency_id, subject=row.id,
                 data=self.event_data(CONTRACTS[type], row, reason=reason, old=old, new=new))

    def delete(self, uow: UnitOfWork, caller: Caller, record_id: uuid.UUID) -> None:
        """Delete a record dated in an open period; `<events>.deleted` carries what it was."""
        current = self.get(uow, caller, record_id, for_update=True)
        ensure_open(uow, caller.agency_id, getattr(current, self.date_field))
        self.remove(uow, record_id)
        self.emit(uow, caller, "deleted", reason="deleted", old=current, new=None)
