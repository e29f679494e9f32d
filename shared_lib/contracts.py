"""Event contracts: one pydantic model per event type, the `data` its publisher builds and its consumers validate.

Every model states the payload exactly as it goes out (same keys, in the same order; dates ISO, money strings with
two places, ids strings) and which dates it touches: consumers recompute those days or periods from the truth and
need nothing else. Every payload names its agency (`agency_id`), and it must be the envelope's: an event without
its agency, or with another one, is a publisher bug and is dead-lettered (`payload_of`).
"""
from __future__ import annotations

import uuid
from datetime import date, timezone
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, ValidationInfo, field_validator
from pydantic import Strict as _Strict
from pydantic_core import PydanticCustomError

from .isodate import IsoDate, IsoDateTime
from .money import Money

if TYPE_CHECKING:
    from .events import Event

StrictInt = Annotated[int, _Strict()]  # JSON integers only: lax int would also take "3", 3.0 and true
PeriodText = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-11"])]
# An instant as the publisher has always written it: in UTC, isoformat ("…+00:00", not pydantic's "Z").
UtcDateTime = Annotated[IsoDateTime, PlainSerializer(lambda d: d.astimezone(timezone.utc).isoformat(),
                                                     return_type=str, when_used="json")]
MAX_SUBSCRIBERS = 2_000_000_000  # an integer column; no creator has two billion fans


class Contract(BaseModel):
    """The payload of one event type (`event_type`). Each subclass declares `agency_id: uuid.UUID` where its
    payload has always carried it (key order is part of the bytes)."""

    event_type: ClassVar[str]
    envelope: ClassVar[bool] = True  # False: a raw message from outside (no Event around it)

    def days(self) -> set[date]:
        """The days whose records this change touched (old and new); none for a change that is not dated."""
        return set()


class SettingsChange(Contract):
    """A settings version: it applies from its `effective_from` on, so every period from there may change."""

    if TYPE_CHECKING:  # each subclass declares it where its payload has it (a field here would come first)
        effective_from: date


# --- income.* (income service) ----------------------------------------------------------------------------------

# What POST /api/income/register/ creates; refunds and chargebacks are made from a sale (its refunds endpoint).
RegisteredIncomeType = Literal["message_sale", "tip_sale", "other_income"]
# Platform sales (shared_lib/income_types.PLATFORM_SALES) are created by platform imports only (issue #16).
IncomeType = Literal["message_sale", "tip_sale", "subscription_sale", "post_sale", "stream_sale", "referral_sale",
                     "other_income", "refund", "chargeback"]


MAX_IMPORT_ROWS = 50_000
PlatformText = Annotated[str, Field(min_length=1, max_length=200)]


