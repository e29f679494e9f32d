"""Users service request/response models (its events: shared_lib/contracts.py)."""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from shared_lib.isodate import IsoDate
from shared_lib.money import NonNegativeMoney, PositiveMoney, Rate
from shared_lib.record_fields import Amount, NonNegativeAmount, Strict

from .currencies import CURRENCIES

RoleName = Literal["owner", "manager", "chatter"]
CompensationType = Literal["commission", "fixed", "fixed_plus_commission", "hourly", "hourly_plus_commission"]
HOURLY_TYPES = frozenset({"hourly", "hourly_plus_commission"})
MAX_BONUS_BANDS = 20

# Effective dates outside this window are typing mistakes, not plans.
FIRST_EFFECTIVE_DATE = date(2000, 1, 1)
LAST_EFFECTIVE_DATE = date(2099, 12, 31)
# Deliberately loose (Firebase Auth has the final word): one @, no spaces, a dot in the domain.
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class Query(BaseModel):
    """Query strings: known parameters validated; unknown ones answer 400 (the pipeline's rule for every endpoint)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _effective_date(v: date) -> date:
    if not FIRST_EFFECTIVE_DATE <= v <= LAST_EFFECTIVE_DATE:
        raise ValueError(f"must be between {FIRST_EFFECTIVE_DATE} and {LAST_EFFECTIVE_DATE}")
    return v


# IsoDate: "YYYY-MM-DD" text only (plain `date` would also take 1699920000 as a Unix time).
EffectiveDate = Annotated[IsoDate, AfterValidator(_effective_date)]


# --- agency and me ---------------------------------------------------------------------------------------------


def _known_currency(v: str) -> str:
    if v not in CURRENCIES:
        raise PydanticCustomError("currency", "not an ISO 4217 currency this service books (two-decimal, in use)")
    return v


def _known_zone(v: str) -> str:
    if v not in _zones():
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError("timezone", "unknown IANA time zone") from None
    return v


_ZONES: set[str] | None = None


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones() | {"UTC"}
    return _ZONES


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_known_currency),
                     WithJsonSchema({"type": "string", "pattern": "^[A-Z]{3}$", "example": "EUR",
                                     "description": "ISO 4217 code (two-decimal currencies in use)"})]
TimeZone = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_known_zone),
                     WithJsonSchema({"type": "string", "maxLength": 64, "example": "Europe/Berlin",
                                     "description": "IANA time zone"})]


class AgencyCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    currency: Currency = "USD"
    timezone: TimeZone = "UTC"


class AgencyPatch(Strict):
    """Only the fields sent change. Currency and time zone can change only while nothing is recorded (409)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    currency: Currency | None = None
    timezone: TimeZone | None = None

    @field_validator("name", "currency", "timezone")
    @classmethod
    def _not_null(cls, v):
        if v is None:
            raise ValueError("cannot be null")
        return v


class Agency(BaseModel):
    id: uuid.UUID
    name: str
    currency: str
    timezone: str
    owner_user_id: uuid.UUID


class AgencyBrief(BaseModel):
    """What the frontend needs on every screen: how to name the agency, format its money and its dates."""

    id: uuid.UUID
    name: str
    currency: str
    timezone: str


class AgencySettings(BaseModel):
    """The agency-wide settings in effect on `on` (read-only here: each is versioned at its own endpoint)."""

    on: date = Field(description="today in the agency's time zone")
    onlyfans_fee_percent: Rate = Field(description="PUT /api/platform-settings/ changes it")
    grace_minutes: int = Field(description="lateness grace; PUT /api/timetracking/settings/ changes it and the rest")
    late_event_threshold_minutes: int
    max_shift_hours: int
    fee_per_late_minute: NonNegativeMoney
    fee_per_missed_shift: NonNegativeMoney


class AgencyView(Agency):
    created_at: datetime
    settings: AgencySettings | None = Field(description="Owner only (the settings endpoints are); null otherwise")


class Me(BaseModel):
    user_id: uuid.UUID | None
    agency_id: uuid.UUID | None
    role: RoleName | None
    display_name: str | None
    email: str | None
    agency: AgencyBrief | None = Field(description="null until the user creates or joins an agency")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    version: str


# --- users -----------------------------------------------------------------------------------------------------


