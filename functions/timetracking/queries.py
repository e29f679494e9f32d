"""Time tracking SQL: settings, shifts, entries, summary, the Firestore time-event log and the sweep."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from shared_lib.db import UnitOfWork

S = "timetracking_service"

# An entry with its shift and local date, as every entry response shows it.
ENTRY_SELECT = f"""
    SELECT e.id, e.agency_id, e.shift_id, e.user_id, (s.starts_at AT TIME ZONE a.timezone)::date AS local_date,
           s.starts_at AS shift_starts_at, s.ends_at AS shift_ends_at, e.checked_in_at, e.checked_out_at,
           e.late_minutes, e.overtime_minutes, e.worked_minutes, e.missed_check_out, e.auto_closed, e.source,
           e.recorded_by, e.corrected_by
    FROM {S}.time_entries e
    JOIN {S}.shifts s ON s.id = e.shift_id
    JOIN user_service.agencies a ON a.id = e.agency_id
"""

SHIFT_SELECT = f"""
    SELECT s.id, s.agency_id, s.user_id, s.starts_at, s.ends_at,
           (s.starts_at AT TIME ZONE a.timezone)::date AS local_date,
           s.status, s.missed_at, e.id AS entry_id, s.created_by, s.created_at
    FROM {S}.shifts s
    JOIN user_service.agencies a ON a.id = s.agency_id
    LEFT JOIN {S}.time_entries e ON e.shift_id = s.id
"""


def lock_user(uow: UnitOfWork, user_id: uuid.UUID) -> None:
    """Serializes every time-tracking write of one user (shift overlaps, check-in/out, Firestore replays)."""
    uow.execute("SELECT pg_advisory_xact_lock(hashtext('timetracking:user:' || :u))", {"u": str(user_id)})


def member(uow: UnitOfWork, agency_id: uuid.UUID, user_id: uuid.UUID):
    """The user, if they belong to the agency (with the agency's time zone and their manager's Firebase uid)."""
    return uow.execute(
        """
        SELECT u.id, u.role, u.active, u.manager_id, u.firebase_uid, m.firebase_uid AS manager_uid, a.timezone
        FROM user_service.users u JOIN user_service.agencies a ON a.id = u.agency_id
        LEFT JOIN user_service.users m ON m.id = u.manager_id
        WHERE u.id = :u AND u.agency_id = :a
        """,
        {"u": user_id, "a": agency_id},
    ).one_or_none()


# --- settings -------------------------------------------------------------------------------------------------


def settings_on(uow: UnitOfWork, agency_id: uuid.UUID, day: date):
    return uow.execute(f"SELECT * FROM {S}.settings_on(:a, :d)", {"a": agency_id, "d": day}).one()


def settings_history(uow: UnitOfWork, agency_id: uuid.UUID) -> list[Any]:
    return uow.execute(
        f"""
        SELECT effective_from, grace_minutes, late_event_threshold_minutes, max_shift_hours, fee_per_late_minute,
               fee_per_missed_shift
        FROM {S}.settings WHERE agency_id = :a ORDER BY effective_from DESC
        """,
        {"a": agency_id},
    ).all()


def lock_settings(uow: UnitOfWork, agency_id: uuid.UUID) -> None:
    """Serializes saves of one agency's settings versions (the closed-period check reads the next version)."""
    uow.execute("SELECT pg_advisory_xact_lock(hashtext('timetracking:settings:' || :a))", {"a": str(agency_id)})


def next_settings_from(uow: UnitOfWork, agency_id: uuid.UUID, after: date) -> date | None:
    """The effective_from of the first version after `after`: where a version saved at `after` stops applying."""
    return uow.execute(f"SELECT min(effective_from) FROM {S}.settings WHERE agency_id = :a AND effective_from > :d",
                       {"a": agency_id, "d": after}).scalar_one()


