"""Request fields shared by every service: amounts up to 1,000,000.00, dates from 2000, page queries."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from .isodate import EARLIEST, IsoDate
from .money import NonNegativeMoney, PositiveMoney

# The rules give this ceiling for one income record; expenses, recurring amounts, a fixed salary and the
# time-tracking fees share it, because a larger single amount is a typo far more often than a fact. It is also
# what keeps every sum the calculation forms inside its NUMERIC(14,2) column (docs/DESIGN.md "Input bounds"): a
# fixed salary of 999,999,999,999.99 was accepted and then overflowed the period's totals.
MAX_AMOUNT = Decimal("1000000.00")


def _at_most_limit(d: Decimal) -> Decimal:
    if d > MAX_AMOUNT:
        raise PydanticCustomError("money_over_limit", "must be at most 1000000.00")
    return d


def _not_ancient(v: date) -> date:
    if v < EARLIEST:
        raise PydanticCustomError("invalid", "must not be before 2000-01-01")
    return v


def not_before(v: date | None, info: ValidationInfo, earlier: str) -> date | None:
    """The later date of a pair (date_to, end_date) may not be before the `earlier` one when both are given."""
    start = info.data.get(earlier)
    if v is not None and start is not None and v < start:
        raise PydanticCustomError("invalid", f"must not be before {earlier}")
    return v


Amount = Annotated[PositiveMoney, AfterValidator(_at_most_limit)]
NonNegativeAmount = Annotated[NonNegativeMoney, AfterValidator(_at_most_limit)]
NotAncientDate = Annotated[IsoDate, AfterValidator(_not_ancient)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PageQuery(Strict):
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=1024)


class DatedPageQuery(Strict):
    """A list by the records' own date: date_from and date_to inclusive, then the page."""

    date_from: IsoDate | None = Field(None, description="inclusive")
    date_to: IsoDate | None = Field(None, validate_default=True, description="inclusive")
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=1024)

    @field_validator("date_to")
    @classmethod
    def _range(cls, v, info: ValidationInfo):
        return not_before(v, info, "date_from")
