"""Statistics service request and response models (its events and the scraper message: shared_lib/contracts.py)."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from shared_lib.contracts import MAX_SUBSCRIBERS
from shared_lib.isodate import IsoDate, IsoDateTime
from shared_lib.money import Money

Granularity = Literal["daily", "weekly", "monthly"]
# JSON integers only: lax int would also take "3", 3.0 and true.
StrictInt = Annotated[int, Strict()]


class StrictQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RangeQuery(StrictQuery):
    """Inclusive local dates; both default to the current month to date in the agency's time zone."""

    date_from: IsoDate | None = Field(None, description="inclusive; default: the first day of the current month")
    date_to: IsoDate | None = Field(None, description="inclusive; default: today (the agency's local date)")


class TopEarnersQuery(RangeQuery):
    limit: int = Field(5, ge=1, le=50)


class TrendQuery(RangeQuery):
    granularity: Granularity = Field("daily", description="weekly buckets are ISO weeks (Monday to Sunday)")


class AfvTrendQuery(TrendQuery):
    model_id: uuid.UUID | None = Field(None, description="one model's AFV; default: every model sold for in scope")


class Summary(BaseModel):
    date_from: date
    date_to: date
    gross_income: Money
    platform_fees: Money
    net_income: Money
    expenses: Money | None = Field(description="the agency's expenses; null for Managers and Chatters, whose "
                                               "figures cover their chatting sales only")
    sales_count: int = Field(description="sales: message and tip sales, and for the whole agency imported platform sales too; refunds are not sales")
    refunds_count: int = Field(description="refunds and chargebacks dated in the range")
    refunds_amount: Money = Field(description="Σ of their refunded amounts (positive); gross, fees and net "
                                              "already include them (negative) on their date")


class TopEarner(BaseModel):
    user_id: uuid.UUID
    display_name: str | None
    net_sales: Money
    sales_count: int


class TopEarners(BaseModel):
    date_from: date
    date_to: date
    items: list[TopEarner]


class ModelAfv(BaseModel):
    model_id: uuid.UUID
    name: str
    net: Money
    subscriber_count: int | None = Field(description="latest snapshot on or before date_to; null when none")
    afv: Money | None


class ChatterAfv(BaseModel):
    user_id: uuid.UUID
    display_name: str | None
    net: Money
    subscriber_count: int = Field(description="Σ subscribers of the distinct models sold for (no snapshot adds 0)")
    afv: Money | None


class DashboardAfv(BaseModel):
    """AFV from the aggregates alone (the dashboard document's `afv`)."""

    model_config = ConfigDict(extra="forbid")

    models: list[ModelAfv]
    chatters: list[ChatterAfv]


class FanFigures(BaseModel):
    """The platform tools' "average earnings per paying fan" (issue #16, docs/stats.md "Fans")."""

    paying_fans: int = Field(description="distinct platform fan ids whose net in the range is > 0 (imported "
                                         "sales and matched self-reported sales; a sale without a fan id is no fan's)")
    paying_fans_net: Money = Field(description="Σ of the paying fans' net")
    earnings_per_paying_fan: Money | None = Field(description="paying_fans_net / paying_fans, half-up to cents; "
                                                              "null without paying fans")


class ModelFanAfv(ModelAfv, FanFigures):
    pass


class ChatterFanAfv(ChatterAfv, FanFigures):
    pass


class Afv(BaseModel):
    date_from: date
    date_to: date
    models: list[ModelFanAfv]
    chatters: list[ChatterFanAfv]


class TopFansQuery(RangeQuery):
    model_id: uuid.UUID
    limit: int = Field(10, ge=1, le=100)


class TopFan(BaseModel):
    fan_id: str
    fan_username: str | None = Field(description="the latest username the platform gave for the fan")
    net: Money = Field(description="the fan's net on the model in the range, refunds and chargebacks included")
    sales_count: int = Field(description="the fan's sales (refunds are not sales)")


class TopFans(BaseModel):
    model_id: uuid.UUID
    date_from: date
    date_to: date
    items: list[TopFan]


class TrendBucket(BaseModel):
    start: date
    end: date
    value: Money | None
    change_pct: int | None = Field(description="round((value − previous) / previous × 100); null when the "
                                               "previous bucket is missing or 0")


class Trend(BaseModel):
    granularity: Granularity
    date_from: date
    date_to: date
    buckets: list[TrendBucket]


class SubscriberCountCreate(BaseModel):
    """A manual subscriber count (the scraper's message has the same fields plus agency_id)."""

    model_config = ConfigDict(extra="forbid")

    model_id: uuid.UUID
    subscriber_count: StrictInt = Field(ge=0, le=MAX_SUBSCRIBERS)
    observed_at: IsoDateTime = Field(description="RFC 3339 with an offset; not in the future")


class SubscriberCount(BaseModel):
    id: int
    model_id: uuid.UUID
    subscriber_count: int
    observed_at: datetime
    observed_on: date = Field(description="observed_at's local date in the agency's time zone")
    source: Literal["scraper", "manual"]
    recorded_by: uuid.UUID | None
    received_at: datetime


class SubscriberCountsQuery(StrictQuery):
    model_id: uuid.UUID | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=1024)


class SubscriberCountsPage(BaseModel):
    items: list[SubscriberCount]
    next_cursor: str | None


class RebuildRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date_from: IsoDate | None = Field(None, description="inclusive; default: the earliest record")
    date_to: IsoDate | None = Field(None, description="inclusive; default: the latest record")


class RebuildResult(BaseModel):
    date_from: date | None
    date_to: date | None
    model_rows: int
    chatter_rows: int
    expense_rows: int