def upsert_settings(uow: UnitOfWork, *, agency_id: uuid.UUID, effective_from: date, values: dict[str, Any],
                    updated_by: uuid.UUID):
    return uow.execute(
        f"""
        INSERT INTO {S}.settings (agency_id, effective_from, grace_minutes, late_event_threshold_minutes,
                                  max_shift_hours, fee_per_late_minute, fee_per_missed_shift, updated_by)
        VALUES (:a, :eff, :grace_minutes, :late_event_threshold_minutes, :max_shift_hours, :fee_per_late_minute,
                :fee_per_missed_shift, :by)
        ON CONFLICT (agency_id, effective_from) DO UPDATE
           SET grace_minutes = EXCLUDED.grace_minutes,
               late_event_threshold_minutes = EXCLUDED.late_event_threshold_minutes,
               max_shift_hours = EXCLUDED.max_shift_hours,
               fee_per_late_minute = EXCLUDED.fee_per_late_minute,
               fee_per_missed_shift = EXCLUDED.fee_per_missed_shift,
               updated_by = EXCLUDED.updated_by, updated_at = now()
        RETURNING effective_from, grace_minutes, late_event_threshold_minutes, max_shift_hours,
                  fee_per_late_minute, fee_per_missed_shift
        """,
        {**values, "a": agency_id, "eff": effective_from, "by": updated_by},
    ).one()


# --- shifts ---------------------------------------------------------------------------------------------------


def overlapping_shift(uow: UnitOfWork, user_id: uuid.UUID, starts_at: datetime, ends_at: datetime):
    """A shift of the user sharing time with [starts_at, ends_at) (back-to-back shifts do not overlap)."""
    return uow.execute(
        f"SELECT id, starts_at, ends_at FROM {S}.shifts WHERE user_id = :u AND starts_at < :e AND ends_at > :s "
        "ORDER BY starts_at LIMIT 1",
        {"u": user_id, "s": starts_at, "e": ends_at},
    ).one_or_none()


def insert_shift(uow: UnitOfWork, *, agency_id: uuid.UUID, user_id: uuid.UUID, starts_at: datetime,
                 ends_at: datetime, created_by: uuid.UUID) -> uuid.UUID:
    return uow.execute(
        f"INSERT INTO {S}.shifts (agency_id, user_id, starts_at, ends_at, created_by) "
        "VALUES (:a, :u, :s, :e, :by) RETURNING id",
        {"a": agency_id, "u": user_id, "s": starts_at, "e": ends_at, "by": created_by},
    ).scalar_one()


def shift(uow: UnitOfWork, shift_id: uuid.UUID):
    return uow.execute(f"{SHIFT_SELECT} WHERE s.id = :id", {"id": shift_id}).one()


def local_bounds(uow: UnitOfWork, tz: str, date_from: date | None, date_to: date | None):
    """The instants where local date_from begins and the day after date_to begins (either may be None)."""
    return uow.execute(
        "SELECT (CAST(:f AS date)::timestamp AT TIME ZONE :tz) AS lo, "
        "((CAST(:t AS date) + 1)::timestamp AT TIME ZONE :tz) AS hi",
        {"f": date_from, "t": date_to, "tz": tz},
    ).one()


def _page_filters(column: str, alias: str, *, user_id, lo, hi, after) -> tuple[str, dict[str, Any]]:
    sql, params = "", {}
    if user_id is not None:
        sql += f" AND {alias}.user_id = :f_user"
        params["f_user"] = user_id
    if lo is not None:
        sql += f" AND {column} >= :f_lo"
        params["f_lo"] = lo
    if hi is not None:
        sql += f" AND {column} < :f_hi"
        params["f_hi"] = hi
    if after is not None:
        sql += f" AND ({column}, {alias}.id) < (:c_at, :c_id)"
        params.update(c_at=after[0], c_id=after[1])
    return sql, params


def shift_page(uow: UnitOfWork, *, agency_id: uuid.UUID, scope: tuple[str, dict[str, Any]], user_id, lo, hi,
               after, limit: int) -> list[Any]:
    extra, params = _page_filters("s.starts_at", "s", user_id=user_id, lo=lo, hi=hi, after=after)
    predicate, scope_params = scope
    return uow.execute(
        f"{SHIFT_SELECT} WHERE s.agency_id = :a AND {predicate}{extra} ORDER BY s.starts_at DESC, s.id DESC LIMIT :n",
        {**params, **scope_params, "a": agency_id, "n": limit},
    ).all()