class PlatformTransaction(BaseModel):
    """One transaction as the platform reports it: a row of POST /api/income/imports/ and of scraper.transactions."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    transaction_id: PlatformText
    occurred_at: UtcDateTime = Field(description="RFC 3339 with an offset; its local date is the sale's")
    type: Literal["message", "tip", "subscription", "post", "stream", "referral"]
    gross_amount: Money = Field(description="≠ 0; negative only for a row that `reverses` another")
    fee_amount: Money | None = Field(None, description="the platform's fee, as reported (compared, never applied)")
    net_amount: Money | None = None
    status: Literal["pending", "cleared", "reversed"]
    reverses: PlatformText | None = Field(None, description="the transaction a negative row gives back")
    fan_id: PlatformText | None = None
    fan_username: str | None = Field(None, min_length=1, max_length=100)
    sender: PlatformText | None = Field(None, description="the chatter's name on the platform")

    @field_validator("gross_amount")
    @classmethod
    def _not_zero(cls, v: Decimal) -> Decimal:
        if v == 0:
            raise PydanticCustomError("invalid", "must not be 0.00")
        return v

    @field_validator("reverses")
    @classmethod
    def _negative_names_its_original(cls, v, info: ValidationInfo):
        gross = info.data.get("gross_amount")
        if gross is not None and gross < 0 and v is None:
            raise PydanticCustomError("invalid", "required for a negative row: the transaction it reverses")
        if v is not None and v == info.data.get("transaction_id"):
            raise PydanticCustomError("invalid", "a transaction does not reverse itself")
        return v


class IncomeSnapshot(BaseModel):
    """What a consumer needs to find the slices a record touches: its date, model, chatter, manager, amounts."""

    type: IncomeType
    sale_date: IsoDate
    model_id: uuid.UUID | None
    chatter_id: uuid.UUID | None
    manager_id: uuid.UUID | None
    assigned_to_user_id: uuid.UUID | None
    gross_amount: Money
    fee_amount: Money
    net_amount: Money
    refund_of: uuid.UUID | None = Field(None, description="a refund or chargeback: the sale it gives back")


class IncomeChange(Contract):
    """income.registered (old = null), income.updated (both), income.deleted (new = null).

    The flat fields name what a consumer recomputes without reading the snapshots: the record's date, model and
    chatter now (for a deletion: as it was) and its date before the change (null when registered)."""

    income_id: uuid.UUID
    agency_id: uuid.UUID
    schedule_id: uuid.UUID | None
    reason: Literal["registered", "generated", "imported", "edited", "platform_fee_changed", "reassigned",
                    "deleted"]
    sale_date: IsoDate
    old_sale_date: IsoDate | None
    model_id: uuid.UUID | None
    chatter_id: uuid.UUID | None
    old: IncomeSnapshot | None
    new: IncomeSnapshot | None

    def days(self) -> set[date]:
        snapshots = {s.sale_date for s in (self.old, self.new) if s is not None}
        return {d for d in (self.sale_date, self.old_sale_date) if d is not None} | snapshots


class IncomeRegistered(IncomeChange):
    event_type = "income.registered"


class IncomeUpdated(IncomeChange):
    event_type = "income.updated"


class IncomeDeleted(IncomeChange):
    event_type = "income.deleted"


# The event types whose data is an IncomeChange: a sale, refund, edit or delete (a catch-up owner absorbs these,
# shared_lib/catchup.py Absorber).
INCOME_CHANGES = tuple(m.event_type for m in (IncomeRegistered, IncomeUpdated, IncomeDeleted))


# --- expense.* (expenses service) -------------------------------------------------------------------------------


class ExpenseSnapshot(BaseModel):
    expense_date: IsoDate
    amount: Money
    source: str


class ExpenseChange(Contract):
    """expense.recorded (old = null), expense.updated (both), expense.deleted (new = null); expense_date is the
    date now (for a deletion: as it was), old_expense_date the date before the change (null when recorded)."""

    expense_id: uuid.UUID
    agency_id: uuid.UUID
    schedule_id: uuid.UUID | None
    reason: Literal["recorded", "generated", "edited", "deleted"]
    expense_date: IsoDate
    old_expense_date: IsoDate | None
    old: ExpenseSnapshot | None
    new: ExpenseSnapshot | None

    def days(self) -> set[date]:
        snapshots = {s.expense_date for s in (self.old, self.new) if s is not None}
        return {d for d in (self.expense_date, self.old_expense_date) if d is not None} | snapshots


class ExpenseRecorded(ExpenseChange):
    event_type = "expense.recorded"


class ExpenseUpdated(ExpenseChange):
    event_type = "expense.updated"


class ExpenseDeleted(ExpenseChange):
    event_type = "expense.deleted"


# --- *.settings.updated (users service: effective-dated versions) -----------------------------------------------


class VersionChanged(SettingsChange):
    """What changed: consumers recompute [effective_from, effective_to] (effective_to null: onwards)."""

    version_id: uuid.UUID
    effective_from: IsoDate
    effective_to: IsoDate | None
    replaced: bool = Field(description="a version with this effective_from existed and was overwritten")


class UserSettingsUpdated(VersionChanged):
    """A financial settings version (hourly_rate and bonus_bands included) saved: like every settings change it
    names the version and its range, never the values, which consumers read from the truth (docs/users.md)."""

    event_type = "user.settings.updated"
    agency_id: uuid.UUID
    user_id: uuid.UUID


class ModelSettingsUpdated(VersionChanged):
    event_type = "model.settings.updated"
    agency_id: uuid.UUID
    model_id: uuid.UUID


class PlatformSettingsUpdated(VersionChanged):
    event_type = "platform.settings.updated"
    agency_id: uuid.UUID


class SalesSettingsUpdated(VersionChanged):
    """An agency's sales settings version (commission types, attribution rules, verification, chatter edit
    window; docs/users.md "Sales settings") saved: payouts and statistics recompute the open periods it reaches."""

    event_type = "sales.settings.updated"
    agency_id: uuid.UUID


# --- time tracking ----------------------------------------------------------------------------------------------


class TimetrackingSettingsUpdated(SettingsChange):
    """A time-tracking settings version from effective_from (its period named too)."""

    event_type = "timetracking.settings.updated"
    agency_id: uuid.UUID
    effective_from: IsoDate
    period: PeriodText


TimeEventKind = Literal["late", "missed_shift", "missed_check_out", "adjusted", "checked_out"]


class EmployeeTimeEvent(Contract):
    """`employee.time.event`: enough for the payouts service to recompute the user's period."""

    event_type = "employee.time.event"
    agency_id: uuid.UUID
    user_id: uuid.UUID
    kind: TimeEventKind
    shift_id: uuid.UUID
    entry_id: uuid.UUID | None
    minutes: StrictInt
    local_date: IsoDate
    period: PeriodText

    def days(self) -> set[date]:
        return {self.local_date}