class UserCreate(Strict):
    email: str = Field(min_length=3, max_length=320)
    display_name: str = Field(min_length=1, max_length=200)
    role: RoleName
    manager_id: uuid.UUID | None = Field(None, description="puts the new user in this manager's team")
    firebase_uid: str | None = Field(None, min_length=1, max_length=128,
                                     description="link this existing Firebase Auth user instead of creating one")

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not EMAIL_RE.fullmatch(v):
            raise ValueError("not an email address")
        return v.lower()


class UserPatch(Strict):
    """Only the fields sent change; `manager_id: null` takes the user out of their team."""

    display_name: str | None = Field(None, min_length=1, max_length=200)
    role: RoleName | None = None
    manager_id: uuid.UUID | None = None
    active: bool | None = Field(None, description="true reactivates; false deactivates (like DELETE)")

    @field_validator("display_name", "role", "active")
    @classmethod
    def _not_null(cls, v):
        if v is None:
            raise ValueError("cannot be null")
        return v


class User(BaseModel):
    id: uuid.UUID
    firebase_uid: str | None
    email: str | None
    display_name: str | None
    photo_url: str | None
    role: RoleName
    manager_id: uuid.UUID | None
    active: bool
    created_at: datetime
    updated_at: datetime


class UsersQuery(Query):
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=1024)
    role: RoleName | None = None
    active: bool | None = None
    manager_id: uuid.UUID | None = Field(None, description="members of this manager's team")


class UserPage(BaseModel):
    items: list[User]
    next_cursor: str | None


# --- models ----------------------------------------------------------------------------------------------------


class ModelCreate(Strict):
    name: str = Field(min_length=1, max_length=200)


class ModelPatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    active: bool | None = None

    @field_validator("name", "active")
    @classmethod
    def _not_null(cls, v):
        if v is None:
            raise ValueError("cannot be null")
        return v


class Model(BaseModel):
    id: uuid.UUID
    name: str
    active: bool
    user_ids: list[uuid.UUID] = Field(description="assigned users the caller may see")
    created_at: datetime
    updated_at: datetime


class ModelsQuery(Query):
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=1024)
    active: bool | None = None
    user_id: uuid.UUID | None = Field(None, description="models assigned to this user")


class ModelPage(BaseModel):
    items: list[Model]
    next_cursor: str | None


class AssignmentsPut(Strict):
    user_ids: list[uuid.UUID] = Field(max_length=500, description="the whole new set (duplicates count once)")


class Assignments(BaseModel):
    model_id: uuid.UUID
    user_ids: list[uuid.UUID]


# --- effective-dated settings ----------------------------------------------------------------------------------


class SettingsOnQuery(Query):
    on: IsoDate | None = Field(None, description="the day `current` answers for (default: today, agency time)")


class BonusBandIn(Strict):
    from_net: Amount = Field(description="the employee's own net chatting sales in the period that reach the band "
                                         "(> 0.00, at most 1000000.00)")
    bonus: NonNegativeAmount = Field(description="paid as one `bonus` line when this is the highest band reached")


class BonusBand(BaseModel):
    from_net: PositiveMoney
    bonus: NonNegativeMoney


class FinancialSettingsPut(Strict):
    compensation_type: CompensationType
    commission_rate: Rate
    fixed_salary: NonNegativeAmount = Field(description="per month; at most 1000000.00")
    manager_tick_rate: Rate
    hourly_rate: NonNegativeAmount | None = Field(
        None, description="per worked hour; required for hourly and hourly_plus_commission, else absent or 0.00")
    bonus_bands: list[BonusBandIn] = Field(
        default_factory=list, max_length=MAX_BONUS_BANDS,
        description="from_net strictly increasing; the highest band reached pays its bonus (the bands of the "
                    "version in effect on the period's last day apply)")
    effective_from: EffectiveDate