def check_in_candidates(uow: UnitOfWork, *, agency_id: uuid.UUID, user_id: uuid.UUID, at: datetime,
                        window: timedelta) -> list[Any]:
    """The user's shifts covering `at` or starting within the window, earliest first, locked: the sweep and a
    concurrent correction wait for this transaction instead of marking the shift missed under it."""
    return uow.execute(
        f"""
        SELECT s.id, s.starts_at, s.ends_at, s.status, (s.starts_at AT TIME ZONE a.timezone)::date AS local_date
        FROM {S}.shifts s JOIN user_service.agencies a ON a.id = s.agency_id
        WHERE s.user_id = :u AND s.agency_id = :a AND s.ends_at > :at
          AND s.starts_at <= :latest_start
        ORDER BY s.starts_at
        FOR UPDATE OF s
        """,
        {"u": user_id, "a": agency_id, "at": at, "latest_start": at + window},
    ).all()


def mark_attended(uow: UnitOfWork, shift_id: uuid.UUID) -> None:
    uow.execute(f"UPDATE {S}.shifts SET status = 'attended', missed_at = NULL WHERE id = :id", {"id": shift_id})


# --- entries --------------------------------------------------------------------------------------------------


def open_entry(uow: UnitOfWork, user_id: uuid.UUID):
    return uow.execute(f"{ENTRY_SELECT} WHERE e.user_id = :u AND e.checked_out_at IS NULL FOR UPDATE OF e",
                       {"u": user_id}).one_or_none()


def entry(uow: UnitOfWork, agency_id: uuid.UUID, entry_id: uuid.UUID, *, lock: bool = False):
    return uow.execute(f"{ENTRY_SELECT} WHERE e.id = :id AND e.agency_id = :a" + (" FOR UPDATE OF e" if lock else ""),
                       {"id": entry_id, "a": agency_id}).one_or_none()


def insert_entry(uow: UnitOfWork, *, agency_id: uuid.UUID, user_id: uuid.UUID, shift_id: uuid.UUID,
                 checked_in_at: datetime, late_minutes: int, source: str, recorded_by: uuid.UUID) -> uuid.UUID:
    return uow.execute(
        f"""
        INSERT INTO {S}.time_entries (agency_id, user_id, shift_id, checked_in_at, late_minutes, source, recorded_by)
        VALUES (:a, :u, :s, :at, :late, :src, :by) RETURNING id
        """,
        {"a": agency_id, "u": user_id, "s": shift_id, "at": checked_in_at, "late": late_minutes, "src": source,
         "by": recorded_by},
    ).scalar_one()


def update_entry(uow: UnitOfWork, entry_id: uuid.UUID, *, checked_in_at: datetime, checked_out_at: datetime | None,
                 late: int, overtime: int | None, worked: int | None, missed_check_out: bool, auto_closed: bool,
                 corrected_by: uuid.UUID | None) -> None:
    uow.execute(
        f"""
        UPDATE {S}.time_entries
           SET checked_in_at = :in_at, checked_out_at = :out_at, late_minutes = :late, overtime_minutes = :ot,
               worked_minutes = :worked, missed_check_out = :mco, auto_closed = :auto,
               corrected_by = coalesce(:by, corrected_by), updated_at = now()
         WHERE id = :id
        """,
        {"id": entry_id, "in_at": checked_in_at, "out_at": checked_out_at, "late": late, "ot": overtime,
         "worked": worked, "mco": missed_check_out, "auto": auto_closed, "by": corrected_by},
    )


def entry_page(uow: UnitOfWork, *, agency_id: uuid.UUID, scope: tuple[str, dict[str, Any]], user_id, lo, hi,
               after, limit: int) -> list[Any]:
    extra, params = _page_filters("e.checked_in_at", "e", user_id=user_id, lo=lo, hi=hi, after=after)
    predicate, scope_params = scope
    return uow.execute(
        f"{ENTRY_SELECT} WHERE e.agency_id = :a AND {predicate}{extra} "
        "ORDER BY e.checked_in_at DESC, e.id DESC LIMIT :n",
        {**params, **scope_params, "a": agency_id, "n": limit},
    ).all()


# --- summary --------------------------------------------------------------------------------------------------