# --- statistics -------------------------------------------------------------------------------------------------


class SubscriberCountUpdated(Contract):
    """model.subscriber_count.updated: an observation stored or corrected (a resend publishes nothing)."""

    event_type = "model.subscriber_count.updated"
    agency_id: uuid.UUID
    model_id: uuid.UUID
    subscriber_count: StrictInt = Field(ge=0, le=MAX_SUBSCRIBERS)
    observed_at: UtcDateTime
    observed_on: IsoDate
    source: Literal["scraper", "manual"]


class ScraperMessage(Contract):
    """What the external scraper publishes to `scraper.subscriber_counts` (raw JSON, not our envelope)."""

    event_type = "scraper.subscriber_counts"
    envelope = False
    model_config = ConfigDict(extra="ignore")  # an outside producer may add fields; ours are checked strictly

    agency_id: uuid.UUID
    model_id: uuid.UUID
    subscriber_count: StrictInt = Field(ge=0, le=MAX_SUBSCRIBERS)
    observed_at: IsoDateTime


# --- payouts ----------------------------------------------------------------------------------------------------


class CalculationCompleted(Contract):
    """financial_calculation.completed: a period recalculated; user_ids are those whose payout changed."""

    event_type = "financial_calculation.completed"
    agency_id: uuid.UUID
    period: PeriodText
    user_ids: list[uuid.UUID]


class PeriodClosed(Contract):
    """financial_period.closed: the period's figures are final."""

    event_type = "financial_period.closed"
    agency_id: uuid.UUID
    period: PeriodText


PaymentMethod = Literal["bank", "cash", "crypto", "paypal", "wise", "other"]


class PaymentRecorded(Contract):
    """financial_payment.recorded: a closed period's payout paid to a person (user_id) or a model (model_id);
    the amount is the closed total. Payments are never changed, so there is no other payment event."""

    event_type = "financial_payment.recorded"
    agency_id: uuid.UUID
    payment_id: uuid.UUID
    period: PeriodText
    user_id: uuid.UUID | None
    model_id: uuid.UUID | None
    amount: Money
    paid_at: IsoDate
    method: PaymentMethod


def payload(event_type: str, data: Contract | dict[str, Any]) -> dict[str, Any]:
    """The JSON `data` of an event (uow.emit): its contract model as JSON; a model of another type is a bug.
    A plain dict goes out as given (test-only types have no contract, and tests play broken publishers)."""
    if isinstance(data, BaseModel):
        if not isinstance(data, Contract) or data.event_type != event_type:
            raise TypeError(f"{type(data).__name__} is not the contract of {event_type!r}")
        return data.model_dump(mode="json")
    return data


