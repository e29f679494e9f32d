"""Time tracking request and response models and its Firestore document (its events: shared_lib/contracts.py)."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared_lib.isodate import IsoDate, IsoDateTime  # ISO text only, bounded: plain date would take 1699920000
from shared_lib.money import Money
from shared_lib.record_fields import PageQuery as Page
from shared_lib.record_fields import NonNegativeAmount, Strict


class RangeQuery(Page):
    user_id: uuid.UUID | None = None
    date_from: IsoDate | None = Field(None, description="inclusive local date (agency time zone)")
    date_to: IsoDate | None = Field(None, description="inclusive local date (agency time zone)")


# --- shifts ---------------------------------------------------------------------------------------------------


class ShiftCreate(Strict):
    user_id: uuid.UUID
    starts_at: IsoDateTime
    ends_at: IsoDateTime = Field(description="after starts_at, at most 24 h later")


class Shift(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    local_date: date = Field(description="the local date of starts_at; the shift counts in this date's period")
    status: Literal["planned", "attended", "missed"]
    missed_at: datetime | None
    entry_id: uuid.UUID | None
    created_by: uuid.UUID | None
    created_at: datetime


class ShiftPage(BaseModel):
    items: list[Shift]
    next_cursor: str | None


# --- check-in / check-out -------------------------------------------------------------------------------------


class ClockCommand(Strict):
    user_id: uuid.UUID | None = Field(None, description="Owner/Manager: whose time to record; default yourself")
    at: IsoDateTime | None = Field(None, description="Owner/Manager corrections only; default the server time")


class EntryCorrection(Strict):
    checked_in_at: IsoDateTime | None = None
    checked_out_at: IsoDateTime | None = None


class Entry(BaseModel):
    id: uuid.UUID
    shift_id: uuid.UUID
    user_id: uuid.UUID
    local_date: date
    shift_starts_at: datetime
    shift_ends_at: datetime
    checked_in_at: datetime
    checked_out_at: datetime | None
    late_minutes: int
    overtime_minutes: int | None
    worked_minutes: int | None
    missed_check_out: bool
    auto_closed: bool
    source: Literal["http", "firestore"]
    recorded_by: uuid.UUID | None = Field(description="who recorded the check-in (the user, or an Owner/Manager)")
    corrected_by: uuid.UUID | None = Field(description="the Owner/Manager who last recorded the check-out or "
                                                       "corrected a time; null when only the user did")


class EntryPage(BaseModel):
    items: list[Entry]
    next_cursor: str | None


# --- summary --------------------------------------------------------------------------------------------------


class SummaryQuery(Strict):
    date_from: IsoDate | None = Field(None, description="inclusive local date; default the first of this month")
    date_to: IsoDate | None = Field(None, description="inclusive local date; default the last of this month")


class Summary(BaseModel):
    user_id: uuid.UUID
    date_from: date
    date_to: date
    worked_minutes: int
    late_count: int
    late_minutes: int
    overtime_minutes: int
    missed_shifts: int
    missed_check_outs: int


# --- settings -------------------------------------------------------------------------------------------------


class SettingsPut(Strict):
    grace_minutes: int = Field(ge=0, le=120)
    late_event_threshold_minutes: int = Field(ge=0, le=1440)
    max_shift_hours: int = Field(ge=1, le=48)
    fee_per_late_minute: NonNegativeAmount
    fee_per_missed_shift: NonNegativeAmount
    effective_from: IsoDate | None = Field(None, description="local date; default today")


class SettingsVersion(BaseModel):
    effective_from: date | None = Field(description="null: the defaults, before any version")
    grace_minutes: int
    late_event_threshold_minutes: int
    max_shift_hours: int
    fee_per_late_minute: Money
    fee_per_missed_shift: Money


class Settings(BaseModel):
    current: SettingsVersion
    history: list[SettingsVersion]


# --- Firestore documents (the employee.time.event payload is shared_lib/contracts.py EmployeeTimeEvent) ----------


class TimeEventDocument(BaseModel):
    """agencies/{agencyId}/time_events/{eventId} as the chatter app writes it (other fields are ignored)."""

    model_config = ConfigDict(extra="ignore")

    uid: str = Field(min_length=1, max_length=128)  # the writer's Firebase uid (firestore.rules: == request.auth.uid)
    user_id: uuid.UUID
    kind: Literal["check_in", "check_out"]
    at: IsoDateTime