def summary(uow: UnitOfWork, *, agency_id: uuid.UUID, user_id: uuid.UUID, lo: datetime, hi: datetime):
    """One user's figures for the shifts starting in [lo, hi) (open entries add no worked time yet)."""
    return uow.execute(
        f"""
        SELECT coalesce(sum(e.worked_minutes), 0)::int AS worked_minutes,
               count(*) FILTER (WHERE e.late_minutes > 0)::int AS late_count,
               coalesce(sum(e.late_minutes), 0)::int AS late_minutes,
               coalesce(sum(e.overtime_minutes), 0)::int AS overtime_minutes,
               count(*) FILTER (WHERE s.status = 'missed')::int AS missed_shifts,
               count(*) FILTER (WHERE e.missed_check_out)::int AS missed_check_outs
        FROM {S}.shifts s LEFT JOIN {S}.time_entries e ON e.shift_id = s.id
        WHERE s.user_id = :u AND s.agency_id = :a AND s.starts_at >= :lo AND s.starts_at < :hi
        """,
        {"u": user_id, "a": agency_id, "lo": lo, "hi": hi},
    ).one()


# --- Firestore time events ------------------------------------------------------------------------------------


def insert_time_event(uow: UnitOfWork, *, agency_id: uuid.UUID, event_id: str, user_id: uuid.UUID, kind: str,
                      at: datetime) -> bool:
    """False when this document was already received (a redelivery)."""
    return uow.execute(
        f"""
        INSERT INTO {S}.time_events (agency_id, event_id, user_id, kind, at) VALUES (:a, :e, :u, :k, :at)
        ON CONFLICT (agency_id, event_id) DO NOTHING RETURNING 1
        """,
        {"a": agency_id, "e": event_id, "u": user_id, "k": kind, "at": at},
    ).first() is not None


def pending_time_events(uow: UnitOfWork, agency_id: uuid.UUID, user_id: uuid.UUID) -> list[Any]:
    return uow.execute(
        f"SELECT event_id, kind, at FROM {S}.time_events WHERE user_id = :u AND agency_id = :a AND status = 'pending' "
        "ORDER BY at, event_id",
        {"u": user_id, "a": agency_id},
    ).all()


def pending_check_in_between(uow: UnitOfWork, *, user_id: uuid.UUID, after: datetime, before: datetime,
                             window: timedelta):
    """A pending check-in in (after, before) that could open one of the user's shifts once the open entry is
    closed: then a check-out at `before` belongs after it, not to the open entry."""
    return uow.execute(
        f"""
        SELECT ev.event_id, ev.at FROM {S}.time_events ev
        WHERE ev.user_id = :u AND ev.status = 'pending' AND ev.kind = 'check_in' AND ev.at > :after AND ev.at < :before
          AND EXISTS (SELECT 1 FROM {S}.shifts s
                      WHERE s.user_id = ev.user_id AND s.status <> 'attended' AND s.ends_at > ev.at
                        AND s.starts_at <= ev.at + :window)
        ORDER BY ev.at LIMIT 1
        """,
        {"u": user_id, "after": after, "before": before, "window": window},
    ).one_or_none()


def time_event_applied(uow: UnitOfWork, agency_id: uuid.UUID, event_id: str, entry_id: uuid.UUID) -> None:
    uow.execute(
        f"UPDATE {S}.time_events SET status = 'applied', entry_id = :en, applied_at = now(), last_error = NULL "
        "WHERE agency_id = :a AND event_id = :e",
        {"a": agency_id, "e": event_id, "en": entry_id},
    )


def time_event_waiting(uow: UnitOfWork, agency_id: uuid.UUID, event_id: str, error: str) -> None:
    uow.execute(f"UPDATE {S}.time_events SET last_error = :err WHERE agency_id = :a AND event_id = :e",
                {"a": agency_id, "e": event_id, "err": error[:1000]})


def time_event(uow: UnitOfWork, agency_id: uuid.UUID, event_id: str):
    return uow.execute(f"SELECT * FROM {S}.time_events WHERE agency_id = :a AND event_id = :e",
                       {"a": agency_id, "e": event_id}).one_or_none()


# --- sweep (set-based; each statement returns only the rows it changed) ---------------------------------------


