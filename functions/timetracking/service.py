"""Time tracking use cases behind HTTP: shifts, check-in/out for a caller, corrections, summary, settings."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from shared_lib.clock import now as clock_now
from shared_lib.closing import ensure_open
from shared_lib.contracts import TimetrackingSettingsUpdated
from shared_lib.db import UnitOfWork
from shared_lib.errors import Conflict, Forbidden, Invalid, NotFound
from shared_lib.pagination import cursor_key, page_of
from shared_lib.periods import Period, local_date_of, local_today
from shared_lib.rbac import Caller, Role, can_see_user, user_scope

from . import clock, queries, rules
from .schemas import (
    ClockCommand,
    Entry,
    EntryCorrection,
    EntryPage,
    RangeQuery,
    Settings,
    SettingsPut,
    SettingsVersion,
    Shift,
    ShiftCreate,
    ShiftPage,
    Summary,
    SummaryQuery,
)

SETTINGS_EVENT = "timetracking.settings.updated"


def _visible_user(uow: UnitOfWork, caller: Caller, user_id: uuid.UUID, field: str, part: str = "body") -> None:
    """Another agency's user, or one outside a Manager's team, answers 404 naming the field."""
    if not can_see_user(uow, caller, user_id):
        raise NotFound("user not found", field=field, part=part)


# --- shifts ---------------------------------------------------------------------------------------------------


def shift_create(*, uow: UnitOfWork, caller: Caller, cmd: ShiftCreate) -> Shift:
    """Plan a shift (Owner; Manager for their team): ends after it starts, at most 24 h, no overlap."""
    if cmd.ends_at <= cmd.starts_at:
        raise Invalid("must be after starts_at", field="ends_at")
    if cmd.ends_at - cmd.starts_at > rules.MAX_SHIFT_LENGTH:
        raise Invalid("must be at most 24 hours after starts_at", field="ends_at")
    _visible_user(uow, caller, cmd.user_id, "user_id")
    if not queries.member(uow, caller.agency_id, cmd.user_id).active:
        raise Invalid("user is deactivated", field="user_id")
    ensure_open(uow, caller.agency_id, local_date_of(cmd.starts_at, caller.agency_timezone))
    # No btree_gist on the embedded server, so no exclusion constraint: the per-user lock makes this
    # check-then-insert safe (every writer of this user's shifts takes it first).
    queries.lock_user(uow, cmd.user_id)
    clash = queries.overlapping_shift(uow, cmd.user_id, cmd.starts_at, cmd.ends_at)
    if clash is not None:
        raise Conflict(f"overlaps shift {clash.id} ({clash.starts_at.isoformat()} – {clash.ends_at.isoformat()})",
                       slug="shift-overlap")
    shift_id = queries.insert_shift(uow, agency_id=caller.agency_id, user_id=cmd.user_id, starts_at=cmd.starts_at,
                                    ends_at=cmd.ends_at, created_by=caller.user_id)
    return Shift.model_validate(queries.shift(uow, shift_id)._mapping)


def _range(uow: UnitOfWork, caller: Caller, q: RangeQuery, cursor_types: tuple[type, ...]):
    if q.user_id is not None:
        _visible_user(uow, caller, q.user_id, "user_id", part="query")
    if q.date_from and q.date_to and q.date_from > q.date_to:
        raise Invalid("must not be before date_from", field="date_to", part="query")
    after = cursor_key(q.cursor, cursor_types)
    return after, queries.local_bounds(uow, caller.agency_timezone, q.date_from, q.date_to)


def shift_list(*, uow: UnitOfWork, caller: Caller, q: RangeQuery) -> ShiftPage:
    """Shifts newest first; Owner all, Manager their team and themselves, Chatter their own."""
    after, b = _range(uow, caller, q, (datetime, uuid.UUID))
    rows = queries.shift_page(uow, agency_id=caller.agency_id, scope=user_scope(caller, "s.user_id"),
                              user_id=q.user_id, lo=b.lo, hi=b.hi, after=after, limit=q.limit + 1)
    return page_of(rows, limit=q.limit, item=Shift, page=ShiftPage, key=lambda s: (s.starts_at, s.id))


# --- check-in / check-out -------------------------------------------------------------------------------------


def _clock_target(uow: UnitOfWork, caller: Caller, cmd: ClockCommand) -> tuple[uuid.UUID, datetime, bool]:
    """Whose time, at what instant, and whether it is a correction (an explicit `at`)."""
    user_id = cmd.user_id or caller.user_id
    if caller.role is Role.chatter:
        if user_id != caller.user_id:
            raise Forbidden("a Chatter checks in and out only for themselves")
        if cmd.at is not None:
            raise Forbidden("only an Owner or Manager may record a time (at)")
    else:
        _visible_user(uow, caller, user_id, "user_id")
        if cmd.at is not None and caller.role is Role.manager and user_id == caller.user_id:
            raise Forbidden("a Manager cannot record or correct their own time; the Owner can")
    now = clock_now()
    if cmd.at is not None and cmd.at > now:
        raise Invalid("must not be in the future", field="at")
    return user_id, cmd.at or now, cmd.at is not None


def clock_in(*, uow: UnitOfWork, caller: Caller, cmd: ClockCommand) -> Entry:
    user_id, at, correction = _clock_target(uow, caller, cmd)
    return clock.check_in(uow, agency_id=caller.agency_id, user_id=user_id, at=at, recorded_by=caller.user_id,
                          source="http", correction=correction)


def clock_out(*, uow: UnitOfWork, caller: Caller, cmd: ClockCommand) -> Entry:
    user_id, at, correction = _clock_target(uow, caller, cmd)
    return clock.check_out(uow, agency_id=caller.agency_id, user_id=user_id, at=at, recorded_by=caller.user_id,
                           source="http", correction=correction)


def entry_correct(*, uow: UnitOfWork, caller: Caller, entry_id: uuid.UUID, cmd: EntryCorrection) -> Entry:
    """Owner/Manager (not for themselves) sets the check-in and/or check-out time; the minutes are recomputed."""
    if cmd.checked_in_at is None and cmd.checked_out_at is None:
        raise Invalid("give checked_in_at, checked_out_at or both", field=())
    row = queries.entry(uow, caller.agency_id, entry_id)
    if row is None or not can_see_user(uow, caller, row.user_id):
        raise NotFound("entry not found")
    if caller.role is Role.manager and row.user_id == caller.user_id:
        raise Forbidden("a Manager cannot correct their own time; the Owner can")
    queries.lock_user(uow, row.user_id)
    row = queries.entry(uow, caller.agency_id, entry_id, lock=True)
    now = clock_now()
    for name, value in (("checked_in_at", cmd.checked_in_at), ("checked_out_at", cmd.checked_out_at)):
        if value is not None and value > now:
            raise Invalid("must not be in the future", field=name)
    in_at = cmd.checked_in_at or row.checked_in_at
    out_at = cmd.checked_out_at or row.checked_out_at
    if not rules.can_open(row.shift_starts_at, row.shift_ends_at, in_at):
        raise Invalid("must be within the shift or at most 2 hours before it starts", field="checked_in_at")
    if out_at is not None and out_at < in_at:
        blamed = "checked_out_at" if cmd.checked_out_at is not None else "checked_in_at"
        raise Invalid("the check-out must not be before the check-in", field=blamed)
    ensure_open(uow, caller.agency_id, row.local_date)
    settings = queries.settings_on(uow, caller.agency_id, row.local_date)
    if out_at is not None and rules.auto_close_due(in_at, settings.max_shift_hours, out_at):
        raise Invalid(f"is {settings.max_shift_hours} h or more after the check-in (max_shift_hours); raise that "
                      "setting to record it", field="checked_out_at")
    att = rules.attendance(shift_start=row.shift_starts_at, shift_end=row.shift_ends_at, checked_in_at=in_at,
                           checked_out_at=out_at, grace_minutes=settings.grace_minutes)
    # The corrected times are the record: a check-out within 4 h of the shift's end was not a missed one.
    missed = rules.missed_check_out(row.shift_ends_at, out_at) if out_at is not None else row.missed_check_out
    queries.update_entry(uow, row.id, checked_in_at=in_at, checked_out_at=out_at, late=att.late_minutes,
                         overtime=att.overtime_minutes, worked=att.worked_minutes, missed_check_out=missed,
                         auto_closed=row.auto_closed and cmd.checked_out_at is None, corrected_by=caller.user_id)
    corrected = queries.entry(uow, caller.agency_id, row.id)
    clock.emit(uow, corrected, "adjusted", att.late_minutes)
    return clock.to_entry(corrected)


def entry_list(*, uow: UnitOfWork, caller: Caller, q: RangeQuery) -> EntryPage:
    """Entries newest check-in first (dates filter the check-in's local date), role-scoped like shifts."""
    after, b = _range(uow, caller, q, (datetime, uuid.UUID))
    rows = queries.entry_page(uow, agency_id=caller.agency_id, scope=user_scope(caller, "e.user_id"),
                              user_id=q.user_id, lo=b.lo, hi=b.hi, after=after, limit=q.limit + 1)
    return page_of(rows, limit=q.limit, item=Entry, page=EntryPage, key=lambda e: (e.checked_in_at, e.id))


# --- summary --------------------------------------------------------------------------------------------------


def summary_range(q: SummaryQuery, today: date) -> tuple[date, date]:
    """A missing bound is taken from the month of the other one, or from the current month."""
    date_from = q.date_from or Period.of(q.date_to or today).first_day
    date_to = q.date_to or Period.of(date_from).last_day
    if date_from > date_to:
        raise Invalid("must not be before date_from", field="date_to", part="query")
    return date_from, date_to


def summary_get(*, uow: UnitOfWork, caller: Caller, user_id: uuid.UUID, q: SummaryQuery) -> Summary:
    """One user's figures over inclusive local dates (Owner all, Manager their team, Chatter themselves)."""
    if not can_see_user(uow, caller, user_id):
        raise NotFound("user not found")
    date_from, date_to = summary_range(q, local_today(caller.agency_timezone))
    b = queries.local_bounds(uow, caller.agency_timezone, date_from, date_to)
    row = queries.summary(uow, agency_id=caller.agency_id, user_id=user_id, lo=b.lo, hi=b.hi)
    return Summary(user_id=user_id, date_from=date_from, date_to=date_to, **row._mapping)


# --- settings -------------------------------------------------------------------------------------------------


def settings_get(*, uow: UnitOfWork, caller: Caller) -> Settings:
    """The version in effect today (or the defaults) and every saved version, newest first."""
    current = queries.settings_on(uow, caller.agency_id, local_today(caller.agency_timezone))
    history = queries.settings_history(uow, caller.agency_id)
    return Settings(current=SettingsVersion.model_validate(current._mapping),
                    history=[SettingsVersion.model_validate(r._mapping) for r in history])


def _ensure_reach_open(uow: UnitOfWork, caller: Caller, effective_from: date) -> None:
    """409 period-closed when the version would apply on any day of a closed period, as the users settings do.

    A version applies from effective_from until the next version starts, so a back-dated one reaches every
    period up to that next version (or up to today: no later period can be closed yet), even when it takes
    effect in an open one. Each period it reaches goes through the one closed-period check, ensure_open.
    """
    nxt = queries.next_settings_from(uow, caller.agency_id, effective_from)
    last = nxt - timedelta(days=1) if nxt else max(effective_from, local_today(caller.agency_timezone))
    days, p = [effective_from], Period.of(effective_from)
    while p <= Period.of(last):
        days.append(p.first_day)
        p = p.next()
    ensure_open(uow, caller.agency_id, *days)


def settings_put(*, uow: UnitOfWork, caller: Caller, cmd: SettingsPut) -> SettingsVersion:
    """Save a version from effective_from (default today); refused in a closed period. The payouts service
    recomputes the agency's open periods from that date on `timetracking.settings.updated`."""
    effective_from = cmd.effective_from or local_today(caller.agency_timezone)
    queries.lock_settings(uow, caller.agency_id)
    _ensure_reach_open(uow, caller, effective_from)
    values = cmd.model_dump(exclude={"effective_from"})
    row = queries.upsert_settings(uow, agency_id=caller.agency_id, effective_from=effective_from, values=values,
                                  updated_by=caller.user_id)
    uow.emit(SETTINGS_EVENT, agency_id=caller.agency_id, subject=caller.agency_id,
             data=TimetrackingSettingsUpdated(agency_id=caller.agency_id, effective_from=effective_from,
                                              period=str(Period.of(effective_from))))
    return SettingsVersion.model_validate(row._mapping)