class FinancialSettings(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    compensation_type: CompensationType
    commission_rate: Rate
    fixed_salary: NonNegativeMoney
    manager_tick_rate: Rate
    hourly_rate: NonNegativeMoney = Field(description="per worked hour; 0.00 unless compensation_type is hourly*")
    bonus_bands: list[BonusBand] = Field(description="[] when none")
    effective_from: date
    effective_to: date | None = Field(description="last day in effect (inclusive); null while no later version")
    created_at: datetime
    updated_at: datetime


class FinancialSettingsHistory(BaseModel):
    on: date
    current: FinancialSettings | None = Field(description="the version in effect on `on`; null: none (no pay)")
    history: list[FinancialSettings] = Field(description="every version, newest effective_from first")


class ModelSettingsPut(Strict):
    model_share_percent: Rate
    split_chatting_costs: bool
    effective_from: EffectiveDate


class ModelSettings(BaseModel):
    id: uuid.UUID | None = Field(description="null: the default, no version saved yet")
    model_id: uuid.UUID
    model_share_percent: Rate
    split_chatting_costs: bool
    effective_from: date | None
    effective_to: date | None
    created_at: datetime | None
    updated_at: datetime | None


class ModelSettingsHistory(BaseModel):
    on: date
    current: ModelSettings
    history: list[ModelSettings]


class PlatformSettingsPut(Strict):
    onlyfans_fee_percent: Rate
    effective_from: EffectiveDate


class PlatformSettings(BaseModel):
    id: uuid.UUID | None = Field(description="null: the default 20.00, no version saved yet")
    onlyfans_fee_percent: Rate
    effective_from: date | None
    effective_to: date | None
    created_at: datetime | None
    updated_at: datetime | None


class PlatformSettingsView(BaseModel):
    """GET: the version in effect on `on` at the top level (as PUT takes it), plus every version."""

    on: date
    id: uuid.UUID | None
    onlyfans_fee_percent: Rate
    effective_from: date | None
    effective_to: date | None
    history: list[PlatformSettings]


# --- sales settings (issue #16; docs/users.md "Sales settings") ------------------------------------------------

SaleType = Literal["message_sale", "tip_sale", "subscription_sale", "post_sale", "stream_sale", "referral_sale"]
AttributionRule = Literal["shift", "sender", "none"]
Verification = Literal["off", "required"]


class AttributionRules(Strict):
    """How an imported sale nobody self-reported is attributed, per transaction type (a type left out: shift)."""

    message: AttributionRule = "shift"
    tip: AttributionRule = "shift"
    subscription: AttributionRule = "shift"
    post: AttributionRule = "shift"
    stream: AttributionRule = "shift"
    referral: AttributionRule = "shift"


def _distinct_types(v: list[str]) -> list[str]:
    if len(set(v)) != len(v):
        raise PydanticCustomError("duplicate", "each type at most once")
    return sorted(v)


class SalesSettingsPut(Strict):
    commission_types: Annotated[list[SaleType], AfterValidator(_distinct_types)] = Field(
        description="the sale types that earn commission and manager tick (a refund follows its sale); [] : none")
    attribution_rules: AttributionRules = Field(default_factory=AttributionRules)
    verification: Verification = Field(
        description="required: only verified sales earn commission and tick; unverified self-reported sales count "
                    "nowhere until a platform import matches them")
    chatter_edit_hours: int = Field(ge=0, le=720, description="a chatter edits or deletes their own unverified "
                                                              "sale within this many hours of registering it")
    effective_from: EffectiveDate


class SalesSettings(BaseModel):
    id: uuid.UUID | None = Field(description="null: the defaults, no version saved yet")
    commission_types: list[SaleType]
    attribution_rules: AttributionRules
    verification: Verification
    chatter_edit_hours: int
    effective_from: date | None
    effective_to: date | None
    created_at: datetime | None
    updated_at: datetime | None


class SalesSettingsView(BaseModel):
    """GET: the version in effect on `on` at the top level (as PUT takes it), plus every version."""

    on: date
    id: uuid.UUID | None
    commission_types: list[SaleType]
    attribution_rules: AttributionRules
    verification: Verification
    chatter_edit_hours: int
    effective_from: date | None
    effective_to: date | None
    history: list[SalesSettings]


SenderName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class SenderIn(Strict):
    sender: SenderName = Field(description="the platform's sender name (trimmed; unique per model ignoring case)")
    chatter_id: uuid.UUID = Field(description="a chatter of the agency assigned to the model")


class SendersPut(Strict):
    senders: list[SenderIn] = Field(max_length=500, description="the whole new mapping")


class Sender(BaseModel):
    sender: str
    chatter_id: uuid.UUID


class Senders(BaseModel):
    model_id: uuid.UUID
    senders: list[Sender] = Field(description="by sender name, case-insensitively")
