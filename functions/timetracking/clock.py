"""Check-in and check-out: the one code path behind HTTP and the Firestore time events, and its events."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from shared_lib.closing import ensure_open
from shared_lib.contracts import EmployeeTimeEvent
from shared_lib.db import UnitOfWork
from shared_lib.errors import Conflict, Invalid

from . import queries, rules
from .schemas import Entry

EVENT = "employee.time.event"


def check_in(uow: UnitOfWork, *, agency_id: uuid.UUID, user_id: uuid.UUID, at: datetime, recorded_by: uuid.UUID,
             source: str, correction: bool) -> Entry:
    """Open an entry on the user's shift covering `at` (or starting within 2 h) that has none yet.

    `correction`: an Owner/Manager recording a past time, refused in a closed period; a live check-in is a
    fact and always recorded. Every check comes before the first write, so a refusal writes nothing.
    """
    queries.lock_user(uow, user_id)
    if queries.open_entry(uow, user_id) is not None:
        raise Conflict("already checked in: check out first", slug="open-check-in")
    candidates = queries.check_in_candidates(uow, agency_id=agency_id, user_id=user_id, at=at,
                                             window=rules.CHECK_IN_WINDOW)
    shift = next((s for s in candidates if s.status != "attended"), None)
    if shift is None:
        if candidates:
            raise Conflict("this shift already has a check-in; correct it with PATCH /api/timetracking/entries/{id}/",
                           slug="shift-already-checked-in")
        raise Conflict("no planned shift covers this time or starts within 2 hours", slug="no-shift")
    if correction:
        ensure_open(uow, agency_id, shift.local_date)
    settings = queries.settings_on(uow, agency_id, shift.local_date)
    late = rules.late_minutes(shift.starts_at, at, settings.grace_minutes)
    queries.mark_attended(uow, shift.id)
    entry_id = queries.insert_entry(uow, agency_id=agency_id, user_id=user_id, shift_id=shift.id, checked_in_at=at,
                                    late_minutes=late, source=source, recorded_by=recorded_by)
    row = queries.entry(uow, agency_id, entry_id)
    # One event per change: an alert when lateness is above the threshold, otherwise `adjusted` when the
    # deduction basis moved (lateness within the threshold, or a missed shift that now has its check-in).
    if late > settings.late_event_threshold_minutes:
        emit(uow, row, "late", late)
    elif late > 0 or shift.status == "missed":
        emit(uow, row, "adjusted", late)
    return to_entry(row)


def check_out(uow: UnitOfWork, *, agency_id: uuid.UUID, user_id: uuid.UUID, at: datetime, recorded_by: uuid.UUID,
              source: str, correction: bool) -> Entry:
    """Close the user's open entry at `at`.

    An entry that has been open max_shift_hours is closed by the system at the shift's end (the sweep does
    the same): a live check-out that late gets that result too, so the outcome never depends on whether the
    sweep ran first. A correction that late is refused instead of silently moved.
    """
    queries.lock_user(uow, user_id)
    row = queries.open_entry(uow, user_id)
    if row is None or row.agency_id != agency_id:
        raise Conflict("not checked in: there is no open entry to check out", slug="no-open-check-in")
    if at < row.checked_in_at:
        raise Invalid(f"is before the check-in at {row.checked_in_at.isoformat()}", field="at")
    if correction:
        ensure_open(uow, agency_id, row.local_date)
    settings = queries.settings_on(uow, agency_id, row.local_date)
    auto = rules.auto_close_due(row.checked_in_at, settings.max_shift_hours, at)
    if auto and correction:
        raise Invalid(f"is {settings.max_shift_hours} h or more after the check-in (max_shift_hours); raise that "
                      "setting to record it", field="at")
    out_at = rules.auto_close_at(shift_end=row.shift_ends_at, checked_in_at=row.checked_in_at,
                                 max_shift_hours=settings.max_shift_hours) if auto else at
    missed = row.missed_check_out or auto or rules.missed_check_out(row.shift_ends_at, at)
    queries.update_entry(uow, row.id, checked_in_at=row.checked_in_at, checked_out_at=out_at, late=row.late_minutes,
                         overtime=rules.overtime_minutes(row.shift_ends_at, out_at),
                         worked=rules.worked_minutes(row.checked_in_at, out_at), missed_check_out=missed,
                         auto_closed=auto, corrected_by=None if recorded_by == user_id else recorded_by)
    closed = queries.entry(uow, agency_id, row.id)
    # Closing gives the entry its worked minutes (the hourly pay line's input): always one event, the alert when
    # the check-out is a missed one, `checked_out` otherwise.
    if missed and not row.missed_check_out:
        emit(uow, closed, "missed_check_out", 0)
    else:
        emit(uow, closed, "checked_out", closed.worked_minutes)
    return to_entry(closed)


def emit(uow: UnitOfWork, row: Any, kind: str, minutes: int) -> None:
    """employee.time.event for an entry row (see emit_event)."""
    emit_event(uow, agency_id=row.agency_id, user_id=row.user_id, shift_id=row.shift_id, entry_id=row.id,
               local_date=row.local_date, kind=kind, minutes=minutes)


def emit_event(uow: UnitOfWork, *, agency_id: uuid.UUID, user_id: uuid.UUID, shift_id: uuid.UUID,
               entry_id: uuid.UUID | None, local_date: date, kind: str, minutes: int) -> None:
    """employee.time.event through the outbox; subject = the user, whose period the payouts recompute."""
    uow.emit_many(EVENT, [event_item(agency_id=agency_id, user_id=user_id, shift_id=shift_id, entry_id=entry_id,
                                     local_date=local_date, kind=kind, minutes=minutes)])


def entry_event_item(row: Any, kind: str, minutes: int) -> tuple:
    """(agency_id, subject, data) of employee.time.event for an entry row, for uow.emit_many."""
    return event_item(agency_id=row.agency_id, user_id=row.user_id, shift_id=row.shift_id, entry_id=row.id,
                      local_date=row.local_date, kind=kind, minutes=minutes)


def event_item(*, agency_id: uuid.UUID, user_id: uuid.UUID, shift_id: uuid.UUID, entry_id: uuid.UUID | None,
               local_date: date, kind: str, minutes: int) -> tuple:
    data = EmployeeTimeEvent(agency_id=agency_id, user_id=user_id, kind=kind, shift_id=shift_id, entry_id=entry_id,
                             minutes=minutes, local_date=local_date, period=local_date.strftime("%Y-%m"))
    return agency_id, user_id, data


def to_entry(row: Any) -> Entry:
    return Entry.model_validate(row._mapping, from_attributes=False)
