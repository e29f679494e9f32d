"""Recurring schedules (income and expenses): the frequency fields, their rules, and the SQL listing due dates."""
from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationInfo, field_validator

from pydantic_core import PydanticCustomError

from .closing import period_closed_sql, period_lock_shared_sql
from .isodate import IsoDate
from .money import Money
from .record_fields import NotAncientDate, not_before

Frequency = Literal["daily", "weekly", "monthly"]
# JSON integers only: lax int would also take "3" and true.
StrictInt = Annotated[int, Strict()]


class RecurrenceFields(BaseModel):
    """daily; weekly on ISO day_of_week (Monday = 1); monthly on day_of_month (29–31 past the month's end → its
    last day); from start_date to end_date inclusive (none = open-ended)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    frequency: Frequency
    day_of_week: StrictInt | None = Field(None, ge=1, le=7, validate_default=True,
                                          description="weekly only: 1 = Monday … 7 = Sunday")
    day_of_month: StrictInt | None = Field(None, ge=1, le=31, validate_default=True,
                                           description="monthly only: 1–31; past the month's end means its last day")
    start_date: NotAncientDate
    end_date: IsoDate | None = Field(None, validate_default=True, description="inclusive; null = no end")

    @field_validator("day_of_week")
    @classmethod
    def _weekly_day(cls, v: int | None, info: ValidationInfo) -> int | None:
        return _only_for(v, info, "weekly", "1 = Monday … 7 = Sunday")

    @field_validator("day_of_month")
    @classmethod
    def _monthly_day(cls, v: int | None, info: ValidationInfo) -> int | None:
        return _only_for(v, info, "monthly", "1–31")

    @field_validator("end_date")
    @classmethod
    def _after_start(cls, v, info: ValidationInfo):
        return not_before(v, info, "start_date")


class StoredSchedule(BaseModel):
    """The fields every stored schedule starts with; a service's model adds its own after them."""

    id: uuid.UUID
    source: str
    amount: Money
    frequency: Frequency
    day_of_week: int | None
    day_of_month: int | None
    start_date: date
    end_date: date | None


def _only_for(value: int | None, info: ValidationInfo, frequency: str, hint: str) -> int | None:
    given = info.data.get("frequency")
    if given is None:  # frequency itself is invalid and already reported
        return value
    if given == frequency and value is None:
        raise PydanticCustomError("invalid", f"required for a {frequency} schedule ({hint})")
    if given != frequency and value is not None:
        raise PydanticCustomError("invalid", f"only for a {frequency} schedule")
    return value


def due_occurrences_sql(schedules: str, occurrences: str) -> str:
    """SELECT (schedule_id, agency_id, occurrence_date) of every occurrence due up to :as_of not generated yet.

    Starts the day after the schedule's latest generated occurrence (the ledger's primary key serves the max),
    so a run scans only the days since the last one however old the schedule; catch-up after missed runs is the
    same query. Whether a row exists is never decided here: the INSERT … ON CONFLICT on the ledger decides.
    """
    return f"""
        SELECT s.id AS schedule_id, s.agency_id, g.d::date AS occurrence_date
        FROM {schedules} s
        CROSS JOIN LATERAL (SELECT max(o.occurrence_date) AS last_date
                            FROM {occurrences} o WHERE o.schedule_id = s.id) done
        CROSS JOIN LATERAL generate_series(
            GREATEST(s.start_date, done.last_date + 1)::timestamp,
            LEAST(COALESCE(s.end_date, CAST(:as_of AS date)), CAST(:as_of AS date))::timestamp,
            interval '1 day') AS g(d)
        WHERE s.start_date <= CAST(:as_of AS date)
          AND CASE s.frequency
                WHEN 'daily' THEN true
                WHEN 'weekly' THEN extract(isodow FROM g.d) = s.day_of_week
                WHEN 'monthly' THEN extract(day FROM g.d) = LEAST(
                    s.day_of_month, extract(day FROM date_trunc('month', g.d) + interval '1 month - 1 day'))
              END
    """


def generate(uow, *, as_of, schedules: str, occurrences: str, record_column: str, insert_records: str) -> list:
    """Create every due occurrence exactly once, in two set-based statements; return insert_records' rows.

    1. lock_due_periods: the shared advisory lock (shared_lib.closing) of every (agency, period) with due
       dates, in a fixed order, so a concurrent close waits for this run, and the next statement's snapshot
       sees every close committed before it.
    2. claim_due: the due dates of open, locked periods go into the ledger (INSERT … ON CONFLICT DO NOTHING)
       and `insert_records` creates one record per claimed row. A concurrent twin waits on the ledger's
       primary key, then skips what the first committed: each occurrence once, events only for it.
    """
    table = {"schedules": schedules, "occurrences": occurrences}
    locked = lock_due_periods(uow, as_of=as_of, **table)
    if not locked:
        return []
    return claim_due(uow, as_of=as_of, locked=locked, record_column=record_column, insert_records=insert_records,
                     **table)


def lock_due_periods(uow, *, as_of, schedules: str, occurrences: str) -> list[str]:
    """Lock the periods of the due dates (shared, sorted) and return their 'agency_id:YYYY-MM' keys."""
    due = due_occurrences_sql(schedules, occurrences)
    return uow.execute(
        f"""
        SELECT k.key FROM (SELECT DISTINCT agency_id::text || ':' || to_char(occurrence_date, 'YYYY-MM') AS key,
                                  agency_id, to_char(occurrence_date, 'YYYY-MM') AS period
                           FROM ({due}) due ORDER BY 1) k
        CROSS JOIN LATERAL (SELECT {period_lock_shared_sql("k.agency_id", "k.period")}) l
        """,
        {"as_of": as_of},
    ).scalars().all()


def claim_due(uow, *, as_of, locked: list[str], schedules: str, occurrences: str, record_column: str,
              insert_records: str) -> list:
    """Claim the due dates and run `insert_records` on CTE `claimed(schedule_id, occurrence_date, record_id)`.

    Per schedule, dates from its first one in a period not in `locked` onwards wait for the next run (a schedule
    created or extended since the locks were taken): the ledger's last date is where the next run starts, so
    nothing may be claimed after a date left behind. Dates in a closed period are skipped for good (a closed
    period's figures never change). Rows are claimed in key order so concurrent runs queue, never deadlock.
    """
    due = due_occurrences_sql(schedules, occurrences)
    return uow.execute(
        f"""
        WITH due AS (
            SELECT d.*, min(d.occurrence_date) FILTER (WHERE d.period_key <> ALL(CAST(:locked AS text[])))
                            OVER (PARTITION BY d.schedule_id) AS first_unlocked
            FROM (SELECT x.*, x.agency_id::text || ':' || to_char(x.occurrence_date, 'YYYY-MM') AS period_key
                  FROM ({due}) x) d
        ), claimed AS (
            INSERT INTO {occurrences} (schedule_id, occurrence_date, {record_column})
            SELECT due.schedule_id, due.occurrence_date, gen_random_uuid()
            FROM due
            WHERE due.occurrence_date < coalesce(due.first_unlocked, 'infinity'::date)
              AND NOT {period_closed_sql("due.agency_id", "to_char(due.occurrence_date, 'YYYY-MM')")}
            ORDER BY due.schedule_id, due.occurrence_date
            ON CONFLICT DO NOTHING
            RETURNING schedule_id, occurrence_date, {record_column} AS record_id
        )
        {insert_records}
        """,
        {"as_of": as_of, "locked": list(locked)},
    ).all()