def mark_missed_shifts(uow: UnitOfWork, *, cutoff: datetime, now: datetime) -> list[Any]:
    """Shifts of active users that ended by `cutoff` with no check-in. A concurrent check-in updates the same
    row first (status 'attended'), and PostgreSQL re-checks `status = 'planned'` after waiting for it."""
    return uow.execute(
        f"""
        UPDATE {S}.shifts s SET status = 'missed', missed_at = :now
          FROM user_service.users u, user_service.agencies a
         WHERE s.status = 'planned' AND s.ends_at <= :cut
           AND u.id = s.user_id AND u.active AND a.id = s.agency_id
        RETURNING s.id, s.agency_id, s.user_id, s.starts_at, s.ends_at,
                  (s.starts_at AT TIME ZONE a.timezone)::date AS local_date
        """,
        {"cut": cutoff, "now": now},
    ).all()


def flag_missed_check_outs(uow: UnitOfWork, *, cutoff: datetime, now: datetime) -> list[Any]:
    """Open entries still open 4 h after their shift's end (at `cutoff`), flagged once."""
    return uow.execute(
        f"""
        UPDATE {S}.time_entries e SET missed_check_out = true, updated_at = :now
          FROM {S}.shifts s, user_service.agencies a
         WHERE e.checked_out_at IS NULL AND NOT e.missed_check_out
           AND s.id = e.shift_id AND a.id = e.agency_id
           AND s.ends_at + make_interval(hours => :h) <= :cut
        RETURNING e.id, e.agency_id, e.user_id, e.shift_id, (s.starts_at AT TIME ZONE a.timezone)::date AS local_date
        """,
        {"cut": cutoff, "now": now, "h": 4},
    ).all()


def due_auto_close(uow: UnitOfWork, *, cutoff: datetime) -> list[Any]:
    """Open entries max_shift_hours past their check-in, locked (one a check-out holds is left for next time)."""
    return uow.execute(
        f"""
        SELECT e.id, e.agency_id, e.user_id, e.shift_id, e.checked_in_at, e.missed_check_out, s.ends_at,
               (s.starts_at AT TIME ZONE a.timezone)::date AS local_date, st.max_shift_hours
        FROM {S}.time_entries e
        JOIN {S}.shifts s ON s.id = e.shift_id
        JOIN user_service.agencies a ON a.id = e.agency_id
        CROSS JOIN LATERAL {S}.settings_on(e.agency_id, (s.starts_at AT TIME ZONE a.timezone)::date) st
        WHERE e.checked_out_at IS NULL AND e.checked_in_at + make_interval(hours => st.max_shift_hours) <= :cut
        FOR UPDATE OF e SKIP LOCKED
        """,
        {"cut": cutoff},
    ).all()


def apply_auto_close(uow: UnitOfWork, *, now: datetime, closes: list[tuple[uuid.UUID, datetime, int, int]]) -> None:
    """closes: (entry id, checked_out_at, worked, overtime minutes) for entries locked by due_auto_close."""
    if not closes:
        return
    ids, outs, worked, overtime = zip(*closes)
    uow.execute(
        f"""
        UPDATE {S}.time_entries e
           SET checked_out_at = v.out_at, worked_minutes = v.worked, overtime_minutes = v.overtime,
               auto_closed = true, missed_check_out = true, updated_at = :now
          FROM unnest(CAST(:ids AS uuid[]), CAST(:outs AS timestamptz[]), CAST(:worked AS int[]),
                      CAST(:overtime AS int[])) AS v(id, out_at, worked, overtime)
         WHERE e.id = v.id AND e.checked_out_at IS NULL
        """,
        {"ids": [str(i) for i in ids], "outs": list(outs), "worked": list(worked), "overtime": list(overtime),
         "now": now},
    )


def expire_time_events(uow: UnitOfWork, *, received_before: datetime) -> list[Any]:
    """Reject documents pending for too long; returns them (agency_id, event_id, last_error, and the user's
    manager's Firebase uid) for the write-back."""
    return uow.execute(
        f"""
        UPDATE {S}.time_events SET status = 'rejected', last_error = coalesce(last_error || '; ', '') ||
               'expired: could not be applied within 24 hours'
         WHERE status = 'pending' AND received_at < :before
        RETURNING agency_id, event_id, last_error,
                  (SELECT m.firebase_uid FROM user_service.users u JOIN user_service.users m ON m.id = u.manager_id
                    WHERE u.id = time_events.user_id) AS manager_uid
        """,
        {"before": received_before},
    ).all()
