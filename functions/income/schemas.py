"""Income service request and response models (its events: shared_lib/contracts.py)."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from shared_lib.contracts import MAX_IMPORT_ROWS, IncomeType, PlatformTransaction, RegisteredIncomeType
from shared_lib.income_types import CHATTING
from shared_lib.isodate import IsoDate
from shared_lib.money import Money, Rate
from shared_lib.recurrence import RecurrenceFields, StoredSchedule
from shared_lib.record_fields import Amount, DatedPageQuery, NotAncientDate, PageQuery, Strict


def _positive_rate(d: Decimal) -> Decimal:
    if d <= 0:
        raise PydanticCustomError("rate_not_positive", "must be greater than 0.00")
    return d


SplitPercent = Annotated[Rate, AfterValidator(_positive_rate)]


def _present(info: ValidationInfo, *names: str) -> bool:
    # info.data lacks a field that failed its own validation: don't pile a second error on top of its first.
    return all(n in info.data for n in names)


def check_split_fixed(v: Decimal | None, info: ValidationInfo, amount_field: str) -> Decimal | None:
    """Other income is shared with one user by split_percent or split_fixed_amount (≤ the amount), never both."""
    if v is None:
        return v
    if info.data.get("split_percent") is not None:
        raise PydanticCustomError("invalid", "give split_percent or split_fixed_amount, not both")
    amount = info.data.get(amount_field)
    if amount is not None and v > amount:
        raise PydanticCustomError("invalid", f"must not exceed {amount_field}")
    return v


def check_split_user(v: uuid.UUID | None, info: ValidationInfo) -> uuid.UUID | None:
    if not _present(info, "split_percent", "split_fixed_amount"):
        return v
    has_split = info.data["split_percent"] is not None or info.data["split_fixed_amount"] is not None
    if has_split and v is None:
        raise PydanticCustomError("invalid", "required with split_percent or split_fixed_amount")
    if v is not None and not has_split:
        raise PydanticCustomError("invalid", "give split_percent or split_fixed_amount for this user")
    return v


class IncomeRegister(Strict):
    """A sale or other income; PUT /api/income/records/{id}/ takes the same body."""

    type: RegisteredIncomeType
    gross_amount: Amount
    sale_date: NotAncientDate = Field(description="local date in the agency's time zone; not in the future")
    model_id: uuid.UUID | None = Field(None, validate_default=True, description="required for chatting sales")
    chatter_id: uuid.UUID | None = Field(
        None, validate_default=True,
        description="chatting sales: the chatter credited (a Chatter may only name themselves; default: themselves)")
    customer_username: str | None = Field(None, max_length=100, validate_default=True)
    notes: str | None = Field(None, max_length=2000)
    source: str | None = Field(None, min_length=1, max_length=200, description="other income: where it came from")
    split_percent: SplitPercent | None = Field(None, validate_default=True)
    split_fixed_amount: Amount | None = Field(None, validate_default=True)
    assigned_to_user_id: uuid.UUID | None = Field(None, validate_default=True)

    @field_validator("split_fixed_amount")
    @classmethod
    def _one_split(cls, v, info: ValidationInfo):
        return check_split_fixed(v, info, "gross_amount")

    @field_validator("assigned_to_user_id")
    @classmethod
    def _split_needs_user(cls, v, info: ValidationInfo):
        return check_split_user(v, info)

    @field_validator("model_id")
    @classmethod
    def _chatting_needs_model(cls, v, info: ValidationInfo):
        if info.data.get("type") in CHATTING and v is None:
            raise PydanticCustomError("invalid", "required for a chatting sale")
        return v

    @field_validator("chatter_id")
    @classmethod
    def _other_income_has_no_chatter(cls, v, info: ValidationInfo):
        if info.data.get("type") == "other_income" and v is not None:
            raise PydanticCustomError("invalid", "other income has no chatter")
        return v

    @field_validator("customer_username")
    @classmethod
    def _customer_only_for_sales(cls, v, info: ValidationInfo):
        if info.data.get("type") == "other_income" and v is not None:
            raise PydanticCustomError("invalid", "only for chatting sales")
        return v

    @field_validator("split_percent", "split_fixed_amount")
    @classmethod
    def _split_only_other_income(cls, v, info: ValidationInfo):
        if v is not None and info.data.get("type") in CHATTING:
            raise PydanticCustomError("invalid", "only other income is split")
        return v

    @property
    def chatting(self) -> bool:
        return self.type in CHATTING


class IncomeRecord(BaseModel):
    id: uuid.UUID
    type: IncomeType
    gross_amount: Money
    fee_percent: Rate
    fee_amount: Money
    net_amount: Money
    sale_date: date
    model_id: uuid.UUID | None
    chatter_id: uuid.UUID | None
    manager_id: uuid.UUID | None = Field(description="the chatter's manager when the sale was registered")
    registered_by_user_id: uuid.UUID | None = Field(description="null: imported from the scraper")
    customer_username: str | None
    notes: str | None
    source: str | None
    assigned_to_user_id: uuid.UUID | None
    split_percent: Rate | None
    split_fixed_amount: Money | None
    schedule_id: uuid.UUID | None = Field(description="the recurring schedule that generated it")
    refund_of: uuid.UUID | None = Field(description="a refund or chargeback: the sale it gives back")
    origin: Literal["self", "import"] = Field(description="registered (or generated) here, or a platform import")
    verified: bool = Field(description="the platform reported this sale (imported, or a self-reported one matched)")
    created_at: datetime
    updated_at: datetime


class IncomeRefund(Strict):
    """A refund or chargeback of a chatting sale, in full or in part (the record's notes keep the reason)."""

    kind: Literal["refund", "chargeback"]
    amount: Amount = Field(description="> 0; with the sale's other refunds at most its gross_amount")
    refund_date: NotAncientDate = Field(description="local date; not before the sale's, not in the future, "
                                                    "in an open period (the sale's may be closed)")
    reason: str | None = Field(None, min_length=1, max_length=500)


class IncomeReassign(Strict):
    """Credit a sale (and its refunds) to another chatter, or to nobody (imported sales only), with a reason."""

    chatter_id: uuid.UUID | None = Field(description="an active chatter assigned to the sale's model; null: "
                                                     "unattributed (imported sales only)")
    reason: str = Field(min_length=1, max_length=500, description="why (trimmed; kept in the audit trail)")


class _RecordFilters(Strict):
    chatter_id: uuid.UUID | None = None
    model_id: uuid.UUID | None = None
    type: IncomeType | None = None
    unattributed: bool | None = Field(None, description="true: only sales credited to no chatter (imported sales "
                                                        "nobody was on shift for), for an Owner or a Manager to assign")


# pydantic orders fields from the last base to the first: the filters come before the dates and the page.
class IncomeRecordsQuery(DatedPageQuery, _RecordFilters):
    pass


class IncomeRecordsPage(BaseModel):
    items: list[IncomeRecord]
    next_cursor: str | None


class IncomeScheduleCreate(RecurrenceFields):
    """Recurring other income: each occurrence becomes one other_income record."""

    source: str = Field(min_length=1, max_length=200)
    amount: Amount
    model_id: uuid.UUID | None = None
    notes: str | None = Field(None, max_length=2000)
    split_percent: SplitPercent | None = Field(None, validate_default=True)
    split_fixed_amount: Amount | None = Field(None, validate_default=True)
    assigned_to_user_id: uuid.UUID | None = Field(None, validate_default=True)

    @field_validator("split_fixed_amount")
    @classmethod
    def _one_split(cls, v, info: ValidationInfo):
        return check_split_fixed(v, info, "amount")

    @field_validator("assigned_to_user_id")
    @classmethod
    def _split_needs_user(cls, v, info: ValidationInfo):
        return check_split_user(v, info)


class IncomeSchedulePatch(Strict):
    """End (or pause) a schedule: no occurrence after end_date is generated; past ones are never deleted."""

    end_date: IsoDate | None = Field(description="inclusive; null = no end (the next run catches up)")


class IncomeSchedule(StoredSchedule):
    model_id: uuid.UUID | None
    assigned_to_user_id: uuid.UUID | None
    split_percent: Rate | None
    split_fixed_amount: Money | None
    notes: str | None
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime


IncomeSchedulesQuery = PageQuery


class IncomeSchedulesPage(BaseModel):
    items: list[IncomeSchedule]
    next_cursor: str | None


# --- platform imports (issue #16) ---------------------------------------------------------------------------------

class PlatformImport(Strict):
    """A model's platform transactions (a file's rows); each transaction id at most once per request."""

    model_id: uuid.UUID
    transactions: list[PlatformTransaction] = Field(min_length=1, max_length=MAX_IMPORT_ROWS)

    @field_validator("transactions")
    @classmethod
    def _ids_once(cls, v: list[PlatformTransaction]):
        if len({t.transaction_id for t in v}) != len(v):
            raise PydanticCustomError("invalid", "a transaction_id appears more than once")
        return v


class PlatformImportQuery(Strict):
    dry_run: bool = Field(False, description="true: answer the counts and write nothing")
    model_id: uuid.UUID | None = Field(None, description="with a text/csv body (required there): the model whose "
                                                         "transactions the file holds; a JSON body names it itself")


# 50,000 rows in one request (docs/income.md "Platform imports"): a typical JSON row with every field is ~380 bytes
# (18 MiB for 50,000), a CSV row ~200 (10 MiB); Cloud Functions gen2 refuses any request over 32 MiB before it
# reaches the code, so 24 MiB keeps headroom on both sides.
IMPORT_MAX_BODY_BYTES = 24 * 1024 * 1024


MAX_LISTED = 100


class FeeMismatch(BaseModel):
    transaction_id: str
    platform_fee_amount: Money
    fee_amount: Money = Field(description="the agency's fee, which the record keeps")


class PlatformImportResult(BaseModel):
    """What the import did (or, dry run, would do): counts, then the first conflicts and fee mismatches."""

    dry_run: bool
    new: int = Field(description="new income records")
    matched: int = Field(description="self-reported sales the platform confirmed (now verified)")
    duplicate: int = Field(description="known already, nothing to change (a re-import)")
    conflict: int = Field(description="a known id with another amount, type or time: not applied")
    status_changed: int = Field(description="a known transaction's status applied (pending → cleared / reversed)")
    reversed: int = Field(description="chargebacks created")
    unattributed: int = Field(description="new records credited to no chatter")
    fee_mismatch: int
    closed: int = Field(description="rows dated in a closed period (or reversals seen while today's is closed): "
                                    "not applied")
    conflicts: list[str] = Field(description=f"the first {MAX_LISTED} conflicting transaction ids")
    fee_mismatches: list[FeeMismatch] = Field(description=f"the first {MAX_LISTED}")
