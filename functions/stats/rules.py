"""Pure statistics rules: date ranges, trend buckets, change_pct, AFV, the slices a change touches."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any, Iterable

from shared_lib.contracts import ExpenseChange, IncomeChange
from shared_lib.errors import Invalid
from shared_lib.income_types import CHATTING_AND_REFUNDS
from shared_lib.money import divide_to_cents
from shared_lib.periods import Period, days_in_month, iso_week_start, month_start

# Ten years: a range past this is a mistake, and it bounds what one request can ask of the database.
MAX_RANGE_DAYS = 3660
# Two years of daily buckets; weekly and monthly reach further within MAX_RANGE_DAYS.
MAX_BUCKETS = 731


@dataclass(frozen=True, order=True)
class Bucket:
    start: date
    end: date


def resolve_range(date_from: date | None, date_to: date | None, today: date) -> tuple[date, date]:
    """The inclusive range asked for; by default the current month to date (both ends local dates).

    Only date_from: from it to today. Only date_to: from the first day of its month.
    """
    start = date_from if date_from is not None else month_start(date_to if date_to is not None else today)
    end = date_to if date_to is not None else today
    if end < start:
        if date_to is None:
            raise Invalid(f"must not be after date_to (default: today, {today})", field="date_from", part="query")
        raise Invalid("must not be before date_from", field="date_to", part="query")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise Invalid(f"the range may span at most {MAX_RANGE_DAYS} days", field="date_from", part="query")
    return start, end


def buckets(date_from: date, date_to: date, granularity: str) -> list[Bucket]:
    """Consecutive buckets covering [date_from, date_to]: days, ISO weeks (Monday–Sunday) or calendar months.

    The first and last bucket are clipped to the range, so every figure is inside what was asked for.
    """
    out: list[Bucket] = []
    start = date_from
    while start <= date_to:
        if granularity == "daily":
            natural_end = start
        elif granularity == "weekly":
            natural_end = iso_week_start(start) + timedelta(days=6)
        elif granularity == "monthly":
            natural_end = start.replace(day=days_in_month(start.year, start.month))
        else:
            raise ValueError(f"unknown granularity {granularity!r}")
        end = min(natural_end, date_to)
        out.append(Bucket(start, end))
        start = end + timedelta(days=1)
    return out


def checked_buckets(date_from: date, date_to: date, granularity: str) -> list[Bucket]:
    result = buckets(date_from, date_to, granularity)
    if len(result) > MAX_BUCKETS:
        raise Invalid(f"{len(result)} {granularity} buckets is more than {MAX_BUCKETS}: use a coarser granularity "
                      "or a shorter range", field="granularity", part="query")
    return result


def change_pct(value: Decimal | None, previous: Decimal | None) -> int | None:
    """round((value − previous) / previous × 100) to a whole percent, half away from zero (as money rounds);
    None when either is missing or the previous is 0."""
    if value is None or previous is None or previous == 0:
        return None
    with localcontext(prec=60):
        pct = (Decimal(value) - Decimal(previous)) / Decimal(previous) * 100
        return int(pct.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def afv(net: Decimal, subscribers: int | None) -> Decimal | None:
    """Average fan value: net / subscribers rounded half-up to cents; None when the count is missing or 0."""
    if not subscribers:
        return None
    return divide_to_cents(net, subscribers)


def with_change(values: Iterable[tuple[Bucket, Decimal | None]]) -> list[dict[str, Any]]:
    """Trend buckets with change_pct against the bucket before (the first has none)."""
    out, previous = [], None
    for bucket, value in values:
        out.append({"start": bucket.start, "end": bucket.end, "value": value,
                    "change_pct": change_pct(value, previous)})
        previous = value
    return out


@dataclass(frozen=True)
class Slice:
    """What one income or expense change touches: an income record's (day, model, type[, chatter]) — its model
    slice and, with a chatter, for a chatting sale or a refund, its chatter slice (the recompute keeps only the
    refunds of chatting sales; an unattributed record has none) — or a whole day (type None; expenses are always
    days)."""

    day: date
    model_id: uuid.UUID | None = None
    type: str | None = None
    chatter_id: uuid.UUID | None = None


def income_slices(change: IncomeChange) -> list[Slice]:
    """The slices of the record before and after the change; a day the change names without a snapshot of it
    (never sent today, but the contract allows it) is recomputed whole."""
    out = [Slice(s.sale_date, s.model_id, s.type, s.chatter_id if s.type in CHATTING_AND_REFUNDS else None)
           for s in (change.old, change.new) if s is not None]
    covered = {s.day for s in out}
    return out + [Slice(d) for d in sorted(change.days() - covered)]


def expense_slices(change: ExpenseChange) -> list[Slice]:
    return [Slice(d) for d in sorted(change.days())]


def periods_of(days: Iterable[date]) -> list[Period]:
    return sorted({Period.of(d) for d in days})


def periods_from(first: date, today: date, limit: int = 24) -> list[Period]:
    """The periods from first's up to today's (at most `limit`, the latest kept): what a new snapshot can change."""
    if first > today:
        return [Period.of(first)]
    periods, p, last = [], Period.of(first), Period.of(today)
    while p <= last:
        periods.append(p)
        p = p.next()
    return periods[-limit:]