def payload_of(event: "Event", model: type[BaseModel]) -> BaseModel:
    """Validate an arriving event's data; ValidationError or ValueError (both dead-lettered) when it is not the
    contract, or when it and its envelope do not name the same agency."""
    data = model.model_validate(event.data)
    if not names_agency(data, event.agency_id):
        raise ValueError(f"{event.type} {event.event_id}: the envelope's agency ({event.agency_id}) is not "
                         f"the payload's ({getattr(data, 'agency_id', None)})")
    return data


def names_agency(data: BaseModel, agency_id) -> bool:
    """Whether a payload may arrive in an envelope of `agency_id`: a contract must name that very agency."""
    return not isinstance(data, Contract) or (agency_id is not None and getattr(data, "agency_id", None) == agency_id)


def schema(event_type: str) -> dict[str, Any] | None:
    """The JSON schema of an event type's data (`python -m emulator functions` lists it), None without a contract."""
    model = CONTRACTS.get(event_type)
    return None if model is None else model.model_json_schema(mode="serialization")


# --- platform transactions (issue #16) -------------------------------------------------------------------------------


class ScraperTransactions(Contract):
    """What the external scraper publishes to `scraper.transactions` (raw JSON, not our envelope): a model's
    platform transactions, imported exactly as POST /api/income/imports/ does (docs/income.md "Platform imports")."""

    event_type = "scraper.transactions"
    envelope = False
    model_config = ConfigDict(extra="ignore")  # an outside producer may add fields to the message; rows are strict

    agency_id: uuid.UUID
    model_id: uuid.UUID
    transactions: list[PlatformTransaction] = Field(min_length=1, max_length=MAX_IMPORT_ROWS)


# A batch event stays far below Pub/Sub's 10 MB message: past this many coalesced slices an import names whole days.
MAX_IMPORT_SLICES = 5_000


class ImportedSlice(BaseModel):
    """What one import changed on one (sale date, type, chatter) of its model: records it created there (sales or
    chargebacks) and self-reported sales it matched (verified: under verification `required` they start to count)."""

    sale_date: IsoDate
    type: IncomeType
    chatter_id: uuid.UUID | None
    created: StrictInt = Field(ge=0)
    matched: StrictInt = Field(ge=0)


class IncomeImported(Contract):
    """income.imported: one per platform import that changed anything (docs/income.md "Platform imports"), instead
    of one income.registered per record. `slices` coalesces every record the import created, every chargeback and
    every self-reported sale it matched by (sale_date, type, chatter) of its model; past MAX_IMPORT_SLICES they are
    given as `whole_days` (recompute those days whole) and `chatter_ids` (every chatter of those records)."""

    event_type = "income.imported"
    agency_id: uuid.UUID
    model_id: uuid.UUID
    import_id: uuid.UUID = Field(description="this import (the event's subject; logs)")
    created: StrictInt = Field(ge=0, description="records created: sales and chargebacks")
    matched: StrictInt = Field(ge=0, description="self-reported sales matched (verified)")
    slices: list[ImportedSlice] = Field(max_length=MAX_IMPORT_SLICES)
    whole_days: list[IsoDate] = Field(default_factory=list, max_length=2 * MAX_IMPORT_ROWS)
    chatter_ids: list[uuid.UUID] = Field(default_factory=list, max_length=2 * MAX_IMPORT_ROWS)

    def days(self) -> set[date]:
        return {s.sale_date for s in self.slices} | set(self.whole_days)


# Every event type's one contract (payload, payload_of and schema above read it at call time).
CONTRACTS: dict[str, type[Contract]] = {m.event_type: m for m in (
    IncomeRegistered, IncomeUpdated, IncomeDeleted, ExpenseRecorded, ExpenseUpdated, ExpenseDeleted,
    UserSettingsUpdated, ModelSettingsUpdated, PlatformSettingsUpdated, SalesSettingsUpdated,
    TimetrackingSettingsUpdated,
    EmployeeTimeEvent, SubscriberCountUpdated, ScraperMessage, ScraperTransactions, IncomeImported,
    CalculationCompleted,
    PeriodClosed, PaymentRecorded)}
